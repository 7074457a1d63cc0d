//! What `checkpoint` and `restore` share: runc's CRIU flags, the container's external
//! mounts (bind mounts and the v1 cgroup views, which CRIU cannot recreate itself and
//! maps by their destination), namespaces given by path, the image directory and the
//! stdio record (`descriptors.json`, as runc writes it).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::criu::rpc::{CgMode, Opts, NETWORK_LOCK_NFTABLES};

/// The flags both commands take.
#[derive(Debug, Clone)]
pub struct CriuFlags {
    /// The criu binary (the global `--criu`).
    pub criu: PathBuf,
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub lazy_pages: bool,
    pub auto_dedup: bool,
    pub manage_cgroups_mode: CgMode,
    /// `--empty-ns`: CLONE_NEW* bits of namespaces restored empty.
    pub empty_ns: u32,
}

/// `--empty-ns` values: as in runc, only `network`; the network namespace is always
/// handled as empty anyway (skiff, like runc, does not manage network devices), so the
/// flag only confirms it.
pub fn empty_ns_mask(names: &[String]) -> Result<u32> {
    let mut mask = libc::CLONE_NEWNET as u32;
    for name in names {
        match name.as_str() {
            "network" => mask |= libc::CLONE_NEWNET as u32,
            other => bail!("--empty-ns {other:?}: only \"network\" is supported"),
        }
    }
    Ok(mask)
}

/// The file CRIU writes the record of the init's stdio in, next to the images.
pub const DESCRIPTORS: &str = "descriptors.json";

/// The options every request carries: logging, cgroups, the flags, the config file.
pub fn base_opts(
    flags: &CriuFlags,
    images: &OwnedFd,
    work: Option<&OwnedFd>,
    log: &str,
    spec: &Spec,
) -> Opts {
    use std::os::fd::AsRawFd;
    Opts {
        images_dir_fd: images.as_raw_fd(),
        work_dir_fd: work.map(|w| w.as_raw_fd()),
        log_level: 4,
        log_file: log.to_string(),
        manage_cgroups: true,
        manage_cgroups_mode: Some(flags.manage_cgroups_mode),
        notify_scripts: true,
        shell_job: flags.shell_job,
        ext_unix_sk: flags.ext_unix_sk,
        tcp_established: flags.tcp_established,
        file_locks: flags.file_locks,
        empty_ns: flags.empty_ns,
        orphan_pts_master: true,
        auto_dedup: flags.auto_dedup,
        lazy_pages: flags.lazy_pages,
        // CRIU's default, iptables, needs the iptables tools; nftables is a library CRIU
        // links (the vendored build has it), so locking works without extra packages.
        network_lock: Some(NETWORK_LOCK_NFTABLES),
        config_file: config_file(spec),
        ..Opts::default()
    }
}

/// runc's rule for a CRIU configuration file: the `org.criu.config` annotation names one
/// (empty: none), else /etc/criu/runc.conf, so a host set up for runc behaves the same.
fn config_file(spec: &Spec) -> Option<String> {
    match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get("org.criu.config"))
    {
        Some(file) if file.is_empty() => None,
        Some(file) => Some(file.clone()),
        None => Some("/etc/criu/runc.conf".to_string()),
    }
}

/// Opens (making it if `make`) a directory CRIU is handed by descriptor.
pub fn open_dir(path: &Path, flag: &str, make: bool) -> Result<OwnedFd> {
    if make {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .with_context(|| format!("{flag} {}: creating it", path.display()))?;
    }
    let file = std::fs::File::open(path).with_context(|| format!("{flag} {}", path.display()))?;
    if !file.metadata().is_ok_and(|m| m.is_dir()) {
        bail!("{flag} {} is not a directory", path.display());
    }
    Ok(file.into())
}

/// Where CRIU's log for `file` lands: the work directory if given, else the images'.
pub fn log_path(flags: &CriuFlags, file: &str) -> PathBuf {
    flags
        .work_path
        .as_deref()
        .unwrap_or(&flags.image_path)
        .join(file)
}

/// Whether a config mount is a bind mount (type `bind`, or a `bind`/`rbind` option).
fn is_bind(mount: &oci_spec::runtime::Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind"))
}

