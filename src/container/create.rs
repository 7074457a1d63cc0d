//! `create` (and the first half of `run`): a state entry, the init cloned into its
//! namespaces and cgroup, set up and blocked until started. Whatever it made is recorded as
//! it is made, so a failure anywhere undoes exactly that.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::pid_file::write_pid_file;
use super::state::{self, Record};
use super::store::ContainerDir;
use crate::cgroups::{self, Cgroup};
use crate::hooks;
use crate::oci_state::ContainerState;
use crate::process::channel::{Channel, Message};
use crate::process::console::{console_for, receive_terminal, ConsoleRequest};
use crate::process::init::{InitSetup, StartGate};
use crate::process::parent::{self, Spawned};
use crate::security::seccomp::Seccomp;
use crate::spec;

pub struct CreateOptions {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// Rootless mode: a cgroup only where the caller may write one.
    pub rootless: bool,
}

/// How the new container will be started.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum Launch {
    /// By a later `skiff start`, through the exec.fifo.
    Later,
    /// By this same process (`run`), over the parent/init channel.
    Now { foreground_terminal: bool },
}

pub struct Created {
    pub pid: i32,
    pub channel: Channel,
    /// The pty master, when `run` relays a terminal itself.
    pub terminal: Option<OwnedFd>,
    /// The cgroup made for the container, for `run` to remove when it is done; none for a
    /// rootless container without a writable cgroup.
    pub cgroup: Option<Cgroup>,
    /// The configuration's hooks, for `run` to start and remove the container with.
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// The init's answer to `Recorded`: it no longer dies with skiff.
pub(super) fn expect_detached(channel: &Channel) -> Result<()> {
    channel
        .expect(
            Message::Detached,
            "the container's init to stop depending on skiff",
        )
        .context("container init")
}

/// Undoes a half-made container unless disarmed: kills and reaps the init, removes the
/// cgroup, removes the state directory.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = crate::sys::send_signal(pid, libc::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        if let Some(cgroup) = &self.cgroup {
            // Before the init exists nothing in the cgroup is the container's.
            let _ = match self.pid {
                Some(_) => cgroup.remove(),
                None => cgroup.remove_unused(),
            };
        }
        if let Some(dir) = self.dir.take() {
            // A container that existed is destroyed as `delete` would: poststop follows.
            let _ = match self.pid {
                Some(_) => super::delete::remove(dir, None),
                None => dir.remove(),
            };
        }
    }
}

/// Checks the cgroup, records the directories it is to make, then makes them and writes
/// the limits; `undo_slot` holds it from then on. Record before making: a create killed
/// between the two leaves a record of every directory it may have made.
pub(super) fn make_recorded_cgroup<'a>(
    mut cgroup: Cgroup,
    spec: &Spec,
    dir: &ContainerDir,
    record: &mut Record,
    undo_slot: &'a mut Option<Cgroup>,
) -> Result<&'a Cgroup> {
    cgroup.check_and_plan(spec)?;
    let cgroup = undo_slot.insert(cgroup);
    cgroup.make_recorded(spec, |planned| {
        record.cgroup = Some(planned.clone());
        dir.save(record)
    })?;
    cgroup.prepare(spec)?;
    Ok(cgroup)
}

