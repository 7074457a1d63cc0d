//! A process `exec` starts inside an existing container, from the moment it is cloned
//! until it execs its program. It is born in the container's namespaces (all but the user
//! namespace, joined by the parent around the clone, so a joined pid namespace really
//! contains it), waits until the parent has moved it into the container's cgroup, joins the
//! user namespace itself, and then takes the same last steps as the container's init.

use std::convert::Infallible;
use std::os::fd::{OwnedFd, RawFd};

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Process;

use super::channel::{Channel, Message};
use super::parent::{self, Spawned};
use super::tail::{self, ConsoleTarget, ProcessSetup};
use crate::oci_state::ContainerState;
use crate::security::seccomp::Seccomp;
use crate::sys;

/// Everything the new process needs, prepared by the parent before the clone.
pub struct ExecSetup<'a> {
    pub process: &'a Process,
    /// The init's namespaces that differ from skiff's own, opened from the verified init.
    pub joined: Vec<(CloneFlags, OwnedFd)>,
    pub console: ConsoleTarget,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a Seccomp>,
    /// The container's state as a seccomp listener receives it.
    pub state: &'a ContainerState,
    /// The state-directory lock the parent holds, to be closed (not unlocked) here.
    pub lock_fd: RawFd,
    /// How the process enters the container's cgroup by itself.
    pub cgroup_entry: &'a crate::cgroups::Entry,
    /// The container's root, when the process gets it by chroot (a container without a
    /// mount namespace of its own) rather than by joining the mount namespace.
    pub chroot_to: Option<OwnedFd>,
    /// The container's `linux.personality`.
    pub personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    /// The container's `linux.memoryPolicy`.
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
}

/// Clones the process into the container's namespaces. In the child this never returns.
/// The child waits for `CgroupJoined` before it does anything in the container, reports a
/// failure as `Failed`, and otherwise closes its end of the channel by exec'ing.
pub fn spawn(setup: &ExecSetup) -> Result<Spawned> {
    parent::clone_joined(
        &setup.joined,
        "joining the container's namespaces",
        CloneFlags::empty(),
        setup.cgroup_entry.clone_into(),
        |channel| run(setup, channel),
    )
}

fn run(setup: &ExecSetup, channel: Channel) -> ! {
    sys::close_inherited(setup.lock_fd);
    let error = match enter(setup, &channel) {
        Ok(never) => match never {},
        Err(error) => error,
    };
    let message = format!("{error:#}");
    if channel.send(&Message::Failed(message.clone())).is_err() {
        eprintln!("skiff exec: {message}");
    }
    std::process::exit(1)
}

fn enter(setup: &ExecSetup, channel: &Channel) -> Result<Infallible> {
    // First, so that nothing of the process runs outside the container's cgroup.
    setup.cgroup_entry.join_self()?;
    // Until it execs, the process holds skiff's memory and descriptors, inside the
    // container's pid namespace: keep the container's processes from reading or ptracing
    // it, and die with skiff while it is still being set up.
    nix::sys::prctl::set_dumpable(false).context("making the process non-dumpable")?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent-death signal")?;
    // skiff blocks the signals it forwards; the container's process must get them.
    sys::reset_signals();
    let host_pid = match channel.receive()? {
        Some(Message::Go { host_pid }) => host_pid,
        Some(Message::Failed(reason)) => anyhow::bail!("{reason}"),
        other => anyhow::bail!("expected skiff to configure the process, got {other:?}"),
    };
    // Nothing of the process may run outside the container's cgroup.
    channel.expect(
        Message::CgroupJoined,
        "skiff to move the process into the container's cgroup",
    )?;
    if let Some(root) = &setup.chroot_to {
        nix::unistd::fchdir(root).context("entering the container's root")?;
        nix::unistd::chroot(".").context("chroot into the container's root")?;
    }
    let user_ns = setup
        .joined
        .iter()
        .find(|(kind, _)| *kind == CloneFlags::CLONE_NEWUSER);
    if let Some((kind, fd)) = user_ns {
        // Already in it when an unprivileged parent's helper cloned it there.
        if !super::init::is_own_namespace(fd, "user")? {
            nix::sched::setns(fd, *kind).context("joining the container's user namespace")?;
        }
        // As the init does: root of the container's user namespace until the last steps
        // switch to the process' own user.
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .context("becoming gid 0 in the container's user namespace (is it mapped?)")?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .context("becoming uid 0 in the container's user namespace (is it mapped?)")?;
    }
    // A terminal must become the controlling terminal of a session of the process' own.
    if setup.process.terminal().unwrap_or(false) {
        nix::unistd::setsid().context("starting a new session")?;
    }
    // The caller's session keyring is the host's: the container's process gets none of it.
    sys::join_new_session_keyring().context("creating a session keyring")?;
    // The container's /proc, where this process is visible: it says whether the user
    // namespace (the host's, when the container has none) allows setgroups.
    let setgroups_allowed = tail::setgroups_allowed(true);
    let last_steps = ProcessSetup {
        process: setup.process,
        console: &setup.console,
        is_console: false,
        preserve_fds: setup.preserve_fds,
        setgroups_allowed,
        seccomp: setup.seccomp,
        state: setup.state,
        host_pid,
        personality: setup.personality,
        memory_policy: setup.memory_policy,
    };
    tail::exec_process(&last_steps, &mut || {
        // Once exec'd, the process lives on its own: `exec --detach` returns at once.
        nix::sys::prctl::set_pdeathsig(None).context("clearing the parent-death signal")
    })
}
