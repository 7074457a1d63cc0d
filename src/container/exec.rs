//! `exec`: a new process inside an existing container. It joins the namespaces of the
//! recorded init (checked to be that process, not one given its PID later) and the
//! container's cgroup, and takes the same last steps as the init, under the container's
//! seccomp profile. Its process settings come from `--process`, or else from the
//! configuration the container was created with, adjusted by the command line.

use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{Capability, LinuxCapabilities, Process, Spec};

use super::exec_user::UserSpec;
use super::pid_file::write_pid_file;
use super::state::{self, Record, Status};
use super::store::{self, ContainerDir};
use crate::cgroups::{Cgroup, Entry};
use crate::oci_state::ContainerState;
use crate::process::channel::Message;
use crate::process::console::{console_for, receive_terminal, ConsoleRequest};
use crate::process::exec::ExecSetup;
use crate::rootfs::paths;
use crate::security::seccomp::Seccomp;
use crate::sys;

pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: ProcessSource,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    /// Whether the caller returns once the program runs (no one relays a terminal then).
    pub detach: bool,
}

/// Where the new process' settings come from.
pub enum ProcessSource {
    /// A `process` object in a JSON file, used as it is; `tty` (`--tty`) asks for a
    /// terminal as well.
    File { path: PathBuf, tty: bool },
    /// The container's own `process`, with the command line's changes.
    Inherit(Overrides),
}

