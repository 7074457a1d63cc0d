//! The parent's side of creating a container: clone the init straight into its new
//! namespaces, configure it from outside (ID mappings, cgroup, OOM score), let it set itself
//! up, and wait until it reports that it is ready or why it failed.

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use super::channel::{self, Channel, Message};
use super::init::{self, InitSetup};
use crate::cgroups::{Cgroup, Entry};
use crate::rootfs::bind_sources;
use crate::sys::{self, Forked};

/// A running init that has not yet been told to go.
pub struct Spawned {
    pub pid: i32,
    pub channel: Channel,
}

/// Namespace flags the init is cloned with: every namespace the config asks to create,
/// except the cgroup namespace, which the init makes once it is inside its cgroup, and the
/// time namespace, whose offsets the init writes before anything enters it.
pub fn clone_flags(spec: &Spec) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let to_create = namespaces
        .into_iter()
        .flatten()
        .filter(|ns| ns.path().is_none());
    for ns in to_create {
        if !matches!(
            ns.typ(),
            LinuxNamespaceType::Cgroup | LinuxNamespaceType::Time
        ) {
            flags |= ns_flag(ns.typ());
        }
    }
    flags
}

pub fn ns_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Clones the init. In the child this never returns: it becomes the container.
pub fn spawn(setup: &InitSetup, flags: CloneFlags) -> Result<Spawned> {
    let into_cgroup = setup.cgroup_entry.clone_into();
    clone_joined(
        &setup.joined,
        "linux.namespaces",
        flags,
        into_cgroup,
        |init_end| init::run(setup, init_end),
    )
}

/// Clones a child that runs `child` with its end of a fresh channel; `child` must exec or
/// exit, never return. The parent gets the child's PID and its own end.
///
/// Namespaces given in `joined`, except a user namespace, are joined here by the parent,
/// around the clone: the child is then born inside them (a joined pid namespace contains
/// it, where a setns in the child would only place its children there), and it joins them
/// while still privileged in the host's user namespace, before any user namespace it is
/// cloned into or joins would deny it a namespace the host owns. A user namespace in
/// `joined` is the child's to join. The parent returns to its own namespaces right after
/// the clone; skiff is single-threaded, so nothing else runs meanwhile. `joined_from`
/// names where the namespaces came from, for an error joining them. `into_cgroup`: a
/// cgroup2 directory to clone the child straight into.
pub fn clone_joined(
    joined: &[(CloneFlags, OwnedFd)],
    joined_from: &str,
    flags: CloneFlags,
    into_cgroup: Option<std::os::fd::RawFd>,
    child: impl FnOnce(Channel),
) -> Result<Spawned> {
    let (parent_end, child_end) = channel::pair()?;
    let user_ns = joined
        .iter()
        .find(|(kind, _)| *kind == CloneFlags::CLONE_NEWUSER)
        .map(|(_, fd)| fd);
    let others: Vec<_> = joined
        .iter()
        .filter(|(kind, _)| *kind != CloneFlags::CLONE_NEWUSER)
        .collect();
    // An unprivileged parent may join the others only from inside the user namespace
    // (whose owner it is): the helper below joins them all, in that order.
    let helper_joins_all = user_ns.is_some() && !nix::unistd::geteuid().is_root();
    let joined_by_parent: &[&(CloneFlags, OwnedFd)] = if helper_joins_all { &[] } else { &others };
    let visit = JoinedNamespaces::enter(joined_by_parent).context(joined_from.to_string())?;
    let cloned = match user_ns {
        Some(user_ns) if helper_joins_all => {
            clone_from_user_ns(user_ns, &others, flags.bits() as u64, into_cgroup)
        }
        // New namespaces must belong to the joined user namespace, which skiff cannot
        // enter and leave again: a helper enters it and clones the child from there.
        Some(user_ns) if !flags.is_empty() => {
            clone_from_user_ns(user_ns, &[], flags.bits() as u64, into_cgroup)
        }
        _ => sys::clone_process(flags.bits() as u64, into_cgroup),
    };
    if let Ok(Forked::Child) = cloned {
        // The child stays in the joined namespaces: it closes its copies of the parent's
        // way back, which must not reach the container.
        drop(visit);
    } else {
        visit.leave()?;
    }
    match cloned.context("cloning the container's process")? {
        Forked::Child => {
            drop(parent_end);
            child(child_end);
            // The child's code execs or exits: it never comes back here.
            std::process::exit(1)
        }
        Forked::Parent(pid) => {
            drop(child_end);
            Ok(Spawned {
                pid,
                channel: parent_end,
            })
        }
    }
}

