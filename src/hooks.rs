//! The runtime spec's hooks: programs the configuration names, run at six points of the
//! lifecycle with the container's state on stdin. This module runs them; when and where
//! (which process, which namespaces) is the caller's part: create.rs and the parent run
//! prestart and createRuntime, the init runs createContainer and startContainer, start and
//! delete run poststart and poststop.
//!
//! A hook is execve'd with exactly its `args` (args[0] as argv[0]) and `env`, in order,
//! the state on stdin and pipes for stdout and stderr, which are kept (bounded) for the
//! error message. It inherits no other descriptor and no blocked signal, runs in its own
//! process group, and that group is killed when it outlives its `timeout`.
//!
//! std's Command is not used: it passes the blocked-signal mask on (skiff blocks every
//! signal while it creates a container), takes the environment as a map (reordered,
//! repeated names merged), and through glibc's posix_spawn starts the program with glibc's
//! internal signals ignored. skiff is single-threaded, so a plain fork is safe here.

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
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
    // Everything the child needs is made before the fork: it only moves descriptors,
    // resets its signals and execs.
    let program = crate::sys::cstring(hook.path()).context("path")?;
    let args = match hook.args().as_deref() {
        Some(args) if !args.is_empty() => cstrings(args)?,
        _ => vec![program.clone()],
    };
    let env = cstrings(hook.env().as_deref().unwrap_or_default())?;
    let stdin = state_input(state)?;
    let (stdout, stdout_end) = pipe()?;
    let (stderr, stderr_end) = pipe()?;
    let (exec_report, exec_report_end) = pipe()?;
    // Nothing skiff holds (a `--preserve-fds` descriptor, whatever a shim left open) may
    // reach the hook. The container's program gets its preserved descriptors back right
    // before its own exec.
    crate::sys::cloexec_from(3).context("marking skiff's descriptors close-on-exec")?;
    let pid = match crate::sys::clone_process(0, None).context("starting it")? {
        crate::sys::Forked::Child => exec_in_child(
            &program,
            &args,
            &env,
            [&stdin, &stdout_end, &stderr_end],
            &exec_report_end,
        ),
        crate::sys::Forked::Parent(pid) => Pid::from_raw(pid),
    };
    drop((stdin, stdout_end, stderr_end, exec_report_end));
    if let Some(errno) = exec_failure(&exec_report) {
        let _ = waitpid(pid, None);
        return Err(std::io::Error::from_raw_os_error(errno)).context("starting it");
    }
    let deadline = hook
        .timeout()
        .and_then(|seconds| u64::try_from(seconds).ok())
        .map(|seconds| {
            (
                seconds,
                Instant::now().checked_add(Duration::from_secs(seconds)),
            )
        });
    let (status, stdout, stderr) = match wait(pid, stdout, stderr, deadline.and_then(|d| d.1)) {
        Ok(outcome) => outcome,
        Err(error) => {
            kill(pid);
            return Err(error);
        }
    };
    match status {
        None => {
            kill(pid);
            let seconds = deadline.map(|d| d.0).unwrap_or_default();
            Err(anyhow::anyhow!(
                "timed out after {seconds} s: killed{}",
                shown(&stderr, &stdout)
            ))
        }
        Some(WaitStatus::Exited(_, 0)) => Ok(()),
        Some(status) => Err(anyhow::anyhow!(
            "{}{}",
            describe(status),
            shown(&stderr, &stdout)
        )),
    }
}

/// The forked child: its own process group, no blocked or skiff-ignored signal, the three
/// descriptors as stdin, stdout and stderr, then the hook's program. If the exec fails,
/// its errno goes to `report` (close-on-exec, so a successful exec closes it unwritten).
fn exec_in_child(
    program: &CString,
    args: &[CString],
    env: &[CString],
    stdio: [&OwnedFd; 3],
    report: &OwnedFd,
) -> ! {
    let error = (|| -> std::io::Result<Infallible> {
        nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        crate::sys::reset_signals();
        // Above 2 first, so that placing one cannot overwrite another that happens to sit
        // at 0, 1 or 2 (when skiff's caller closed its own).
        let mut high = Vec::with_capacity(3);
        for fd in stdio {
            high.push(crate::sys::adopt_fd(fcntl(
                fd,
                FcntlArg::F_DUPFD_CLOEXEC(3),
            )?));
        }
        nix::unistd::dup2_stdin(&high[0])?;
        nix::unistd::dup2_stdout(&high[1])?;
        nix::unistd::dup2_stderr(&high[2])?;
        Err(crate::sys::exec(program, args, env))
    })();
    let errno = match error {
        Ok(never) => match never {},
        Err(error) => error.raw_os_error().unwrap_or(libc::EINVAL),
    };
    let _ = nix::unistd::write(report, &errno.to_ne_bytes());
    std::process::exit(127)
}

/// The errno of an exec that failed in the child; `None` once it exec'd (the report
/// pipe closed unwritten).
fn exec_failure(report: &OwnedFd) -> Option<i32> {
    let mut bytes = [0u8; 4];
    let mut filled = 0;
    while filled < bytes.len() {
        match nix::unistd::read(report, &mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    (filled == bytes.len()).then(|| i32::from_ne_bytes(bytes))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating a pipe for the hook")
}

fn cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).with_context(|| format!("{s:?} contains a NUL byte")))
        .collect()
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

/// What a hook left: how it ended (`None` if the deadline came first) and the kept part
/// of its stdout and stderr.
type Outcome = (Option<WaitStatus>, Vec<u8>, Vec<u8>);

/// Waits for the hook to exit, reading its output meanwhile. The wait ends when the hook
/// exits, not when its pipes close: a daemon it started may hold them open for good.
fn wait(pid: Pid, stdout: OwnedFd, stderr: OwnedFd, deadline: Option<Instant>) -> Result<Outcome> {
    let mut stdout = Output::new(stdout)?;
    let mut stderr = Output::new(stderr)?;
    // A pidfd turns the exit into a poll event. Where there is none (a seccomp profile
    // may deny pidfd_open to startContainer hooks), the wait polls in short slices.
    let pidfd = crate::sys::pidfd::open(pid.as_raw()).ok();
    let mut slice = Duration::from_millis(1);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                stdout.read_available();
                stderr.read_available();
                return Ok((Some(status), stdout.kept, stderr.kept));
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting for it"),
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
/// and reaps it. It is our unreaped child, so its PID (and group ID) are still its own.
fn kill(pid: Pid) {
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = crate::sys::send_signal(pid.as_raw(), libc::SIGKILL);
    let _ = waitpid(pid, None);
}

/// One of the hook's output pipes, read without blocking.
struct Output {
    fd: Option<OwnedFd>,
    kept: Vec<u8>,
}

impl Output {
    fn new(fd: OwnedFd) -> Result<Output> {
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).context("the hook's output pipe")?;
        Ok(Output {
            fd: Some(fd),
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
fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit status {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("killed by signal {}", signal.as_str()),
        other => format!("{other:?}"),
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