/// The command line's changes to the container's `process`.
#[derive(Default)]
pub struct Overrides {
    pub args: Vec<String>,
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    /// `KEY=VALUE` entries added to, or replacing by key, `process.env`.
    pub env: Vec<String>,
    /// `user[:group]`, numbers or names.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// A process that has exec'd its program inside the container.
pub struct Executed {
    /// Its PID as the host sees it; skiff's unreaped child.
    pub pid: i32,
    /// The pty master, when the caller relays the terminal itself.
    pub terminal: Option<OwnedFd>,
}

/// Kills and reaps the new process unless disarmed: a failed exec leaves nothing behind.
struct Undo(Option<i32>);

impl Drop for Undo {
    fn drop(&mut self) {
        let Some(pid) = self.0 else { return };
        let _ = sys::send_signal(pid, libc::SIGKILL);
        // Bounded: a process caught in a frozen v1 cgroup dies only once thawed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let pid = nix::unistd::Pid::from_raw(pid);
        while let Ok(nix::sys::wait::WaitStatus::StillAlive) =
            nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            if std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

pub fn exec(options: &ExecOptions) -> Result<Executed> {
    let id = &options.id;
    // Locked while the process is set up and placed, so a concurrent delete waits for it
    // (and then removes it with the rest of the container) instead of racing it.
    let dir = ContainerDir::open(&options.root, id)?;
    let record = store::load(&options.root, id)?;
    let status = super::status_of(&options.root, &record);
    match status {
        Status::Stopped => return Err(super::errors::not_running(id)),
        Status::Creating => bail!("container {id:?} is still being created"),
        Status::Created | Status::Running | Status::Paused => {}
    }
    // A rootless container may have no cgroup: the process then stays in the caller's.
    let cgroup = match &record.cgroup {
        Some(recorded) => Some(Cgroup::from_record(recorded, id)?),
        None => None,
    };
    let frozen = match &cgroup {
        Some(cgroup) => cgroup.is_frozen()?,
        None => false,
    };
    if !options.ignore_paused && frozen {
        bail!("container {id:?} is paused: resume it first, or pass --ignore-paused");
    }
    let spec = store::load_config(&options.root, id)
        .with_context(|| format!("container {id:?}: its saved configuration"))?;
    let init = VerifiedInit::open(&record)?;
    // The container's root is looked into for --user names, and to name --cwd in the
    // error when it is no directory there (the process checks it again, authoritatively).
    let needs_root = match &options.process {
        ProcessSource::Inherit(overrides) => {
            overrides.cwd.is_some()
                || match &overrides.user {
                    Some(text) => UserSpec::parse(text)?.has_names(),
                    None => false,
                }
        }
        ProcessSource::File { .. } => false,
    };
    let container_root = match needs_root {
        true => Some(init.root()?),
        false => None,
    };
    let process = process_for(&spec, &options.process, container_root.as_ref())?;
    // Not for the child to hold: it gets the root by joining the mount namespace.
    drop(container_root);
    let terminal = process.terminal().unwrap_or(false);
    let (console, relay_end) = console_for(&ConsoleRequest {
        terminal,
        socket: options.console_socket.as_deref(),
        no_terminal: "the process has no terminal (see --tty)",
        cannot_relay: options.detach.then_some(
            "a terminal with --detach needs --console-socket: nothing would hold the terminal",
        ),
    })?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(config) => Some(Seccomp::prepare(config)?),
        None => None,
    };
    let joined = init.namespaces()?;
    // A container without a mount namespace of its own shares skiff's: the process
    // reaches its root by chroot instead of by joining the mount namespace.
    let chroot_to = if joined
        .iter()
        .any(|(kind, _)| *kind == CloneFlags::CLONE_NEWNS)
    {
        None
    } else {
        Some(init.root()?)
    };
    // Everything opened through /proc/<pid> was the recorded init's.
    init.confirm()?;
    let state = ContainerState::new(
        id,
        status.as_str(),
        record.pid,
        &record.bundle,
        &record.annotations,
    );

    let cgroup_entry = match &cgroup {
        Some(cgroup) => cgroup.entry()?,
        None => Entry::default(),
    };
    let setup = ExecSetup {
        cgroup_entry: &cgroup_entry,
        process: &process,
        joined,
        console,
        preserve_fds: options.preserve_fds,
        seccomp: seccomp.as_ref(),
        state: &state,
        lock_fd: dir.raw_fd(),
        chroot_to,
        personality: spec.linux().as_ref().and_then(|l| l.personality().as_ref()),
        memory_policy: spec
            .linux()
            .as_ref()
            .and_then(|l| l.memory_policy().as_ref()),
    };
    let spawned = crate::process::exec::spawn(&setup)?;
    let mut undo = Undo(Some(spawned.pid));
    // The child has its own copies of the namespaces and the console now.
    drop(setup);
    spawned.channel.send(&Message::Go {
        host_pid: spawned.pid,
    })?;
    place(spawned.pid, &process, cgroup.as_ref(), &cgroup_entry).map_err(|error| {
        // The child waits to be placed: end it, so the channel says whether it had failed
        // first (its own report then says why) instead of waiting for it.
        let _ = sys::send_signal(spawned.pid, libc::SIGKILL);
        match spawned.channel.receive() {
            Ok(Some(Message::Failed(reason))) => anyhow::anyhow!("{reason}"),
            _ => error,
        }
    })?;
    spawned.channel.send(&Message::CgroupJoined)?;
    // In the cgroup, the process is the container's: a delete from now on removes it.
    drop(dir);
    let terminal_master = match &relay_end {
        Some(socket) => Some(receive_terminal(socket, &spawned.channel, "")?),
        None => None,
    };
    // The channel closes (close-on-exec) when the program is exec'd; a failure before
    // that is reported on it.
    match spawned.channel.receive()? {
        None => {}
        Some(Message::Failed(reason)) => bail!("{reason}"),
        Some(other) => bail!("unexpected {other:?} from the new process"),
    }
    if let Some(pid_file) = &options.pid_file {
        write_pid_file(pid_file, spawned.pid)?;
    }
    undo.0 = None;
    crate::logging::debug(&format!("exec'd process {} in container {id}", spawned.pid));
    Ok(Executed {
        pid: spawned.pid,
        terminal: terminal_master,
    })
}

/// Moves the new process into the container's cgroup where it did not enter by itself (its
/// limits are the container's, already applied) and gives it the process' OOM score.
fn place(pid: i32, process: &Process, cgroup: Option<&Cgroup>, entry: &Entry) -> Result<()> {
    if let Some(cgroup) = cgroup {
        cgroup.add_process(pid, entry)?;
    }
    if let Some(score) = process.oom_score_adj() {
        let path = format!("/proc/{pid}/oom_score_adj");
        std::fs::write(&path, score.to_string())
            .with_context(|| format!("process.oomScoreAdj: writing {score} to {path}"))?;
    }
    Ok(())
}

/// Namespace kinds in the order the new process joins them: the user namespace first
/// (the child joins it, after the parent has joined the others for it).
const NAMESPACES: &[(CloneFlags, &str)] = &[
    (CloneFlags::CLONE_NEWUSER, "user"),
    (CloneFlags::CLONE_NEWNS, "mnt"),
    (CloneFlags::CLONE_NEWPID, "pid"),
    (CloneFlags::CLONE_NEWNET, "net"),
    (CloneFlags::CLONE_NEWIPC, "ipc"),
    (CloneFlags::CLONE_NEWUTS, "uts"),
    (CloneFlags::CLONE_NEWCGROUP, "cgroup"),
    (CloneFlags::from_bits_retain(libc::CLONE_NEWTIME), "time"),
];

/// The recorded init, held by a pidfd opened first and checked against the recorded
/// start time. Once `confirm` finds it still alive, everything opened through
/// /proc/<pid> in between was that process', never one given its PID after it exited.
struct VerifiedInit<'a> {
    record: &'a Record,
    pidfd: OwnedFd,
}

impl<'a> VerifiedInit<'a> {
    fn open(record: &'a Record) -> Result<VerifiedInit<'a>> {
        let pidfd = match sys::pidfd::open(record.pid) {
            Ok(pidfd) => pidfd,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(not_running(record)),
            Err(e) => return Err(e).with_context(|| format!("opening a pidfd for {}", record.pid)),
        };
        if !state::process_is_alive(record.pid, record.pid_start_time) {
            return Err(not_running(record));
        }
        Ok(VerifiedInit { record, pidfd })
    }

    /// The container's root directory, as the init sees it.
    fn root(&self) -> Result<OwnedFd> {
        let path = format!("/proc/{}/root", self.record.pid);
        let root = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        Ok(root.into())
    }

    /// Every namespace of the init that differs from skiff's own.
    fn namespaces(&self) -> Result<Vec<(CloneFlags, OwnedFd)>> {
        let mut joined = Vec::new();
        for &(kind, name) in NAMESPACES {
            let theirs_path = format!("/proc/{}/ns/{name}", self.record.pid);
            let ours_path = format!("/proc/self/ns/{name}");
            let theirs = match std::fs::File::open(&theirs_path) {
                Ok(file) => file,
                // A kernel without this kind of namespace has it for no process.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        && !Path::new(&ours_path).exists() =>
                {
                    continue
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(not_running(self.record))
                }
                Err(e) => return Err(e).with_context(|| format!("opening {theirs_path}")),
            };
            let ours =
                std::fs::metadata(&ours_path).with_context(|| format!("reading {ours_path}"))?;
            let theirs_meta = theirs
                .metadata()
                .with_context(|| format!("reading {theirs_path}"))?;
            if (theirs_meta.dev(), theirs_meta.ino()) != (ours.dev(), ours.ino()) {
                joined.push((kind, OwnedFd::from(theirs)));
            }
        }
        Ok(joined)
    }

    fn confirm(&self) -> Result<()> {
        match sys::pidfd::send_signal(&self.pidfd, 0) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(not_running(self.record)),
            Err(e) => {
                Err(e).with_context(|| format!("checking that the init {} lives", self.record.pid))
            }
        }
    }
}

fn not_running(record: &Record) -> anyhow::Error {
    super::errors::not_running(&record.id)
}

/// The process to run: the `--process` file as it is, or the container's own process
/// with the command line's changes. Either way checked as a config's process is.
fn process_for(
    spec: &Spec,
    source: &ProcessSource,
    container_root: Option<&OwnedFd>,
) -> Result<Process> {
    let (process, origin) = match source {
        ProcessSource::File { path, tty } => {
            let text = read_process_file(path)?;
            let mut process: Process = serde_json::from_str(&text)
                .with_context(|| format!("parsing --process {}", path.display()))?;
            if *tty {
                process.set_terminal(Some(true));
            }
            (process, format!("--process {}: ", path.display()))
        }
        ProcessSource::Inherit(overrides) => {
            (inherit(spec, overrides, container_root)?, String::new())
        }
    };
    crate::spec::validate_process(&process)
        .map_err(|error| anyhow::anyhow!("{origin}{error:#}"))?;
    Ok(process)
}

/// The most of a `--process` file read: far more than any real process object, little
/// enough that `--process /dev/zero` cannot exhaust memory.
const MAX_PROCESS_FILE: u64 = 4 << 20;

fn read_process_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_PROCESS_FILE + 1).read_to_string(&mut text))
        .with_context(|| format!("reading --process {}", path.display()))?;
    if text.len() as u64 > MAX_PROCESS_FILE {
        bail!(
            "--process {}: larger than {} MiB",
            path.display(),
            MAX_PROCESS_FILE >> 20
        );
    }
    Ok(text)
}

