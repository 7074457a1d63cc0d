//! CRIU's RPC messages (images/rpc.proto in CRIU's source): the request options skiff
//! sets, and the parts of a response it reads. Field numbers are rpc.proto's.

use anyhow::{Context, Result};

use super::proto::{fields, Writer};

/// `criu_req_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
    FeatureCheck = 9,
}

impl ReqType {
    fn from_wire(value: u64) -> Option<ReqType> {
        Some(match value {
            1 => ReqType::Dump,
            2 => ReqType::Restore,
            4 => ReqType::PreDump,
            6 => ReqType::Notify,
            9 => ReqType::FeatureCheck,
            _ => return None,
        })
    }
}

/// `criu_cg_mode`, as runc's `--manage-cgroups-mode` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgMode {
    Ignore = 0,
    Soft = 3,
    Full = 4,
    Strict = 5,
    Default = 6,
}

impl CgMode {
    pub fn parse(text: &str) -> Result<CgMode> {
        Ok(match text {
            "" => CgMode::Default,
            "soft" => CgMode::Soft,
            "full" => CgMode::Full,
            "strict" => CgMode::Strict,
            "ignore" => CgMode::Ignore,
            other => anyhow::bail!(
                "--manage-cgroups-mode {other:?} is not one of soft, full, strict, ignore"
            ),
        })
    }
}

/// `criu_network_lock_method`.
pub const NETWORK_LOCK_NFTABLES: u64 = 2;

/// `criu_opts`: the options skiff sets. `None`/empty fields are not sent (CRIU's
/// defaults apply).
#[derive(Default, Debug)]
pub struct Opts {
    pub images_dir_fd: i32,
    pub pid: Option<i32>,
    pub leave_running: bool,
    pub ext_unix_sk: bool,
    pub tcp_established: bool,
    pub evasive_devices: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub log_level: i32,
    pub log_file: String,
    /// `ps`: the page server's address and port.
    pub page_server: Option<(String, i32)>,
    pub notify_scripts: bool,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub auto_dedup: bool,
    pub work_dir_fd: Option<i32>,
    pub link_remap: bool,
    /// `ext_mnt`: (key, value) pairs, CRIU's `--ext-mount-map`.
    pub ext_mnt: Vec<(String, String)>,
    pub manage_cgroups: bool,
    /// `cg_root`: (controller, path); no controller means every controller.
    pub cg_root: Vec<(Option<String>, String)>,
    pub rst_sibling: bool,
    /// `inherit_fd`: (key, descriptor in CRIU's process).
    pub inherit_fd: Vec<(String, i32)>,
    pub manage_cgroups_mode: Option<CgMode>,
    pub external: Vec<String>,
    pub empty_ns: u32,
    /// `join_ns`: (namespace name, path of its file).
    pub join_ns: Vec<(String, String)>,
    pub freeze_cgroup: Option<String>,
    pub tcp_skip_in_flight: bool,
    pub lazy_pages: bool,
    pub status_fd: Option<i32>,
    pub orphan_pts_master: bool,
    pub config_file: Option<String>,
    pub network_lock: Option<u64>,
}

impl Opts {
    fn encode(&self) -> Writer {
        let mut w = Writer::default();
        w.int32(1, self.images_dir_fd);
        if let Some(pid) = self.pid {
            w.int32(2, pid);
        }
        let flags = [
            (3, self.leave_running),
            (4, self.ext_unix_sk),
            (5, self.tcp_established),
            (6, self.evasive_devices),
            (7, self.shell_job),
            (8, self.file_locks),
        ];
        for (field, value) in flags {
            w.bool(field, value);
        }
        w.int32(9, self.log_level);
        w.string(10, &self.log_file);
        if let Some((address, port)) = &self.page_server {
            let mut ps = Writer::default();
            ps.string(1, address).int32(2, *port);
            w.message(11, &ps);
        }
        w.bool(12, self.notify_scripts);
        if let Some(root) = &self.root {
            w.string(13, root);
        }
        if let Some(parent) = &self.parent_img {
            w.string(14, parent);
        }
        w.bool(15, self.track_mem);
        w.bool(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            w.int32(17, fd);
        }
        w.bool(18, self.link_remap);
        for (key, val) in &self.ext_mnt {
            let mut m = Writer::default();
            m.string(1, key).string(2, val);
            w.message(23, &m);
        }
        w.bool(24, self.manage_cgroups);
        for (ctrl, path) in &self.cg_root {
            let mut m = Writer::default();
            if let Some(ctrl) = ctrl {
                m.string(1, ctrl);
            }
            m.string(2, path);
            w.message(25, &m);
        }
        w.bool(26, self.rst_sibling);
        for (key, fd) in &self.inherit_fd {
            let mut m = Writer::default();
            m.string(1, key).int32(2, *fd);
            w.message(27, &m);
        }
        if let Some(mode) = self.manage_cgroups_mode {
            w.uint(34, mode as u64);
        }
        for external in &self.external {
            w.string(37, external);
        }
        w.uint(38, u64::from(self.empty_ns));
        for (ns, file) in &self.join_ns {
            let mut m = Writer::default();
            m.string(1, ns).string(2, file);
            w.message(39, &m);
        }
        if let Some(cgroup) = &self.freeze_cgroup {
            w.string(44, cgroup);
        }
        w.bool(46, self.tcp_skip_in_flight);
        w.bool(48, self.lazy_pages);
        if let Some(fd) = self.status_fd {
            w.int32(49, fd);
        }
        w.bool(50, self.orphan_pts_master);
        if let Some(file) = &self.config_file {
            w.string(51, file);
        }
        if let Some(method) = self.network_lock {
            w.uint(64, method);
        }
        w
    }
}