pub fn create(options: &CreateOptions, launch: Launch) -> Result<Created> {
    super::store::validate_id(&options.id)?;
    let bundle = spec::load(&options.bundle)?;
    let spec = &bundle.spec;
    crate::rootless::validate_unprivileged(spec)?;
    // Compiled before anything exists, so a bad profile leaves nothing to undo.
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(config) => Some(Seccomp::prepare(config)?),
        None => None,
    };
    // The record is saved before anything outside the state directory exists (with the
    // cgroup's plan in it, by `make_recorded_cgroup`), and names this process as its
    // creator until the container is complete.
    let mut record = Record::new_creation(&options.id, &bundle)?;
    let dir = ContainerDir::create(&options.root, &options.id, spec)?;
    let mut undo = Undo {
        dir: Some(dir),
        cgroup: None,
        pid: None,
    };
    let dir = undo.dir.as_ref().context("state directory")?;

    let run_now = matches!(launch, Launch::Now { .. });
    let gate = match launch {
        Launch::Later => StartGate::Fifo(open_exec_fifo(&dir.fifo_path())?),
        Launch::Now { .. } => StartGate::Channel,
    };
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console, relay_end) = console_for(&ConsoleRequest {
        terminal,
        socket: options.console_socket.as_deref(),
        no_terminal: "process.terminal is false",
        cannot_relay: match launch {
            Launch::Now {
                foreground_terminal: true,
            } => None,
            _ => Some(
                "process.terminal is set: --console-socket is required unless run in the foreground",
            ),
        },
    })?;

    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let mut joined = Vec::new();
    for ns in &namespaces {
        if let Some(path) = ns.path() {
            let file = std::fs::File::open(path)
                .with_context(|| format!("linux.namespaces: opening {}", path.display()))?;
            joined.push((parent::ns_flag(ns.typ()), OwnedFd::from(file)));
        }
    }
    // The user namespace must be joined first: it decides what the others may do.
    joined.sort_by_key(|(flag, _)| *flag != nix::sched::CloneFlags::CLONE_NEWUSER);
    let is_new = |kind| {
        namespaces
            .iter()
            .any(|ns| ns.typ() == kind && ns.path().is_none())
    };
    let new_user_ns = is_new(LinuxNamespaceType::User);

    let cgroup_path = cgroups::path_for(spec, &options.id, options.systemd_cgroup);
    let cgroup = Cgroup::plan(&cgroup_path, options.systemd_cgroup, &options.id)?;
    let cgroup_entry = if options.rootless && !cgroup.is_writable() {
        crate::rootless::refuse_limits_without_cgroup(spec, &cgroup_path)?;
        crate::logging::debug(&format!(
            "rootless: cgroup {} is not writable, the container gets none",
            cgroup_path.display()
        ));
        dir.save(&record)?;
        cgroups::Entry::default()
    } else {
        make_recorded_cgroup(cgroup, spec, dir, &mut record, &mut undo.cgroup)?.entry()?
    };
    let cgroup_v1_views = match &undo.cgroup {
        Some(cgroup) => cgroup.v1_views(),
        None => cgroups::callers_v1_views()?,
    };

    // A user namespace cannot reach what only host root can: the parent opens the bind
    // sources for it, inside its new mount namespace. An unprivileged parent reaches no
    // more than the init does (both are the caller's uid on the host), and may not enter
    // the init's mount namespace: the init opens them itself.
    let user_joined = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_some());
    let (sources_parent, sources_init) = if (new_user_ns || user_joined)
        && is_new(LinuxNamespaceType::Mount)
        && nix::unistd::geteuid().is_root()
    {
        let channel = crate::rootfs::bind_sources::channel()?;
        (Some(channel.parent), Some(channel.init))
    } else {
        (None, None)
    };
    // Made here, as host root in the host's mount namespace, and inherited by the init.
    let idmapped = crate::rootfs::idmap::prepare(spec, &bundle.dir)?;
    let setup = InitSetup {
        idmapped,
        bundle: &bundle,
        cgroup_path: &cgroup_path,
        cgroup_v1_views,
        gate,
        console,
        joined,
        new_user_ns,
        unprivileged_parent: !nix::unistd::geteuid().is_root(),
        new_cgroup_ns: is_new(LinuxNamespaceType::Cgroup),
        new_time_ns: is_new(LinuxNamespaceType::Time),
        no_pivot: options.no_pivot,
        no_new_keyring: options.no_new_keyring,
        preserve_fds: options.preserve_fds,
        bind_sources: sources_init,
        lock_fd: dir.raw_fd(),
        id: &options.id,
        seccomp: seccomp.as_ref(),
        cgroup_entry: &cgroup_entry,
    };
    let spawned = parent::spawn(&setup, parent::clone_flags(spec))?;
    // The init holds the read-only mount of skiff's binary now: this close is not the
    // last one, which would wait for the kernel (see `close_exe_mount`).
    crate::sys::close_exe_mount();
    undo.pid = Some(spawned.pid);
    // The init has its own copies of the fifo, console and namespace descriptors now.
    drop(setup);
    // The init dies with this process until told it is recorded as complete; recording it
    // now lets a `delete` after a kill find it even before then.
    record.pid = spawned.pid;
    record.pid_start_time = state::start_time_of(spawned.pid)?;
    dir.save(&record)?;
    if let Some(socket) = &sources_parent {
        parent::send_bind_sources(spec, &bundle.dir, spawned.pid, socket)?;
    }

    parent::configure(
        &spawned,
        spec,
        new_user_ns,
        undo.cgroup.as_ref(),
        &cgroup_entry,
    )?;
    drop(cgroup_entry);
    if hooks::has_any(spec.hooks().as_ref(), hooks::RUNTIME_CREATE) {
        run_runtime_create_hooks(spec, &record, &spawned)?;
    }
    let terminal_master = match &relay_end {
        Some(socket) => Some(receive_terminal(
            socket,
            &spawned.channel,
            "container init: ",
        )?),
        None => None,
    };
    spawned
        .channel
        .expect(Message::Ready, "the container's init to be set up")
        .context("container init")?;

    record.creator = None;
    dir.save(&record)?;
    if let Some(pid_file) = &options.pid_file {
        write_pid_file(pid_file, spawned.pid)?;
    }
    // Only now may the init outlive this process.
    spawned.channel.send(&Message::Recorded)?;
    // `run` sends its Start before the init's answer to this arrives, and `start_now`
    // takes the answer then: one round trip between the two processes less.
    if !run_now {
        expect_detached(&spawned.channel)?;
    }
    crate::logging::debug(&format!(
        "created container {} with init {}",
        record.id, record.pid
    ));
    // Everything is in place: keep it.
    undo.pid = None;
    undo.dir = None;
    let cgroup = undo.cgroup.take();
    Ok(Created {
        pid: spawned.pid,
        channel: spawned.channel,
        terminal: terminal_master,
        cgroup,
        hooks: spec.hooks().clone(),
    })
}

/// prestart, then createRuntime, run here in skiff's own namespaces while the init waits
/// between its mounts and pivot_root.
fn run_runtime_create_hooks(spec: &Spec, record: &Record, spawned: &Spawned) -> Result<()> {
    spawned
        .channel
        .expect(Message::ReadyForHooks, "the init to reach its create hooks")
        .context("container init")?;
    let state = ContainerState::new(
        &record.id,
        "creating",
        spawned.pid,
        &record.bundle,
        &record.annotations,
    );
    for kind in hooks::RUNTIME_CREATE {
        hooks::run(spec.hooks().as_ref(), *kind, &state)?;
    }
    spawned.channel.send(&Message::HooksDone)
}

/// The fifo `start` writes to. The init keeps it open read-write, so its read blocks until
/// `start` writes and `start` can tell from ENXIO that no init is waiting any more.
fn open_exec_fifo(path: &Path) -> Result<OwnedFd> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("creating {}", path.display()))?;
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {}", path.display()))
}