/// A mount destination as CRIU names it: absolute and normalised, inside the root.
fn key_of(destination: &Path) -> String {
    let relative = crate::rootfs::paths::relative(destination);
    Path::new("/").join(relative).to_string_lossy().into_owned()
}

/// The external mounts: (key, value). At dump the value is the key itself (CRIU records
/// the key); at restore it is what to bind there: the bind's source (relative sources
/// are the bundle's), or the new container's own cgroup directory for each v1 view.
pub fn external_mounts(
    spec: &Spec,
    bundle: &Path,
    cgroup_views: &[(std::ffi::OsString, PathBuf)],
    restoring: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        let key = key_of(mount.destination());
        if is_bind(mount) {
            let value = match (restoring, mount.source()) {
                (true, Some(source)) => bundle.join(source).to_string_lossy().into_owned(),
                _ => key.clone(),
            };
            out.push((key, value));
        } else if mount.typ().as_deref() == Some("cgroup") {
            for (name, dir) in cgroup_views {
                let view = Path::new(&key).join(name).to_string_lossy().into_owned();
                let value = if restoring {
                    dir.to_string_lossy().into_owned()
                } else {
                    view.clone()
                };
                out.push((view, value));
            }
        }
    }
    out
}

/// Makes the mount points of the bind mounts in the rootfs, as `create` would: CRIU
/// mounts the external ones there and fails where one is missing (a fresh copy of a
/// rootfs, say). Points below a tmpfs of the config are left to CRIU, which restores the
/// tmpfs with its contents.
pub fn make_mountpoints(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    let mounts = spec.mounts().as_deref().unwrap_or_default();
    let tmpfs: Vec<&Path> = mounts
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| m.destination().as_path())
        .collect();
    let root: OwnedFd = std::fs::File::open(rootfs)
        .with_context(|| format!("opening the rootfs {}", rootfs.display()))?
        .into();
    for mount in mounts.iter().filter(|m| is_bind(m)) {
        let destination = mount.destination();
        if tmpfs
            .iter()
            .any(|t| destination != *t && destination.starts_with(t))
        {
            continue;
        }
        let source = mount.source().as_deref().map(|s| bundle.join(s));
        let is_dir = source.as_deref().is_none_or(Path::is_dir);
        let made = if is_dir {
            crate::rootfs::paths::mkdir_all(&root, destination).map(drop)
        } else {
            crate::rootfs::paths::ensure_file(&root, destination).map(drop)
        };
        made.with_context(|| {
            format!(
                "making the mount point {} in the rootfs",
                destination.display()
            )
        })?;
    }
    Ok(())
}

/// CRIU's name of a namespace type.
fn criu_ns_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// The key an external namespace is known by in both the dump and the restore, as runc
/// names it (`extRootNetNS`, `extRootPidNS`), so images move between the two runtimes.
fn external_ns_key(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Pid => "extRootPidNS",
        _ => "extRootNetNS",
    }
}

fn namespaces_with_paths(spec: &Spec) -> Vec<(LinuxNamespaceType, PathBuf)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|ns| Some((ns.typ(), ns.path().clone()?)))
        .collect()
}

/// At dump: a network or PID namespace the container joined by path is external (CRIU
/// does not dump it; the restore is handed it again). `net[<inode>]:<key>`.
pub fn dump_external_namespaces(spec: &Spec, opts: &mut Opts) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for (kind, path) in namespaces_with_paths(spec) {
        if matches!(kind, LinuxNamespaceType::Network | LinuxNamespaceType::Pid) {
            let inode = std::fs::metadata(&path)
                .with_context(|| format!("linux.namespaces: {}", path.display()))?
                .ino();
            opts.external.push(format!(
                "{}[{inode}]:{}",
                criu_ns_name(kind),
                external_ns_key(kind)
            ));
        }
    }
    Ok(())
}