/// Clones a child of this process born in the user namespace `user_ns` and in new
/// namespaces (`flags`) owned by it. A short-lived helper joins the user namespace (a
/// one-way step) and clones the child with CLONE_PARENT, so the child is this process'
/// own, then reports its PID (or the clone's errno) and exits.
const JOIN_FAILED: i64 = 1 << 20;

fn clone_from_user_ns(
    user_ns: &OwnedFd,
    then_join: &[&(CloneFlags, OwnedFd)],
    flags: u64,
    into_cgroup: Option<std::os::fd::RawFd>,
) -> std::io::Result<Forked> {
    let (report_read, report_write) = nix::unistd::pipe()?;
    match sys::clone_process(0, None)? {
        Forked::Child => {
            drop(report_read);
            // A failure is reported as minus its errno, plus JOIN_FAILED if it was the join.
            let joined = nix::sched::setns(user_ns, CloneFlags::CLONE_NEWUSER).and_then(|()| {
                then_join
                    .iter()
                    .try_for_each(|(kind, fd)| nix::sched::setns(fd, *kind))
            });
            let value: i64 = match joined {
                Err(errno) => -(JOIN_FAILED + errno as i64),
                Ok(()) => {
                    match sys::clone_process(flags | libc::CLONE_PARENT as u64, into_cgroup) {
                        Ok(Forked::Child) => return Ok(Forked::Child),
                        Ok(Forked::Parent(pid)) => i64::from(pid),
                        Err(error) => -i64::from(error.raw_os_error().unwrap_or(libc::EIO)),
                    }
                }
            };
            let _ = nix::unistd::write(&report_write, &value.to_ne_bytes());
            // The helper holds nothing of its own: leave without running destructors,
            // which would undo what the real parent still holds (locks, cgroups).
            std::process::exit(0)
        }
        Forked::Parent(helper) => {
            drop(report_write);
            let mut bytes = [0u8; 8];
            let read = nix::unistd::read(&report_read, &mut bytes);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
            match read {
                Ok(8) => {}
                Ok(_) => {
                    return Err(std::io::Error::other(
                        "the helper joining the user namespace died without a report",
                    ))
                }
                Err(error) => return Err(error.into()),
            }
            match -i64::from_ne_bytes(bytes) {
                pid if pid < 0 => Ok(Forked::Parent(-pid as libc::pid_t)),
                join if join > JOIN_FAILED => Err(std::io::Error::new(
                    std::io::Error::from_raw_os_error((join - JOIN_FAILED) as i32).kind(),
                    format!(
                        "joining the user namespace (and the others after it): {}",
                        std::io::Error::from_raw_os_error((join - JOIN_FAILED) as i32)
                    ),
                )),
                errno => Err(std::io::Error::from_raw_os_error(errno as i32)),
            }
        }
    }
}

/// Opens the config's bind sources for an init in a new user namespace, from inside the
/// init's new mount namespace (a bind takes its source only from the mount namespace it is
/// made in), and hands them to the init over `socket`.
pub fn send_bind_sources(
    spec: &Spec,
    bundle: &Path,
    init_pid: i32,
    socket: &OwnedFd,
) -> Result<()> {
    let sources = bind_sources::sources(spec, bundle);
    if sources.is_empty() {
        return Ok(());
    }
    let init_ns = std::fs::File::open(format!("/proc/{init_pid}/ns/mnt"))
        .context("opening the init's mount namespace")?;
    let entry = (CloneFlags::CLONE_NEWNS, OwnedFd::from(init_ns));
    let visit = JoinedNamespaces::enter(&[&entry]).context("bind sources")?;
    let opened = bind_sources::open(&sources);
    visit.leave()?;
    bind_sources::send(socket, opened?)
}

/// The parent's stay in namespaces joined by path: where it came from, to go back.
pub struct JoinedNamespaces {
    /// The parent's own namespace of each kind it joined, in the order joined.
    own: Vec<(CloneFlags, OwnedFd)>,
    /// The working directory, which joining a mount namespace resets to its root.
    cwd: Option<OwnedFd>,
}

