//! The container's init, from the moment it is cloned until it execs the container's
//! program. This file is the runtime's map: each step below runs in the order the kernel
//! needs it, and each is a call into the module that owns that step.
//!
//! The init is a clone of the `skiff create` process, not a re-exec of the binary: it
//! already holds the parsed configuration, so nothing is serialised or parsed twice.

use std::convert::Infallible;
use std::os::fd::{OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::LinuxNamespaceType;

use super::channel::{Channel, Message};
use super::tail::{self, ConsoleTarget, ProcessSetup};
use crate::hooks;
use crate::oci_state::ContainerState;
use crate::rootfs::{self, paths, RootfsPlan};
use crate::security::seccomp::Seccomp;
use crate::spec::Bundle;
use crate::sys;

/// How the init learns that it may exec.
pub enum StartGate {
    /// `create`: a byte from `skiff start` on the container's exec.fifo (held open
    /// read-write, so reading blocks until that byte arrives).
    Fifo(OwnedFd),
    /// `run`: a `Start` message from the parent, which is still there.
    Channel,
}

/// Everything the init needs beyond the bundle, prepared by the parent before the clone.
pub struct InitSetup<'a> {
    pub bundle: &'a Bundle,
    pub cgroup_path: &'a Path,
    /// The container's cgroup directory in each v1 hierarchy, for its /sys/fs/cgroup.
    pub cgroup_v1_views: Option<Vec<(std::ffi::OsString, PathBuf)>>,
    pub gate: StartGate,
    pub console: ConsoleTarget,
    /// Namespaces to join by path, already opened: the parent joins all but the user
    /// namespace around the clone, the init joins the user namespace.
    pub joined: Vec<(CloneFlags, OwnedFd)>,
    pub new_user_ns: bool,
    /// Whether skiff runs as an unprivileged user, which must write the ID mappings of
    /// the init's new user namespace itself. Told by the parent: the init's own euid says
    /// 0 as soon as the parent has written its uid_map, which may be before the init looks.
    pub unprivileged_parent: bool,
    pub new_cgroup_ns: bool,
    pub new_time_ns: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Idmapped copies of bind sources, made by the parent, by index in `mounts`.
    pub idmapped: std::collections::HashMap<usize, OwnedFd>,
    /// Where the parent sends the bind sources it opened (new user and mount namespaces).
    pub bind_sources: Option<OwnedFd>,
    /// The state-directory lock the parent holds, to be closed (not unlocked) here.
    pub lock_fd: RawFd,
    pub id: &'a str,
    pub seccomp: Option<&'a Seccomp>,
    /// How the init enters its cgroup by itself.
    pub cgroup_entry: &'a crate::cgroups::Entry,
}

/// Runs in the cloned child; never returns.
pub fn run(setup: &InitSetup, channel: Channel) -> ! {
    sys::close_inherited(setup.lock_fd);
    let error = match become_container(setup, &channel) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let message = format!("{error:#}");
    // A `start` waiting for the program to exec reads the failure from exec.fifo.
    if let StartGate::Fifo(fifo) = &setup.gate {
        report_through_fifo(fifo, &message);
    }
    if channel.send(&Message::Failed(message.clone())).is_err() {
        // The parent is gone (the failure came after `create` returned): stderr is all
        // that is left to tell anyone else.
        eprintln!("skiff init: {message}");
    }
    std::process::exit(1)
}

