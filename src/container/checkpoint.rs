//! `checkpoint`: CRIU dumps a running container's processes into an image directory.
//! Afterwards the container is `stopped` (CRIU killed its processes), or still running
//! with `--leave-running` and after `--pre-dump`. A stopped, checkpointed container keeps
//! its state entry until `delete`, or until a `restore` under the same ID replaces it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::criu_common::{self as common, CriuFlags};
use super::state::Status;
use super::store::{self, ContainerDir};
use crate::cgroups::{CgroupRecord, Driver};
use crate::criu::rpc::{self, ReqType};
use crate::criu::swrk::{self, Session};

/// Left in the state directory of a container a checkpoint stopped.
pub const CHECKPOINTED: &str = "checkpointed";

pub struct CheckpointOptions {
    pub flags: CriuFlags,
    /// `--parent-path`: the previous (pre-)dump, relative to the image directory.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    pub pre_dump: bool,
    pub tcp_skip_in_flight: bool,
    pub link_remap: bool,
    /// `--status-fd`: written `\0` once the lazy-pages server is ready.
    pub status_fd: Option<OwnedFd>,
    /// `--page-server ADDRESS:PORT`.
    pub page_server: Option<(String, i32)>,
}

/// Parses `--page-server ADDRESS:PORT`.
pub fn parse_page_server(text: &str) -> Result<(String, i32)> {
    let parsed = text
        .rsplit_once(':')
        .filter(|(address, port)| !address.is_empty() && !port.is_empty());
    let Some((address, port)) = parsed else {
        bail!("--page-server {text:?}: expected ADDRESS:PORT");
    };
    let port: u16 = port
        .parse()
        .with_context(|| format!("--page-server {text:?}: invalid port"))?;
    let address = address.trim_start_matches('[').trim_end_matches(']');
    Ok((address.to_string(), i32::from(port)))
}

pub fn checkpoint(root: &Path, id: &str, options: &mut CheckpointOptions) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    if !matches!(status, Status::Running | Status::Paused) {
        bail!(
            "container {id:?} cannot be checkpointed: it is {}",
            status.as_str()
        );
    }
    let spec = store::load_config(root, id)?;
    let flags = &options.flags;
    let images = common::open_dir(&flags.image_path, "--image-path", true)?;
    if let Some(parent) = &options.parent_path {
        if parent.is_absolute() {
            bail!(
                "--parent-path {} must be relative to --image-path",
                parent.display()
            );
        }
        let full = flags.image_path.join(parent);
        if !full.is_dir() {
            bail!(
                "--parent-path {}: {} is not a directory",
                parent.display(),
                full.display()
            );
        }
    }
    let work = match &flags.work_path {
        Some(path) => Some(common::open_dir(path, "--work-path", true)?),
        None => None,
    };
    check_features(flags, options)?;
    if let Some(fd) = &options.status_fd {
        check_writable(fd)?;
    }

    let log = "dump.log";
    let mut opts = common::base_opts(flags, &images, work.as_ref(), log, &spec);
    opts.pid = Some(record.pid);
    opts.root = Some(record.rootfs.to_string_lossy().into_owned());
    opts.leave_running = options.leave_running;
    opts.tcp_skip_in_flight = options.tcp_skip_in_flight;
    opts.link_remap = options.link_remap;
    opts.page_server = options.page_server.clone();
    opts.freeze_cgroup = record.cgroup.as_ref().and_then(freezer_of);
    if let Some(parent) = &options.parent_path {
        opts.parent_img = Some(parent.to_string_lossy().into_owned());
        opts.track_mem = true;
    }
    common::dump_external_namespaces(&spec, &mut opts)?;
    let kind = if options.pre_dump {
        ReqType::PreDump
    } else {
        // What the restore needs to put back; a pre-dump only saves memory.
        let views = record.cgroup.as_ref().map(v1_views_of).unwrap_or_default();
        opts.ext_mnt = common::external_mounts(&spec, &record.bundle, &views, false);
        let stdio = common::stdio_of(record.pid)?;
        let path = flags.image_path.join(common::DESCRIPTORS);
        let json = serde_json::to_vec(&stdio).context("serialising the init's stdio")?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        ReqType::Dump
    };

    let session = Session::start(
        &flags.criu,
        if options.pre_dump { "pre-dump" } else { "dump" },
        common::log_path(flags, log),
    )?;
    let mut status_fd = options.status_fd.take();
    session.call(&rpc::request(kind, &opts), &mut |script, _pid, _fd| {
        if script == "status-ready" {
            if let Some(fd) = status_fd.take() {
                write_status_ready(fd);
            }
        }
        Ok(())
    })?;

    if !options.leave_running && !options.pre_dump {
        // CRIU killed the processes after dumping them.
        std::fs::write(dir.path.join(CHECKPOINTED), b"")
            .with_context(|| format!("marking {} as checkpointed", dir.path.display()))?;
        if !super::wait_until_dead(&record, Duration::from_secs(10)) {
            bail!(
                "container {id:?}: its init {} is still alive after the dump",
                record.pid
            );
        }
    }
    Ok(())
}