impl JoinedNamespaces {
    pub fn enter(joined: &[&(CloneFlags, OwnedFd)]) -> Result<JoinedNamespaces> {
        // Everything this needs from the parent's own /proc and working directory is
        // opened first: once in a joined mount namespace, /proc is the container's.
        let mut own = Vec::with_capacity(joined.len());
        let mut cwd = None;
        for (kind, _) in joined {
            let own_path = format!("/proc/self/ns/{}", ns_file(*kind));
            let fd =
                std::fs::File::open(&own_path).with_context(|| format!("opening {own_path}"))?;
            own.push(OwnedFd::from(fd));
            if *kind == CloneFlags::CLONE_NEWNS {
                let dir = std::fs::File::open(".").context("opening the working directory")?;
                cwd = Some(OwnedFd::from(dir));
            }
        }
        let mut visit = JoinedNamespaces {
            own: Vec::with_capacity(joined.len()),
            cwd,
        };
        for ((kind, target), own) in joined.iter().map(|j| (j.0, &j.1)).zip(own) {
            if let Err(error) = nix::sched::setns(target, kind) {
                visit.leave()?;
                return Err(error)
                    .with_context(|| format!("joining the {} namespace", ns_file(kind)));
            }
            visit.own.push((kind, own));
        }
        Ok(visit)
    }

    /// Back into the parent's own namespaces, in reverse order.
    pub fn leave(self) -> Result<()> {
        for (kind, own) in self.own.iter().rev() {
            nix::sched::setns(own, *kind).with_context(|| {
                format!("returning to skiff's own {} namespace", ns_file(*kind))
            })?;
        }
        if let Some(cwd) = &self.cwd {
            nix::unistd::fchdir(cwd).context("returning to the working directory")?;
        }
        Ok(())
    }
}

/// The name of a namespace kind under /proc/<pid>/ns.
pub fn ns_file(kind: CloneFlags) -> &'static str {
    match kind {
        CloneFlags::CLONE_NEWUSER => "user",
        CloneFlags::CLONE_NEWNS => "mnt",
        CloneFlags::CLONE_NEWPID => "pid",
        CloneFlags::CLONE_NEWNET => "net",
        CloneFlags::CLONE_NEWIPC => "ipc",
        CloneFlags::CLONE_NEWUTS => "uts",
        CloneFlags::CLONE_NEWCGROUP => "cgroup",
        _ => "time",
    }
}

/// What the parent does to the init from outside: ID mappings before it may start, its
/// cgroup and OOM score while it sets itself up.
pub fn configure(
    spawned: &Spawned,
    spec: &Spec,
    new_user_ns: bool,
    cgroup: Option<&Cgroup>,
    entry: &Entry,
) -> Result<()> {
    configure_steps(spawned, spec, new_user_ns, cgroup, entry).map_err(|error| {
        // If the init failed meanwhile, its own report says why; ours would only say that
        // it is gone. It may as well be waiting for the next step: end it first, so that
        // the channel holds its report or ends, instead of waiting for it for ever.
        let _ = crate::sys::send_signal(spawned.pid, libc::SIGKILL);
        match spawned.channel.receive() {
            Ok(Some(Message::Failed(reason))) => anyhow::anyhow!("container init: {reason}"),
            _ => error,
        }
    })
}

fn configure_steps(
    spawned: &Spawned,
    spec: &Spec,
    new_user_ns: bool,
    cgroup: Option<&Cgroup>,
    entry: &Entry,
) -> Result<()> {
    let pid = spawned.pid;
    let linux = spec.linux().as_ref();
    if new_user_ns {
        let uid_mappings = linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default();
        let gid_mappings = linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default();
        super::id_map::write(pid, uid_mappings, gid_mappings)?;
    }
    // Before the init may go on: its program finds the devices there from the start.
    if let Some(linux) = linux {
        crate::net_devices::move_into(linux, pid)?;
    }
    spawned.channel.send(&Message::Go { host_pid: pid })?;
    // Where the init could not enter its cgroup by itself (see cgroups::Entry), it sets up
    // its mounts while the kernel moves it: that migration waits for an RCU grace period,
    // which this overlaps instead of adding. The init waits for CgroupJoined before it can
    // exec.
    if let Some(cgroup) = cgroup {
        cgroup.enter(pid, spec, entry)?;
    }
    if let Some(score) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        let path = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&path, score.to_string())
            .with_context(|| format!("process.oomScoreAdj: writing {score} to {path}"))?;
    }
    spawned.channel.send(&Message::CgroupJoined)
}

pub fn write_id_map(pid: i32, file: &str, mappings: &[LinuxIdMapping]) -> Result<()> {
    let content: String = mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let path = Path::new("/proc").join(pid.to_string()).join(file);
    std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))
}