fn become_container(setup: &InitSetup, channel: &Channel) -> Result<Infallible> {
    let spec = &setup.bundle.spec;
    let process = spec.process().as_ref().context("process is missing")?;
    let linux = spec.linux().as_ref().context("linux is missing")?;

    // First, so that nothing of the container runs outside its cgroup's limits.
    setup.cgroup_entry.join_self()?;
    // Until it execs, the init holds skiff's memory and binary: keep other processes from
    // reading or ptracing it, and die with the parent while it is still being set up. An
    // unprivileged parent still has to write its ID mappings, which /proc lets only the
    // owner of a dumpable process do: then only after the parent is done (nothing but
    // that same user could reach it meanwhile).
    let unprivileged_parent = setup.unprivileged_parent;
    if !unprivileged_parent {
        nix::sys::prctl::set_dumpable(false).context("making the init non-dumpable")?;
    }
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent-death signal")?;
    sys::reset_signals();

    // The parent writes the ID mappings, then says Go; it moves us into the cgroup while we
    // set up, and says CgroupJoined when that is done.
    let host_pid = match channel.receive()? {
        Some(Message::Go { host_pid }) => host_pid,
        other => bail!("expected the parent to configure the init, got {other:?}"),
    };
    if unprivileged_parent {
        nix::sys::prctl::set_dumpable(false).context("making the init non-dumpable")?;
    }
    if setup.new_user_ns {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .context("becoming gid 0 in the new user namespace (is it mapped?)")?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .context("becoming uid 0 in the new user namespace (is it mapped?)")?;
    }
    // The parent joined every other namespace given by path before cloning us.
    for (kind, fd) in setup
        .joined
        .iter()
        .filter(|(kind, _)| *kind == CloneFlags::CLONE_NEWUSER)
    {
        // Born in it already when it was cloned into new namespaces owned by it.
        if !is_own_namespace(fd, "user")? {
            nix::sched::setns(fd, *kind).with_context(|| format!("joining namespace {kind:?}"))?;
        }
        // Root of the joined user namespace (as in a new one) until the last steps
        // switch to the process' own user: files made for the container need a mapped
        // owner.
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .context("becoming gid 0 in the joined user namespace (is it mapped?)")?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .context("becoming uid 0 in the joined user namespace (is it mapped?)")?;
    }
    // Owned by the container's user namespace, and entered first by the exec of the
    // container's program.
    if setup.new_time_ns {
        super::time_namespace::create(linux.time_offsets().as_ref())?;
    }
    // A cgroup namespace is rooted where the process is when it is made: only now, inside
    // the container's cgroup.
    if setup.new_cgroup_ns {
        channel.expect(Message::CgroupJoined, "the init to join its cgroup")?;
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .context("creating the cgroup namespace")?;
    }
    nix::unistd::setsid().context("starting a new session")?;
    if !setup.no_new_keyring {
        sys::join_new_session_keyring().context("creating a session keyring")?;
    }
    let new_uts = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| ns.typ() == LinuxNamespaceType::Uts && ns.path().is_none());
    if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if new_uts {
            nix::unistd::sethostname(hostname).context("setting hostname")?;
        } else {
            let current = nix::unistd::gethostname().context("reading the hostname")?;
            require_joined_name("hostname", hostname, &current.to_string_lossy())?;
        }
    }
    if let Some(domainname) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if new_uts {
            set_domainname(domainname)?;
        } else {
            let current = std::fs::read_to_string("/proc/sys/kernel/domainname")
                .context("reading the domainname")?;
            require_joined_name("domainname", domainname, current.trim_end())?;
        }
    }

    let in_user_ns = setup.new_user_ns
        || linux
            .namespaces()
            .iter()
            .flatten()
            .any(|ns| ns.typ() == LinuxNamespaceType::User);
    // Read while the host's /proc is still the one mounted: the container's may be absent
    // or a different view.
    let setgroups_allowed = tail::setgroups_allowed(in_user_ns);
    let bind_sources = match &setup.bind_sources {
        Some(socket) => rootfs::bind_sources::receive(spec, socket)?,
        None => Default::default(),
    };
    let plan = RootfsPlan {
        spec,
        rootfs: &setup.bundle.rootfs,
        bundle: &setup.bundle.dir,
        cgroup_path: setup.cgroup_path,
        new_cgroup_ns: setup.new_cgroup_ns,
        cgroup_v1_views: setup.cgroup_v1_views.as_deref(),
        in_user_ns,
        no_pivot: setup.no_pivot,
        bind_sources: &bind_sources,
        idmapped: &setup.idmapped,
    };
    let own_mount_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| ns.typ() == LinuxNamespaceType::Mount);
    if own_mount_ns {
        rootfs::enter(&plan, &mut || run_create_hooks(setup, channel, host_pid))?;
        // Before rootfs::finish may make the root read-only (runc's own template sets
        // root.readonly).
        create_missing_cwd(process.cwd())?;
        rootfs::finish(spec)?;
    } else {
        rootfs::enter_without_mount_namespace(&setup.bundle.rootfs, &mut || {
            run_create_hooks(setup, channel, host_pid)
        })?;
        create_missing_cwd(process.cwd())?;
    }

    let state = ContainerState::new(
        setup.id,
        "created",
        host_pid,
        &setup.bundle.dir,
        &spec.annotations().clone().unwrap_or_default(),
    );
    let last_steps = ProcessSetup {
        process,
        console: &setup.console,
        // Binding the pty onto /dev/console is a mount: not in the host's namespace.
        is_console: own_mount_ns,
        preserve_fds: setup.preserve_fds,
        setgroups_allowed,
        seccomp: setup.seccomp,
        state: &state,
        host_pid,
        personality: linux.personality().as_ref(),
        memory_policy: linux.memory_policy().as_ref(),
    };
    tail::exec_process(&last_steps, &mut || {
        wait_to_be_started(setup, channel)?;
        hooks::run(spec.hooks().as_ref(), hooks::Kind::StartContainer, &state)
    })
}

