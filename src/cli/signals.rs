//! The signals `create` and `run` take over: blocked from the very start, so one that comes
//! while the container is being made waits in a signalfd instead of killing skiff half-way
//! (which would leave the state directory and cgroups behind).

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::container::create::Created;

/// Every signal but those the kernel raises for the process' own faults, which must keep
/// acting on skiff itself.
fn taken_over() -> SigSet {
    let mut set = SigSet::all();
    for synchronous in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
    ] {
        set.remove(synchronous);
    }
    set
}

/// Blocks the signals skiff takes over and opens a non-blocking signalfd for them. Call it
/// before anything is made: a container's init unblocks them for itself.
pub fn take_over() -> Result<SignalFd> {
    let set = taken_over();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .context("blocking signals")?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).context("signalfd")
}

/// Whether `signal`'s default action ends a process (as opposed to stopping, continuing or
/// ignoring): one of those arriving before the container started means "do not start it".
pub fn ends_a_process(signal: i32) -> bool {
    !matches!(
        signal,
        libc::SIGCHLD
            | libc::SIGWINCH
            | libc::SIGURG
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
    )
}

/// The signals that arrived while the container was being made, in order.
pub fn drain(signals: &SignalFd) -> Result<Vec<i32>> {
    let mut arrived = Vec::new();
    while let Some(info) = signals.read_signal().context("reading signalfd")? {
        arrived.push(info.ssi_signo as i32);
    }
    Ok(arrived)
}

/// Removes a container that was made but never started because `signal` came first: its
/// init (still our unreaped child, so the PID is its own) is killed and reaped, then the
/// cgroup and state go. Returns the exit code of a process ended by `signal`.
pub fn abandon(created: Created, root: &std::path::Path, id: &str, signal: i32) -> Result<i32> {
    let init = Pid::from_raw(created.pid);
    let _ = crate::sys::send_signal(created.pid, libc::SIGKILL);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match waitpid(init, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Ok(WaitStatus::StillAlive) => {
                anyhow::bail!("the init {} did not die after SIGKILL", created.pid)
            }
            Ok(_) | Err(_) => break,
        }
    }
    crate::container::delete::remove_created(&created, root, id)?;
    let message = format!(
        "signal {} arrived before container {id:?} started: removed it",
        signal_name(signal)
    );
    crate::logging::error(&message);
    eprintln!("skiff: {message}");
    Ok(128 + signal)
}

fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| signal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_signals_end_and_job_control_ones_do_not() {
        for ending in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            assert!(ends_a_process(ending), "{ending}");
        }
        assert!(ends_a_process(libc::SIGRTMIN() + 3));
        for other in [libc::SIGCHLD, libc::SIGWINCH, libc::SIGTSTP, libc::SIGCONT] {
            assert!(!ends_a_process(other), "{other}");
        }
    }
}
