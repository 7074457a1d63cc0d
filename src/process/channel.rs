//! The parent ↔ init conversation: a SOCK_SEQPACKET socketpair carrying one small message per
//! packet. Each side closes the other's end, so a side that dies is seen as end-of-file,
//! never as a hang.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{
    recv, send, sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    /// Parent → init: ID mappings are written; set up the container.
    Go,
    /// Parent → init: the init is in its cgroup, with the limits applied.
    CgroupJoined,
    /// Init → parent: everything is set up; the init now waits to be started.
    Ready,
    /// Parent → init: the container's state is saved as complete, so the init may now
    /// outlive the parent (until then it dies with it: nothing would know of it).
    Recorded,
    /// Init → parent: the init no longer dies with the parent.
    Detached,
    /// Parent → init (`run` only): exec the program now, without going through the fifo.
    Start,
    /// Init → parent: setup failed, with the whole error chain on one line.
    Failed(String),
}

/// The largest message: failure reports are cut to fit, everything else is a few bytes.
/// Kept small because the receive buffer is zero-filled each time.
const MAX_MESSAGE: usize = 4096;

pub struct Channel {
    fd: OwnedFd,
}

/// Both ends of a fresh channel: (parent's, init's).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("creating the parent/init socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, message: &Message) -> Result<()> {
        let mut bytes = serde_json::to_vec(message).context("encoding a message")?;
        if bytes.len() > MAX_MESSAGE {
            if let Message::Failed(reason) = message {
                let mut cut = MAX_MESSAGE / 2;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                let shorter = Message::Failed(format!("{}...", &reason[..cut]));
                bytes = serde_json::to_vec(&shorter).context("encoding a message")?;
            }
        }
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .context("sending to the other side of the parent/init channel")?;
        Ok(())
    }

    /// Waits for the next message; `None` when the other side has closed its end (exited).
    pub fn receive(&self) -> Result<Option<Message>> {
        let mut buffer = [0u8; MAX_MESSAGE];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buffer, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return serde_json::from_slice(&buffer[..n])
                        .map(Some)
                        .context("decoding a message from the parent/init channel")
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // The other side closed with a message of ours unread. The kernel reports
                // that once, ahead of what it had already sent us (an init's failure
                // report): read on to get it, or end-of-file.
                Err(nix::errno::Errno::ECONNRESET) => continue,
                Err(e) => return Err(e).context("receiving on the parent/init channel"),
            }
        }
    }

    /// Waits for `expected`, turning a failure report or a closed channel into an error.
    pub fn expect(&self, expected: Message, waiting_for: &str) -> Result<()> {
        match self.receive()? {
            Some(message) if message == expected => Ok(()),
            Some(Message::Failed(reason)) => bail!("{reason}"),
            Some(other) => bail!("unexpected {other:?} while waiting for {waiting_for}"),
            None => bail!("the other side exited while waiting for {waiting_for}"),
        }
    }
}

/// Sends `fd` over a unix socket with SCM_RIGHTS, the way runc hands a pty master to a
/// `--console-socket` listener (the payload is the file's name).
pub fn send_fd(socket: &impl AsFd, fd: &impl AsRawFd, name: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    let payload = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &payload,
        &control,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .context("sending the terminal over the console socket")?;
    Ok(())
}

/// Receives one descriptor sent with SCM_RIGHTS.
pub fn receive_fd(socket: &impl AsFd) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned};
    use std::io::IoSliceMut;
    let mut buffer = [0u8; 4096];
    let mut payload = [IoSliceMut::new(&mut buffer)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let message = recvmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &mut payload,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receiving the terminal")?;
    for control in message.cmsgs().context("reading control messages")? {
        if let ControlMessageOwned::ScmRights(fds) = control {
            if let Some(&fd) = fds.first() {
                return Ok(crate::sys::adopt_fd(fd));
            }
        }
    }
    bail!("the init sent no terminal descriptor")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_cross_and_a_closed_end_reads_as_none() {
        let (parent, init) = pair().unwrap();
        init.send(&Message::Failed("mounting /proc: EPERM".into()))
            .unwrap();
        assert_eq!(
            parent.receive().unwrap(),
            Some(Message::Failed("mounting /proc: EPERM".into()))
        );
        init.send(&Message::Ready).unwrap();
        parent.expect(Message::Ready, "ready").unwrap();
        drop(init);
        assert_eq!(parent.receive().unwrap(), None);
    }

    #[test]
    fn a_report_survives_the_sender_closing_with_our_message_unread() {
        let (parent, init) = pair().unwrap();
        parent.send(&Message::CgroupJoined).unwrap();
        init.send(&Message::Failed("exec: not found".into()))
            .unwrap();
        drop(init);
        assert_eq!(
            parent.receive().unwrap(),
            Some(Message::Failed("exec: not found".into()))
        );
        assert_eq!(parent.receive().unwrap(), None);
    }

    #[test]
    fn a_failure_report_becomes_the_error() {
        let (parent, init) = pair().unwrap();
        init.send(&Message::Failed("no such file".into())).unwrap();
        let err = parent.expect(Message::Ready, "ready").unwrap_err();
        assert_eq!(err.to_string(), "no such file");
    }
}