/// Between the mounts and pivot_root, when the config has hooks for that moment: the
/// parent runs prestart and createRuntime in the runtime's namespaces, then the init runs
/// createContainer in the container's (still seeing the host's root, where their paths
/// resolve). All of them with the init in its cgroup.
fn run_create_hooks(setup: &InitSetup, channel: &Channel, host_pid: i32) -> Result<()> {
    let spec = &setup.bundle.spec;
    if !hooks::has_any(spec.hooks().as_ref(), hooks::BEFORE_PIVOT) {
        return Ok(());
    }
    if !setup.new_cgroup_ns {
        channel.expect(Message::CgroupJoined, "the init to join its cgroup")?;
    }
    if hooks::has_any(spec.hooks().as_ref(), hooks::RUNTIME_CREATE) {
        channel.send(&Message::ReadyForHooks)?;
        if channel
            .expect(Message::HooksDone, "the parent to run the create hooks")
            .is_err()
        {
            // A hook failed, and the parent (which says so) is removing the container.
            std::process::exit(1);
        }
    }
    let state = ContainerState::new(
        setup.id,
        "creating",
        host_pid,
        &setup.bundle.dir,
        &spec.annotations().clone().unwrap_or_default(),
    );
    hooks::run(spec.hooks().as_ref(), hooks::Kind::CreateContainer, &state)
}

/// The init's own part of the last steps, once it has its final identity: report ready,
/// outlive the parent once recorded, and wait for `start`.
fn wait_to_be_started(setup: &InitSetup, channel: &Channel) -> Result<()> {
    // Nothing of the container may run outside its cgroup's limits (the create hooks
    // waited for it already).
    if !setup.new_cgroup_ns
        && !hooks::has_any(setup.bundle.spec.hooks().as_ref(), hooks::BEFORE_PIVOT)
    {
        channel.expect(Message::CgroupJoined, "the init to join its cgroup")?;
    }
    // Set up. Once the parent has recorded that, the init outlives it and waits to be
    // started; a parent killed before then takes the init with it.
    channel.send(&Message::Ready)?;
    // The last holder of the read-only mount of skiff's binary closes it, and waits for
    // the kernel there, while the parent records the container (see `close_exe_mount`).
    sys::close_exe_mount();
    if channel
        .expect(Message::Recorded, "the parent to record the container")
        .is_err()
    {
        // The parent failed (and says why) or was killed before recording the container:
        // it must not outlive it, and has nothing to add.
        std::process::exit(1);
    }
    nix::sys::prctl::set_pdeathsig(None).context("clearing the parent-death signal")?;
    channel.send(&Message::Detached)?;
    wait_for_start(&setup.gate, channel)
}

/// Leaves the failure in exec.fifo, where a `start` waiting for the program to exec
/// (because of startContainer or poststart hooks) reads it once the init is gone. Never
/// blocks: with no one to read it (a failure during `create`), it is lost with the fifo.
fn report_through_fifo(fifo: &OwnedFd, message: &str) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if fcntl(fifo, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).is_err() {
        return;
    }
    // One write of at most PIPE_BUF bytes is never interleaved or cut.
    let bytes = message.as_bytes();
    let _ = nix::unistd::write(fifo, &bytes[..bytes.len().min(libc::PIPE_BUF)]);
}

/// Whether the namespace `fd` refers to is this process' own of that kind.
pub(super) fn is_own_namespace(fd: &OwnedFd, kind: &str) -> Result<bool> {
    let theirs = nix::sys::stat::fstat(fd).context("inspecting a namespace to join")?;
    let path = format!("/proc/self/ns/{kind}");
    let ours = nix::sys::stat::stat(path.as_str()).with_context(|| format!("reading {path}"))?;
    Ok((theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino))
}

/// In a uts namespace joined by path, the config's name is accepted only when the
/// namespace already has it: setting it would rename the namespace for everyone in it.
fn require_joined_name(field: &str, wanted: &str, current: &str) -> Result<()> {
    if wanted != current {
        bail!("{field} {wanted:?}: the uts namespace joined by path is named {current:?}, and skiff does not rename a namespace the container only joins");
    }
    Ok(())
}

fn set_domainname(name: &str) -> Result<()> {
    std::fs::write("/proc/sys/kernel/domainname", name).context("setting domainname")
}

/// Creates `process.cwd` inside the root if the image lacks it. Anything else in the way
/// (a file, a magic link such as /proc/self/fd/N) is refused here, before any change.
fn create_missing_cwd(cwd: &Path) -> Result<()> {
    let root = tail::container_root()?;
    match paths::open(&root, cwd, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(_) => Ok(()),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => {
            paths::mkdir_all(&root, cwd)
                .with_context(|| format!("process.cwd {}: creating it", cwd.display()))?;
            Ok(())
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "process.cwd {}: not a directory inside the container's root",
                cwd.display()
            )
        }),
    }
}

fn wait_for_start(gate: &StartGate, channel: &Channel) -> Result<()> {
    match gate {
        StartGate::Channel => channel.expect(Message::Start, "the start message"),
        StartGate::Fifo(fifo) => {
            let mut byte = [0u8; 1];
            loop {
                match nix::unistd::read(fifo, &mut byte) {
                    Ok(1) => return Ok(()),
                    Ok(_) => bail!("exec.fifo closed before start"),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e).context("waiting on exec.fifo"),
                }
            }
        }
    }
}
