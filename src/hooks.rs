//! The runtime spec's hooks: programs the configuration names, run at six points of the
//! lifecycle with the container's state on stdin. This module runs them; when and where
//! (which process, which namespaces) is the caller's part: create.rs and the parent run
//! prestart and createRuntime, the init runs createContainer and startContainer, start and
//! delete run poststart and poststop.
//!
//! A hook gets exactly its `args` (args[0] as argv[0]) and `env`, the state on stdin and
//! pipes for stdout and stderr, which are kept (bounded) for the error message. It inherits
//! no other descriptor, runs in its own process group, and that group is killed when it
//! outlives its `timeout`.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{Hook, Hooks};

use crate::oci_state::ContainerState;

/// The six kinds of hook, in the order of the lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// The field's name under `hooks` in config.json.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind; none when the list is absent.
    pub fn of(self, hooks: Option<&Hooks>) -> &[Hook] {
        let Some(hooks) = hooks else {
            return &[];
        };
        // prestart is deprecated in the spec, but docker still sends it.
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// Whether there are hooks of any of `kinds`.
pub fn has_any(hooks: Option<&Hooks>, kinds: &[Kind]) -> bool {
    kinds.iter().any(|kind| !kind.of(hooks).is_empty())
}

/// The hooks the runtime (the `create` parent) runs while the init waits before
/// pivot_root.
pub const RUNTIME_CREATE: &[Kind] = &[Kind::Prestart, Kind::CreateRuntime];
/// Every hook that runs while the init is between its mounts and pivot_root.
pub const BEFORE_PIVOT: &[Kind] = &[Kind::Prestart, Kind::CreateRuntime, Kind::CreateContainer];
/// The hooks `start` (and `run`) must see the program exec'd for: a startContainer
/// failure to report, poststart to run after the exec.
pub const AROUND_START: &[Kind] = &[Kind::StartContainer, Kind::Poststart];

/// Runs the hooks of `kind` in order; the first that fails stops the rest and is the error,
/// `hooks.<kind>[<index>] <path>: <why>: <its output>`.
pub fn run(hooks: Option<&Hooks>, kind: Kind, state: &ContainerState) -> Result<()> {
    let list = kind.of(hooks);
    if list.is_empty() {
        return Ok(());
    }
    let input = state.to_json();
    for (index, hook) in list.iter().enumerate() {
        let field = format!("hooks.{}[{index}] {}", kind.name(), hook.path().display());
        run_one(hook, input.as_bytes()).with_context(|| field.clone())?;
        crate::logging::debug(&format!("ran {field}"));
    }
    Ok(())
}

/// poststart and poststop: a failing hook is a warning and the next one still runs, as the
/// spec asks (the lifecycle goes on as if it had succeeded).
pub fn run_warning_on_failure(hooks: Option<&Hooks>, kind: Kind, state: &ContainerState) {
    let list = kind.of(hooks);
    if list.is_empty() {
        return;
    }
    let input = state.to_json();
    for (index, hook) in list.iter().enumerate() {
        if let Err(error) = run_one(hook, input.as_bytes()) {
            warn(&format!(
                "hooks.{}[{index}] {}: {error:#}",
                kind.name(),
                hook.path().display()
            ));
        }
    }
}

/// One warning line on stderr, and in the `--log` file.
pub fn warn(message: &str) {
    crate::logging::warning(message);
    eprintln!("skiff: warning: {message}");
}

/// How much of each of a hook's stdout and stderr is kept for its error message; the rest
/// is read and dropped, so a chatty hook never blocks on a full pipe.
const OUTPUT_KEPT: usize = 16 * 1024;
/// How much of that kept output goes into the one-line error.
const OUTPUT_SHOWN: usize = 1024;

fn run_one(hook: &Hook, state: &[u8]) -> Result<()> {
    let mut command = Command::new(hook.path());
    if let Some((first, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        command.arg0(first).args(rest);
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        // Validation refused entries that are not KEY=VALUE.
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    command
        .stdin(Stdio::from(state_input(state)?))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that a timeout kills what it started too.
        .process_group(0);
    // Command passes on every descriptor not marked close-on-exec: the caller's (a
    // `--preserve-fds` one, whatever a shim left open) must not reach the hook. The
    // container's program gets its preserved descriptors back right before its exec.
    crate::sys::cloexec_from(3).context("marking skiff's descriptors close-on-exec")?;
    let mut child = command.spawn().context("starting it")?;
    let deadline = hook
        .timeout()
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map(|seconds| {
            (
                seconds,
                Instant::now().checked_add(Duration::from_secs(seconds)),
            )
        });
    let outcome = wait(&mut child, deadline.and_then(|(_, at)| at));
    let (status, stdout, stderr) = match outcome {
        Ok(done) => done,
        Err(error) => {
            kill(&mut child);
            return Err(error);
        }
    };
    let Some(status) = status else {
        kill(&mut child);
        let seconds = deadline.map(|(s, _)| s).unwrap_or_default();
        return Err(anyhow::anyhow!(
            "timed out after {seconds} s: killed{}",
            shown(&stderr, &stdout)
        ));
    };
    if status.success() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{}{}",
        describe(status),
        shown(&stderr, &stdout)
    ))
}

/// The state as the hook's stdin: a pipe already holding all of it (what runtimes usually
/// give), or a memfd when it does not fit in a pipe's buffer of at most 1 MiB (the
/// default fs.pipe-max-size; huge annotations are not worth a huge kernel buffer).
fn state_input(state: &[u8]) -> Result<OwnedFd> {
    if state.len() <= 1 << 20 {
        if let Some(pipe) = state_pipe(state) {
            return Ok(pipe);
        }
    }
    let memfd =
        nix::sys::memfd::memfd_create("skiff-hook-state", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .context("creating the hook's stdin")?;
    let mut file = std::fs::File::from(memfd);
    file.write_all(state)
        .and_then(|()| std::io::Seek::rewind(&mut file))
        .context("writing the state to the hook's stdin")?;
    Ok(file.into())
}

/// A pipe holding all of `state`, read end returned; `None` if it does not fit.
fn state_pipe(state: &[u8]) -> Option<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ok()?;
    if state.len() > 64 * 1024 {
        let size = libc::c_int::try_from(state.len()).ok()?;
        fcntl(&write, FcntlArg::F_SETPIPE_SZ(size)).ok()?;
    }
    fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).ok()?;
    // We hold the read end, so this never raises SIGPIPE; at worst it runs out of room.
    std::fs::File::from(write).write_all(state).ok()?;
    Some(read)
}

