//! Waiting in the foreground for a container process that is skiff's own child (the init
//! of `run`, the process of `exec`): signals to skiff are passed on to it, its terminal is
//! relayed to skiff's stdio when skiff holds the pty master, and its exit becomes skiff's
//! exit status.

use anyhow::{Context, Result};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::OwnedFd;

use crate::terminal;

/// Waits until `pid` exits and returns its exit code (128+N if killed by signal N).
/// `early` are the signals that arrived before it was started: they are passed on first.
pub fn wait(
    pid: i32,
    terminal: Option<&OwnedFd>,
    signals: &SignalFd,
    early: &[i32],
) -> Result<i32> {
    for &signal in early {
        if !matches!(signal, libc::SIGCHLD | libc::SIGWINCH) {
            let _ = crate::sys::send_signal(pid, signal);
        }
    }
    let child = Pid::from_raw(pid);
    // It may have exited before its SIGCHLD could be seen as such.
    let mut exit_code = reap(child)?;
    let mut exited = exit_code.is_some();
    let mut on_signal = || -> Result<bool> {
        // One signal per wake-up: poll reports the signalfd readable again if more wait.
        if let Some(info) = signals.read_signal().context("reading signalfd")? {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                if let Some(code) = reap(child)? {
                    exit_code = Some(code);
                    return Ok(true);
                }
            } else if signo == libc::SIGWINCH {
                if let Some(master) = terminal {
                    let _ = crate::sys::copy_window_size(&std::io::stdin(), master);
                }
            } else {
                // Our unreaped child: its PID cannot have been reused.
                let _ = crate::sys::send_signal(pid, signo);
            }
        }
        Ok(false)
    };
    if let Some(master) = terminal {
        if exited {
            // What it wrote before it exited still waits in the pty.
            terminal::drain(master);
        } else {
            exited = terminal::relay(master, &mut on_signal, signals)?;
        }
    }
    // The process may live on after its terminal hung up: keep forwarding until it exits.
    while !exited {
        wait_readable(signals)?;
        exited = on_signal()?;
    }
    exit_code.context("the process' exit status")
}

fn wait_readable(fd: &SignalFd) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
        Err(e) => Err(e).context("waiting for signals"),
    }
}

/// The child's exit code if it has exited, without blocking.
fn reap(child: Pid) -> Result<Option<i32>> {
    match waitpid(child, Some(WaitPidFlag::WNOHANG)).context("waiting for the process")? {
        WaitStatus::Exited(_, code) => Ok(Some(code)),
        WaitStatus::Signaled(_, signal, _) => Ok(Some(128 + signal as i32)),
        _ => Ok(None),
    }
}