/// `--pre-dump` needs memory tracking (the kernel's soft-dirty bits) and `--lazy-pages`
/// userfaultfd: asked of CRIU first, so the refusal says which.
fn check_features(flags: &CriuFlags, options: &CheckpointOptions) -> Result<()> {
    if !options.pre_dump && !flags.lazy_pages {
        return Ok(());
    }
    let (mem_track, lazy) = swrk::features(&flags.criu, options.pre_dump, flags.lazy_pages)?;
    if options.pre_dump && !mem_track {
        bail!(
            "--pre-dump: CRIU cannot track memory changes on this machine (the kernel has no \
             soft-dirty page tracking: `criu check --feature mem_dirty_track` says so)"
        );
    }
    if flags.lazy_pages && !lazy {
        bail!("--lazy-pages: CRIU cannot serve pages lazily on this machine (no userfaultfd)");
    }
    Ok(())
}

/// `--status-fd` must be open for writing.
pub fn check_writable(fd: &OwnedFd) -> Result<()> {
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).context("--status-fd")?;
    let mode = nix::fcntl::OFlag::from_bits_truncate(flags) & nix::fcntl::OFlag::O_ACCMODE;
    if mode == nix::fcntl::OFlag::O_RDONLY {
        bail!("--status-fd {} is not open for writing", fd.as_raw_fd());
    }
    Ok(())
}

/// The lazy-pages server is up: one `\0`, then the descriptor is closed (as runc does).
fn write_status_ready(fd: OwnedFd) {
    if nix::unistd::write(&fd, b"\0").is_err() {
        crate::logging::debug("--status-fd: could not write the ready byte");
    }
}

/// The cgroup CRIU freezes the container through: the v1 freezer, or the cgroup2
/// directory on a pure v2 host.
fn freezer_of(record: &CgroupRecord) -> Option<String> {
    let dir = match record.driver {
        Driver::CgroupfsV1 => record
            .dirs
            .iter()
            .find(|d| d.starts_with("/sys/fs/cgroup/freezer"))?,
        Driver::CgroupfsV2 => record.dirs.first()?,
        Driver::Systemd => return None,
    };
    Some(dir.to_string_lossy().into_owned())
}

/// The v1 hierarchies' names as the container's cgroup mount shows them, from the
/// recorded directories (`/sys/fs/cgroup/<name>/<path>`).
pub fn v1_views_of(record: &CgroupRecord) -> Vec<(std::ffi::OsString, PathBuf)> {
    if record.driver != Driver::CgroupfsV1 {
        return Vec::new();
    }
    let base = Path::new("/sys/fs/cgroup");
    record
        .dirs
        .iter()
        .filter(|dir| !dir.starts_with("/sys/fs/cgroup/unified"))
        .filter_map(|dir| {
            let name = dir.strip_prefix(base).ok()?.components().next()?;
            Some((name.as_os_str().to_owned(), dir.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_server_addresses() {
        assert_eq!(
            parse_page_server("10.0.0.1:8000").unwrap(),
            ("10.0.0.1".to_string(), 8000)
        );
        assert_eq!(
            parse_page_server("[::1]:9").unwrap(),
            ("::1".to_string(), 9)
        );
        for bad in ["nohost", ":80", "host:", "host:x", "host:70000"] {
            assert!(parse_page_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn views_are_named_after_their_hierarchy() {
        let record = CgroupRecord {
            driver: Driver::CgroupfsV1,
            path: PathBuf::from("/a"),
            dirs: vec![
                PathBuf::from("/sys/fs/cgroup/memory/a"),
                PathBuf::from("/sys/fs/cgroup/systemd/a"),
                PathBuf::from("/sys/fs/cgroup/unified/a"),
            ],
            made: Vec::new(),
        };
        let views = v1_views_of(&record);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].0, "memory");
        assert_eq!(freezer_of(&record), None);
    }
}