/// What a hook left: its exit status (`None` if the deadline came first) and the kept
/// part of its stdout and stderr.
type Outcome = (Option<ExitStatus>, Vec<u8>, Vec<u8>);

/// Waits for the hook to exit, reading its output meanwhile. The wait ends when the hook
/// exits, not when its pipes close: a daemon it started may hold them open for good.
fn wait(child: &mut Child, deadline: Option<Instant>) -> Result<Outcome> {
    let mut stdout = Output::new(child.stdout.take().map(OwnedFd::from))?;
    let mut stderr = Output::new(child.stderr.take().map(OwnedFd::from))?;
    // A pidfd turns the exit into a poll event. Where there is none (a seccomp profile
    // may deny pidfd_open to startContainer hooks), the wait polls in short slices.
    let pidfd = crate::sys::pidfd::open(child.id() as libc::pid_t).ok();
    let mut slice = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().context("waiting for it")? {
            stdout.read_available();
            stderr.read_available();
            return Ok((Some(status), stdout.kept, stderr.kept));
        }
        let now = Instant::now();
        let mut timeout = deadline.map(|at| at.saturating_duration_since(now));
        if timeout == Some(Duration::ZERO) {
            stdout.read_available();
            stderr.read_available();
            return Ok((None, stdout.kept, stderr.kept));
        }
        if pidfd.is_none() {
            timeout = Some(timeout.map_or(slice, |t| t.min(slice)));
            slice = (slice * 2).min(Duration::from_millis(20));
        }
        let mut fds = Vec::with_capacity(3);
        for fd in [stdout.fd.as_ref(), stderr.fd.as_ref(), pidfd.as_ref()]
            .into_iter()
            .flatten()
        {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        let timeout = match timeout {
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting for it"),
        }
        drop(fds);
        stdout.read_available();
        stderr.read_available();
    }
}

/// SIGKILLs the hook's process group and the hook itself (in case it left the group),
/// and reaps it.
fn kill(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as libc::pid_t);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// One of the hook's output pipes, read without blocking.
struct Output {
    fd: Option<OwnedFd>,
    kept: Vec<u8>,
}

impl Output {
    fn new(fd: Option<OwnedFd>) -> Result<Output> {
        if let Some(fd) = &fd {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("the hook's output pipe")?;
        }
        Ok(Output {
            fd,
            kept: Vec::new(),
        })
    }

    /// Reads what is there now, up to a bound so that a hook (or what it left running)
    /// writing without pause cannot keep the caller from its deadline; closes the pipe at
    /// its end.
    fn read_available(&mut self) {
        let Some(fd) = &self.fd else { return };
        let mut buffer = [0u8; 4096];
        for _ in 0..64 {
            match nix::unistd::read(fd, &mut buffer) {
                Ok(n) if n > 0 => {
                    let room = OUTPUT_KEPT.saturating_sub(self.kept.len());
                    self.kept.extend_from_slice(&buffer[..n.min(room)]);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => return,
                // The end, or a pipe that cannot be read.
                Ok(_) | Err(_) => {
                    self.fd = None;
                    return;
                }
            }
        }
        // The bound: the rest is read on the next call.
    }
}

/// `exit status 3`, `killed by signal SIGTERM`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(signal) => match nix::sys::signal::Signal::try_from(signal) {
            Ok(name) => format!("killed by signal {}", name.as_str()),
            Err(_) => format!("killed by signal {signal}"),
        },
        None => status.to_string(),
    }
}

/// `: <stderr>` (or stdout when stderr is empty) on one line: each line trimmed, joined
/// with "; ", control characters replaced, cut at OUTPUT_SHOWN characters.
fn shown(stderr: &[u8], stdout: &[u8]) -> String {
    let text = if stderr.iter().all(u8::is_ascii_whitespace) {
        stdout
    } else {
        stderr
    };
    let text = String::from_utf8_lossy(text);
    let line = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if line.is_empty() {
        return String::new();
    }
    let mut shown: String = line
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(OUTPUT_SHOWN)
        .collect();
    if line.chars().count() > OUTPUT_SHOWN {
        shown.push_str("...");
    }
    format!(": {shown}")
}
