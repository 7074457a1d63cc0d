//! The parent's side of a container process's terminal, shared by `create`/`run` and
//! `exec`: where the process sends the master of the pty it opens (a `--console-socket`
//! listener, or one end of a socketpair whose other end the caller keeps to relay the
//! terminal in the foreground), and receiving it.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::channel::{self, Channel, Message};
use super::tail::ConsoleTarget;

/// How the caller treats a process's terminal.
pub struct ConsoleRequest<'a> {
    /// Whether the process gets a terminal.
    pub terminal: bool,
    pub socket: Option<&'a Path>,
    /// Why the process has no terminal, for a `--console-socket` that would wait in vain
    /// (`process.terminal is false`).
    pub no_terminal: &'a str,
    /// Without a socket: `None` if the caller relays the terminal itself, else why it
    /// cannot.
    pub cannot_relay: Option<&'a str>,
}

/// Where the process sends its pty master, and the caller's end when it relays it.
pub fn console_for(request: &ConsoleRequest) -> Result<(ConsoleTarget, Option<OwnedFd>)> {
    if !request.terminal {
        // A caller that passes a socket waits on it for a pty that would never come.
        if let Some(path) = request.socket {
            bail!(
                "--console-socket {} given, but {}: no terminal to send",
                path.display(),
                request.no_terminal
            );
        }
        return Ok((ConsoleTarget::None, None));
    }
    if let Some(path) = request.socket {
        let stream = UnixStream::connect(path)
            .with_context(|| format!("connecting to --console-socket {}", path.display()))?;
        return Ok((ConsoleTarget::Socket(stream.into()), None));
    }
    if let Some(reason) = request.cannot_relay {
        bail!("{reason}");
    }
    let (mine, theirs) = UnixStream::pair().context("creating the terminal socketpair")?;
    Ok((ConsoleTarget::Socket(theirs.into()), Some(mine.into())))
}

/// The pty master the process sends for a terminal the caller relays. A process that fails
/// first reports on its channel instead, and may block there until its report is read:
/// wait on both, so its own error is what the caller says (after `failed_prefix`), and
/// neither side waits for the other forever.
pub fn receive_terminal(
    socket: &OwnedFd,
    process: &Channel,
    failed_prefix: &str,
) -> Result<OwnedFd> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [
            PollFd::new(socket.as_fd(), PollFlags::POLLIN),
            PollFd::new(process.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("waiting for the container's terminal"),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        if ready(&fds[0]) {
            return channel::receive_fd(socket);
        }
        if ready(&fds[1]) {
            match process.receive()? {
                Some(Message::Failed(reason)) => bail!("{failed_prefix}{reason}"),
                Some(other) => bail!("unexpected {other:?} while waiting for the terminal"),
                None => bail!("the container's process exited before sending its terminal"),
            }
        }
    }
}