/// At restore: the namespaces given by path. Network and PID ones are handed to CRIU as
/// inherited descriptors under their external key; the others are joined (`join_ns`).
/// A cgroup namespace by path is refused: CRIU cannot join one. Returns the descriptors,
/// which must stay open until CRIU has started.
pub fn restore_namespaces(spec: &Spec, opts: &mut Opts) -> Result<Vec<OwnedFd>> {
    use std::os::fd::AsRawFd;
    let mut kept = Vec::new();
    for (kind, path) in namespaces_with_paths(spec) {
        match kind {
            LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {
                let file = std::fs::File::open(&path)
                    .with_context(|| format!("linux.namespaces: opening {}", path.display()))?;
                let fd = crate::criu::swrk::inheritable(&file)?;
                opts.inherit_fd
                    .push((external_ns_key(kind).to_string(), fd.as_raw_fd()));
                kept.push(fd);
            }
            LinuxNamespaceType::Cgroup => bail!(
                "linux.namespaces: a cgroup namespace given by path ({}) cannot be restored: CRIU cannot join one",
                path.display()
            ),
            _ => opts.join_ns.push((
                criu_ns_name(kind).to_string(),
                path.to_string_lossy().into_owned(),
            )),
        }
    }
    Ok(kept)
}

/// The init's stdio as /proc shows them (`pipe:[123]`, `/dev/null`, ...), as runc's
/// descriptors.json holds them.
pub fn stdio_of(pid: i32) -> Result<Vec<String>> {
    (0..3)
        .map(|fd| {
            let link = format!("/proc/{pid}/fd/{fd}");
            std::fs::read_link(&link)
                .map(|target| target.to_string_lossy().into_owned())
                .with_context(|| format!("reading {link}"))
        })
        .collect()
}

/// At restore: every stdio of the checkpointed init that was a pipe is given this
/// process' own descriptor of the same number (CRIU inherits skiff's stdio), as runc does.
pub fn restore_stdio(images: &Path, opts: &mut Opts) -> Result<()> {
    let path = images.join(DESCRIPTORS);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "--image-path {}: no {DESCRIPTORS}: not a checkpoint made by skiff or runc",
            images.display()
        )
    })?;
    let stdio: Vec<String> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    for (fd, target) in stdio.iter().enumerate() {
        if target.starts_with("pipe:") {
            opts.inherit_fd.push((target.clone(), fd as i32));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        let mut config = crate::spec::template(false);
        for (k, v) in json.as_object().unwrap() {
            config[k] = v.clone();
        }
        serde_json::from_value(config).unwrap()
    }

    #[test]
    fn bind_mounts_and_cgroup_views_are_external() {
        let spec = spec(serde_json::json!({"mounts": [
            {"destination": "/data/", "type": "bind", "source": "/host/data", "options": ["rbind"]},
            {"destination": "/rel", "type": "none", "source": "rel", "options": ["bind"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
            {"destination": "/proc", "type": "proc", "source": "proc"}
        ]}));
        let views = vec![("memory".into(), PathBuf::from("/sys/fs/cgroup/memory/new"))];
        let dump = external_mounts(&spec, Path::new("/b"), &views, false);
        assert_eq!(
            dump,
            vec![
                ("/data".to_string(), "/data".to_string()),
                ("/rel".to_string(), "/rel".to_string()),
                (
                    "/sys/fs/cgroup/memory".to_string(),
                    "/sys/fs/cgroup/memory".to_string()
                ),
            ]
        );
        let restore = external_mounts(&spec, Path::new("/b"), &views, true);
        assert_eq!(restore[0].1, "/host/data");
        assert_eq!(restore[1].1, "/b/rel");
        assert_eq!(restore[2].1, "/sys/fs/cgroup/memory/new");
    }

    #[test]
    fn only_the_network_namespace_can_be_empty() {
        let net = libc::CLONE_NEWNET as u32;
        assert_eq!(empty_ns_mask(&[]).unwrap(), net);
        assert_eq!(empty_ns_mask(&["network".into()]).unwrap(), net);
        let err = empty_ns_mask(&["pid".into()]).unwrap_err().to_string();
        assert!(err.contains("--empty-ns \"pid\""), "{err}");
    }

    #[test]
    fn the_config_file_follows_runcs_annotation() {
        let plain = spec(serde_json::json!({}));
        assert_eq!(config_file(&plain).as_deref(), Some("/etc/criu/runc.conf"));
        let none = spec(serde_json::json!({"annotations": {"org.criu.config": ""}}));
        assert_eq!(config_file(&none), None);
        let own = spec(serde_json::json!({"annotations": {"org.criu.config": "/x.conf"}}));
        assert_eq!(config_file(&own).as_deref(), Some("/x.conf"));
    }
}
