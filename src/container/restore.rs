//! `restore`: a new container from a checkpoint. Its state entry, cgroup and record are
//! made as `create` makes them (recorded first, undone on any failure); CRIU, started in
//! the new cgroup, then recreates the processes, namespaces and mounts from the images,
//! with the bundle's rootfs as root and the external mounts mapped to the bundle's
//! sources. The restored init is skiff's child (CRIU's `rst_sibling`), as a created
//! init is.
//!
//! Hooks run as runc runs them on restore: prestart and createRuntime when CRIU has made
//! the namespaces (its setup-namespaces notification); createContainer, startContainer
//! and poststart do not run (no program is exec'd); poststop runs at `delete`.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::checkpoint::CHECKPOINTED;
use super::criu_common::{self as common, CriuFlags};
use super::pid_file::write_pid_file;
use super::state::{self, Record, Status};
use super::store::{self, ContainerDir};
use crate::cgroups::{self, Cgroup, Entry};
use crate::criu::rpc::{self, ReqType};
use crate::criu::swrk::Session;
use crate::hooks;
use crate::oci_state::ContainerState;
use crate::spec;

pub struct RestoreOptions {
    pub flags: CriuFlags,
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub systemd_cgroup: bool,
}

pub struct Restored {
    pub pid: i32,
    pub cgroup: Cgroup,
}

/// Where the rootfs is bound for CRIU, inside the state directory: CRIU wants its root
/// to be a mount point whose parent is not overmounted.
const CRIU_ROOT: &str = "criu-root";

/// Undoes a half-restored container unless disarmed: the restored processes (by the
/// cgroup), the rootfs bind, the cgroup, the state directory, in that order (the bind
/// must be gone before the directory holding it is removed).
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
    criu_root: Option<PathBuf>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = crate::sys::send_signal(pid, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        let mut bind_gone = true;
        if let Some(path) = self.criu_root.take() {
            bind_gone = unbind_root(&path).is_ok();
        }
        if let Some(cgroup) = &self.cgroup {
            let _ = cgroup.remove();
        }
        if let Some(dir) = self.dir.take() {
            // Never remove a directory that may still hold the rootfs bind.
            if bind_gone {
                let _ = dir.remove();
            }
        }
    }
}

fn unbind_root(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e).with_context(|| format!("unmounting {}", path.display())),
    }
    std::fs::remove_dir(path).with_context(|| format!("removing {}", path.display()))
}