/// The container's `process` with the command line's changes, as runc makes it.
/// `container_root` is the init's root, for `--user` names and to check `--cwd`.
fn inherit(
    spec: &Spec,
    overrides: &Overrides,
    container_root: Option<&OwnedFd>,
) -> Result<Process> {
    let mut process = spec
        .process()
        .clone()
        .context("the container's saved configuration has no process")?;
    if overrides.args.is_empty() {
        bail!("no command given: exec needs a command or --process");
    }
    process.set_args(Some(overrides.args.clone()));
    // The container's terminal belongs to its init; an exec has one only when asked.
    process.set_terminal(Some(overrides.tty));
    process.set_console_size(None);
    if let Some(cwd) = &overrides.cwd {
        if !cwd.is_absolute() {
            bail!("--cwd {} must be an absolute path", cwd.display());
        }
        if let Some(root) = container_root {
            paths::open(root, cwd, libc::O_PATH | libc::O_DIRECTORY).with_context(|| {
                format!(
                    "--cwd {}: not a directory inside the container's root",
                    cwd.display()
                )
            })?;
        }
        process.set_cwd(cwd.clone());
    }
    let mut env = process.env().clone().unwrap_or_default();
    merge_env(&mut env, &overrides.env)?;
    process.set_env(Some(env));
    if let Some(text) = &overrides.user {
        let (uid, gid) = UserSpec::parse(text)?.resolve(container_root)?;
        process.user_mut().set_uid(uid);
        if let Some(gid) = gid {
            process.user_mut().set_gid(gid);
        }
    }
    if !overrides.additional_gids.is_empty() {
        let mut gids = process.user().additional_gids().clone().unwrap_or_default();
        for gid in &overrides.additional_gids {
            if !gids.contains(gid) {
                gids.push(*gid);
            }
        }
        process.user_mut().set_additional_gids(Some(gids));
    }
    if !overrides.caps.is_empty() {
        let added = overrides
            .caps
            .iter()
            .map(|name| parse_capability(name))
            .collect::<Result<Vec<_>>>()?;
        process.set_capabilities(Some(add_capabilities(process.capabilities(), &added)?));
    }
    if overrides.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    use crate::spec::lsm::{check_label, Lsm};
    if let Some(profile) = &overrides.apparmor {
        check_label("--apparmor", Some(profile), Lsm::AppArmor)?;
        process.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &overrides.process_label {
        check_label("--process-label", Some(label), Lsm::SELinux)?;
        process.set_selinux_label(Some(label.clone()));
    }
    Ok(process)
}

/// Adds `extra` (`KEY=VALUE` each) to `env`, replacing an entry with the same key: the
/// rest of the container's environment, PATH included, stays.
fn merge_env(env: &mut Vec<String>, extra: &[String]) -> Result<()> {
    for entry in extra {
        let key = match entry.split_once('=') {
            Some((key, _)) if !key.is_empty() => key,
            _ => bail!("--env {entry:?}: expected KEY=VALUE"),
        };
        let same_key = |existing: &String| {
            existing
                .split_once('=')
                .map_or(existing.as_str(), |(k, _)| k)
                == key
        };
        match env.iter_mut().find(|existing| same_key(existing)) {
            Some(slot) => *slot = entry.clone(),
            None => env.push(entry.clone()),
        }
    }
    Ok(())
}

/// A capability as `--cap` names it: `CAP_NET_ADMIN` or `NET_ADMIN`, any case.
fn parse_capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    serde_json::from_value(serde_json::Value::String(full))
        .map_err(|_| anyhow::anyhow!("--cap {name:?}: unknown capability"))
}

