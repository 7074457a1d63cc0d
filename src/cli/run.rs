use anyhow::{Context, Result};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::CreateArgs;
use super::Global;
use crate::container::create::{create, Launch};
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
    // Signals to `skiff run` are meant for the container. Taken over before anything is
    // made, so none is lost and none ends skiff half-way through the create.
    let signals = super::signals::take_over()?;
    let options = args.common.options(global, &args.id);
    let foreground_terminal = !args.detach && args.common.console_socket.is_none();
    let created = create(
        &options,
        Launch::Now {
            foreground_terminal,
        },
    )?;
    // One that came during the create is answered now: an ending one means the container
    // is not wanted any more (started, its program might not even have its handlers yet).
    let early = super::signals::drain(&signals)?;
    if let Some(&ending) = early
        .iter()
        .find(|&&signal| super::signals::ends_a_process(signal))
    {
        return super::signals::abandon(created, &global.root, &args.id, ending);
    }
    crate::container::start::start_now(&created, &global.root, &args.id, args.keep)?;
    if args.detach {
        return Ok(0);
    }
    for &signal in &early {
        if !matches!(signal, libc::SIGCHLD | libc::SIGWINCH) {
            let _ = crate::sys::send_signal(created.pid, signal);
        }
    }

    let init = Pid::from_raw(created.pid);
    // The init may have exited before its SIGCHLD could be seen as such.
    let mut exit_code = reap(init)?;
    let mut exited = exit_code.is_some();
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
                // The init is our unreaped child: its PID cannot have been reused.
                let _ = crate::sys::send_signal(created.pid, signo);
            }
        }
        Ok(false)
    };
    if !exited {
        if let Some(master) = &created.terminal {
            exited = terminal::relay(master, &mut on_signal, &signals)?;
        }
    }
    // The container may live on after its terminal hung up: keep forwarding until it exits.
    while !exited {
        wait_readable(&signals)?;
        exited = on_signal()?;
    }
    let code = exit_code.context("the container's exit status")?;
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