/// `criu_req` with options.
pub fn request(kind: ReqType, opts: &Opts) -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(1, kind as u64).message(2, &opts.encode());
    w.finish().to_vec()
}

/// The answer to a notification: done, go on.
pub fn notify_done() -> Vec<u8> {
    let mut w = Writer::default();
    w.uint(1, ReqType::Notify as u64).bool(3, true);
    w.finish().to_vec()
}

/// A feature check for memory tracking and/or lazy pages.
pub fn feature_check(mem_track: bool, lazy_pages: bool) -> Vec<u8> {
    let mut features = Writer::default();
    if mem_track {
        features.bool(1, true);
    }
    if lazy_pages {
        features.bool(2, true);
    }
    let mut w = Writer::default();
    w.uint(1, ReqType::FeatureCheck as u64)
        .message(5, &features);
    w.finish().to_vec()
}

/// `criu_resp`, the parts skiff reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub kind: Option<ReqType>,
    pub success: bool,
    /// `restore.pid`: the restored init.
    pub restored_pid: Option<i32>,
    /// `notify.script` and `notify.pid`.
    pub notify: Option<(String, i32)>,
    pub cr_errno: Option<i32>,
    pub cr_errmsg: Option<String>,
    /// `features.mem_track` and `features.lazy_pages`.
    pub mem_track: Option<bool>,
    pub lazy_pages: Option<bool>,
}

pub fn parse_response(bytes: &[u8]) -> Result<Response> {
    let mut response = Response::default();
    for (field, value) in fields(bytes).context("decoding CRIU's response")? {
        match field {
            1 => response.kind = value.as_u64().and_then(ReqType::from_wire),
            2 => response.success = value.as_bool().unwrap_or(false),
            4 => {
                for (f, v) in fields(value.as_bytes().unwrap_or_default())? {
                    if f == 1 {
                        response.restored_pid = v.as_i32();
                    }
                }
            }
            5 => {
                let (mut script, mut pid) = (String::new(), 0);
                for (f, v) in fields(value.as_bytes().unwrap_or_default())? {
                    match f {
                        1 => script = v.as_string().unwrap_or_default(),
                        2 => pid = v.as_i32().unwrap_or(0),
                        _ => {}
                    }
                }
                response.notify = Some((script, pid));
            }
            7 => response.cr_errno = value.as_i32(),
            8 => {
                for (f, v) in fields(value.as_bytes().unwrap_or_default())? {
                    match f {
                        1 => response.mem_track = v.as_bool(),
                        2 => response.lazy_pages = v.as_bool(),
                        _ => {}
                    }
                }
            }
            9 => response.cr_errmsg = value.as_string(),
            _ => {}
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_response_gives_the_pid() {
        let mut restore = Writer::default();
        restore.int32(1, 4321);
        let mut w = Writer::default();
        w.uint(1, 2).bool(2, true).message(4, &restore);
        let r = parse_response(w.finish()).unwrap();
        assert_eq!(r.kind, Some(ReqType::Restore));
        assert!(r.success);
        assert_eq!(r.restored_pid, Some(4321));
    }

    #[test]
    fn a_notification_and_a_failure_are_read() {
        let mut notify = Writer::default();
        notify.string(1, "post-restore").int32(2, 77);
        let mut w = Writer::default();
        w.uint(1, 6).bool(2, true).message(5, &notify);
        let r = parse_response(w.finish()).unwrap();
        assert_eq!(r.notify, Some(("post-restore".to_string(), 77)));
        let mut w = Writer::default();
        w.uint(1, 1)
            .bool(2, false)
            .int32(7, 2)
            .string(9, "Dumping FAILED.");
        let r = parse_response(w.finish()).unwrap();
        assert!(!r.success);
        assert_eq!(r.cr_errno, Some(2));
        assert_eq!(r.cr_errmsg.as_deref(), Some("Dumping FAILED."));
    }

    #[test]
    fn manage_cgroups_modes_are_runcs() {
        assert_eq!(CgMode::parse("").unwrap(), CgMode::Default);
        assert_eq!(CgMode::parse("soft").unwrap(), CgMode::Soft);
        let err = CgMode::parse("hard").unwrap_err().to_string();
        assert!(err.contains("--manage-cgroups-mode"), "{err}");
    }

    #[test]
    fn options_start_with_the_required_images_dir_fd() {
        let opts = Opts {
            images_dir_fd: 5,
            log_file: "dump.log".into(),
            ..Opts::default()
        };
        let bytes = request(ReqType::Dump, &opts);
        let top = fields(&bytes).unwrap();
        assert_eq!(top[0].1.as_u64(), Some(1));
        let inner = fields(top[1].1.as_bytes().unwrap()).unwrap();
        assert_eq!(inner[0], (1, super::super::proto::Value::Varint(5)));
    }
}