/// The container's capabilities with `added` in the bounding, effective and permitted
/// sets, and in the ambient set where the inheritable set allows it, as runc does.
fn add_capabilities(
    current: &Option<LinuxCapabilities>,
    added: &[Capability],
) -> Result<LinuxCapabilities> {
    // An absent set is empty (not oci-spec's default list).
    let mut caps: LinuxCapabilities = match current {
        Some(caps) => caps.clone(),
        None => serde_json::from_str("{}").context("an empty capability set")?,
    };
    let with = |set: &Option<oci_spec::runtime::Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(added.iter().copied());
        Some(set)
    };
    caps.set_bounding(with(caps.bounding()));
    caps.set_effective(with(caps.effective()));
    caps.set_permitted(with(caps.permitted()));
    let inheritable = caps.inheritable().clone().unwrap_or_default();
    let mut ambient = caps.ambient().clone().unwrap_or_default();
    ambient.extend(
        added
            .iter()
            .filter(|cap| inheritable.contains(cap))
            .copied(),
    );
    caps.set_ambient(Some(ambient));
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_add_or_replace_by_key_and_keep_the_rest() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".to_string(), "B".to_string()];
        merge_env(
            &mut env,
            &["A=2".to_string(), "C=3".to_string(), "B=x=y".to_string()],
        )
        .unwrap();
        assert_eq!(env, ["PATH=/bin", "A=2", "B=x=y", "C=3"]);
        for bad in ["", "=v", "NOEQUALS"] {
            let err = merge_env(&mut env, &[bad.to_string()]).unwrap_err();
            assert!(err.to_string().contains("--env"), "{bad}: {err}");
        }
    }

    #[test]
    fn capabilities_are_named_with_or_without_the_prefix() {
        assert_eq!(
            parse_capability("CAP_NET_ADMIN").unwrap(),
            Capability::NetAdmin
        );
        assert_eq!(
            parse_capability("sys_ptrace").unwrap(),
            Capability::SysPtrace
        );
        for bad in ["", "CAP_", "CAP_NOPE", "../x"] {
            assert!(parse_capability(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn added_capabilities_join_the_sets_and_ambient_only_where_inheritable() {
        let current: LinuxCapabilities =
            serde_json::from_str(r#"{"bounding":["CAP_KILL"],"inheritable":["CAP_CHOWN"]}"#)
                .unwrap();
        let caps =
            add_capabilities(&Some(current), &[Capability::Chown, Capability::NetRaw]).unwrap();
        let bounding = caps.bounding().clone().unwrap();
        assert!(bounding.contains(&Capability::Kill) && bounding.contains(&Capability::NetRaw));
        assert!(caps
            .permitted()
            .clone()
            .unwrap()
            .contains(&Capability::Chown));
        assert!(caps
            .effective()
            .clone()
            .unwrap()
            .contains(&Capability::NetRaw));
        let ambient = caps.ambient().clone().unwrap();
        assert!(ambient.contains(&Capability::Chown));
        assert!(!ambient.contains(&Capability::NetRaw));
        let from_none = add_capabilities(&None, &[Capability::Kill]).unwrap();
        assert_eq!(from_none.bounding().clone().unwrap().len(), 1);
    }

    #[test]
    fn a_process_is_checked_as_the_configs_is() {
        let mut process = Process::default();
        crate::spec::validate_process(&process).unwrap();
        process.set_cwd(PathBuf::from("relative"));
        assert!(crate::spec::validate_process(&process)
            .unwrap_err()
            .to_string()
            .contains("process.cwd"));
        let mut process = Process::default();
        process.set_args(Some(vec![]));
        assert!(crate::spec::validate_process(&process).is_err());
        process.set_args(Some(vec![String::new()]));
        assert!(crate::spec::validate_process(&process).is_err());
        let mut process = Process::default();
        process.set_apparmor_profile(Some("unconfined-not".into()));
        assert!(crate::spec::validate_process(&process)
            .unwrap_err()
            .to_string()
            .contains("process.apparmorProfile"));
    }
}
