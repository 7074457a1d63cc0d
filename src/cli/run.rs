use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::CreateArgs;
use super::Global;
use crate::container::create::{create, Launch};
use crate::process::channel::Message;
use crate::terminal;

/// Create and start a container in one step
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: CreateArgs,
    /// Return once the container is started instead of waiting for it
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits (delete it later with `skiff delete`)
    #[arg(long)]
    keep: bool,
    /// The container's ID
    id: String,
}

/// Runs the container; in the foreground, returns its exit status (128+N if killed by N).
pub fn run(global: &Global, args: Args) -> Result<i32> {
    let options = args.common.options(global, &args.id);
    let foreground_terminal = !args.detach && args.common.console_socket.is_none();
    let created = create(
        &options,
        Launch::Now {
            foreground_terminal,
        },
    )?;
    if args.detach {
        created.channel.send(&Message::Start)?;
        return Ok(0);
    }
    // Signals to `skiff run` are meant for the container: take them through a signalfd
    // (blocked before the start, so none is lost) and pass them on.
    let mut forwarded = SigSet::all();
    for synchronous in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
    ] {
        forwarded.remove(synchronous);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
        .context("blocking signals to forward")?;
    let signals = SignalFd::with_flags(&forwarded, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    created.channel.send(&Message::Start)?;

    let init = Pid::from_raw(created.pid);
    let mut exit_code = None;
    let mut on_signal = || -> Result<bool> {
        // One signal per wake-up: poll reports the signalfd readable again if more wait.
        if let Some(info) = signals.read_signal().context("reading signalfd")? {
            let signo = info.ssi_signo as i32;
            if signo == libc::SIGCHLD {
                if let Some(code) = reap(init)? {
                    exit_code = Some(code);
                    return Ok(true);
                }
            } else if signo == libc::SIGWINCH {
                if let Some(master) = &created.terminal {
                    let _ = crate::sys::copy_window_size(&std::io::stdin(), master);
                }
            } else {
                let _ = crate::sys::send_signal(created.pid, signo);
            }
        }
        Ok(false)
    };
    // The init may have exited before the signalfd existed.
    if let Some(code) = reap(init)? {
        exit_code = Some(code);
    } else if let Some(master) = &created.terminal {
        terminal::relay(master, &mut on_signal, &signals)?;
    } else {
        while !on_signal()? {
            wait_readable(&signals)?;
        }
    }
    let code = match exit_code {
        Some(code) => code,
        None => wait_exit(init)?,
    };
    if !args.keep {
        let dir = crate::container::store::ContainerDir::open(&global.root, &args.id)?;
        crate::container::delete::remove(dir, &created.cgroup)?;
    }
    Ok(code)
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

/// The init's exit code if it has exited, without blocking.
fn reap(init: Pid) -> Result<Option<i32>> {
    match waitpid(init, Some(WaitPidFlag::WNOHANG)).context("waiting for the container")? {
        WaitStatus::Exited(_, code) => Ok(Some(code)),
        WaitStatus::Signaled(_, signal, _) => Ok(Some(128 + signal as i32)),
        _ => Ok(None),
    }
}

fn wait_exit(init: Pid) -> Result<i32> {
    loop {
        match waitpid(init, None).context("waiting for the container")? {
            WaitStatus::Exited(_, code) => return Ok(code),
            WaitStatus::Signaled(_, signal, _) => return Ok(128 + signal as i32),
            _ => continue,
        }
    }
}