pub fn restore(options: &RestoreOptions) -> Result<Restored> {
    store::validate_id(&options.id)?;
    let flags = &options.flags;
    // The rootfs bind for CRIU lives in a mount namespace of this process alone (a slave
    // of the host's), so it can never outlive the restore on the host. First thing: the
    // directories CRIU is handed by descriptor must be this namespace's, or CRIU cannot
    // mount in them (its cgroup yard).
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("unsharing the mount namespace for the restore")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .context("making the restore's mount namespace a slave of the host's")?;

    // Everything that can be refused is, before anything is made.
    let bundle = spec::load(&options.bundle)?;
    let spec = &bundle.spec;
    let images = common::open_dir(&flags.image_path, "--image-path", false)?;
    let work = match &flags.work_path {
        Some(path) => Some(common::open_dir(path, "--work-path", true)?),
        None => None,
    };
    let log = "restore.log";
    let mut opts = common::base_opts(flags, &images, work.as_ref(), log, spec);
    common::restore_stdio(&flags.image_path, &mut opts)?;
    let _namespace_fds: Vec<OwnedFd> = common::restore_namespaces(spec, &mut opts)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && options.console_socket.is_none() {
        bail!("process.terminal is set: restore needs --console-socket to hand the terminal to");
    }
    replace_checkpointed(&options.root, &options.id)?;

    let mut record = Record::new_creation(&options.id, &bundle)?;
    let dir = ContainerDir::create(&options.root, &options.id, spec)?;
    let mut undo = Undo {
        dir: Some(dir),
        cgroup: None,
        pid: None,
        criu_root: None,
    };
    let dir = undo.dir.as_ref().context("state directory")?;

    let cgroup_path = cgroups::path_for(spec, &options.id, options.systemd_cgroup);
    let cgroup = Cgroup::plan(&cgroup_path, options.systemd_cgroup, &options.id)?;
    let cgroup =
        super::create::make_recorded_cgroup(cgroup, spec, dir, &mut record, &mut undo.cgroup)?;

    common::make_mountpoints(spec, &bundle.dir, &bundle.rootfs)?;
    let criu_root = dir.path.join(CRIU_ROOT);
    std::fs::create_dir(&criu_root).with_context(|| format!("creating {}", criu_root.display()))?;
    undo.criu_root = Some(criu_root.clone());
    mount(
        Some(&bundle.rootfs),
        &criu_root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding {} for criu", bundle.rootfs.display()))?;

    opts.root = Some(criu_root.to_string_lossy().into_owned());
    opts.rst_sibling = true;
    opts.evasive_devices = true;
    let views = cgroup.v1_views().unwrap_or_default();
    opts.ext_mnt = common::external_mounts(spec, &bundle.dir, &views, true);

    let session = Session::start(&flags.criu, "restore", common::log_path(flags, log))?;
    // CRIU restores the processes into its own cgroup (and the roots given here).
    cgroup
        .enter(session.pid(), spec, &Entry::default())
        .context("putting criu into the container's cgroup")?;
    opts.cg_root = cgroup_roots(session.pid())?;

    let mut restored_pid = None;
    let response = session.call(
        &rpc::request(ReqType::Restore, &opts),
        &mut |script, pid, fd| match script {
            "setup-namespaces" => run_create_hooks(spec, &record, pid),
            "post-restore" => {
                restored_pid = Some(pid);
                Ok(())
            }
            "orphan-pts-master" => send_console(options.console_socket.as_deref(), fd),
            _ => Ok(()),
        },
    );
    // Known as soon as CRIU said it, so that a failure after it kills it.
    if let Some(pid) = restored_pid {
        undo.pid = Some(pid);
    }
    let response = response?;
    let pid = response
        .restored_pid
        .or(restored_pid)
        .context("criu restored without naming the restored process")?;
    undo.pid = Some(pid);

    record.pid = pid;
    record.pid_start_time = state::start_time_of(pid)?;
    record.creator = None;
    let dir = undo.dir.as_ref().context("state directory")?;
    dir.save(&record)?;
    if let Some(pid_file) = &options.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if let Some(path) = undo.criu_root.take() {
        unbind_root(&path)?;
    }
    crate::logging::debug(&format!("restored container {} with init {pid}", record.id));
    undo.pid = None;
    undo.dir = None;
    let cgroup = undo.cgroup.take().context("cgroup")?;
    Ok(Restored { pid, cgroup })
}

/// A container a checkpoint stopped may be restored under its own ID, as with runc
/// (which removes it at the checkpoint): its stopped entry is deleted first. Any other
/// existing container keeps the ID taken.
fn replace_checkpointed(root: &Path, id: &str) -> Result<()> {
    let Ok(record) = store::load(root, id) else {
        return Ok(());
    };
    let checkpointed = root.join(id).join(CHECKPOINTED).exists();
    if checkpointed && super::status_of(root, &record) == Status::Stopped {
        super::delete::delete(root, id, false)
            .with_context(|| format!("removing the checkpointed container {id:?}"))?;
    }
    Ok(())
}

/// The cgroup CRIU runs in, per hierarchy, as restore roots: the restored tasks go there
/// rather than to the checkpointed container's paths.
fn cgroup_roots(pid: i32) -> Result<Vec<(Option<String>, String)>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(parse_cgroup_roots(&text))
}

fn parse_cgroup_roots(text: &str) -> Vec<(Option<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let controllers = (!controllers.is_empty()).then(|| controllers.to_string());
            Some((controllers, path.to_string()))
        })
        .collect()
}

/// prestart and createRuntime, with the restored init's PID, while CRIU waits.
fn run_create_hooks(spec: &oci_spec::runtime::Spec, record: &Record, pid: i32) -> Result<()> {
    if !hooks::has_any(spec.hooks().as_ref(), hooks::RUNTIME_CREATE) {
        return Ok(());
    }
    let state = ContainerState::new(
        &record.id,
        "creating",
        pid,
        &record.bundle,
        &record.annotations,
    );
    for kind in hooks::RUNTIME_CREATE {
        hooks::run(spec.hooks().as_ref(), *kind, &state)?;
    }
    Ok(())
}

/// The restored terminal's master, which CRIU hands over, goes to `--console-socket`.
fn send_console(socket: Option<&Path>, master: Option<OwnedFd>) -> Result<()> {
    let master = master.context("criu sent no terminal descriptor")?;
    let socket =
        socket.context("the restored container has a terminal: --console-socket is required")?;
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connecting to --console-socket {}", socket.display()))?;
    crate::sys::scm::send_fd(&stream, &master, b"/dev/ptmx")
        .with_context(|| format!("sending the terminal to {}", socket.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_roots_come_from_proc_cgroup() {
        let text = "12:pids:/skcriu-b\n1:name=systemd:/skcriu-b\n0::/skcriu-b\n";
        assert_eq!(
            parse_cgroup_roots(text),
            vec![
                (Some("pids".to_string()), "/skcriu-b".to_string()),
                (Some("name=systemd".to_string()), "/skcriu-b".to_string()),
                (None, "/skcriu-b".to_string()),
            ]
        );
    }
}
