//! The parent ↔ init conversation: a SOCK_SEQPACKET socketpair carrying JSON messages, each
//! framed as one or more packets (a failure report can be longer than any one packet).
//! Each side closes the other's end, so a side that dies is seen as end-of-file, never as
//! a hang.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Message {
    /// Parent → init: ID mappings are written; set up the container. The init's PID as
    /// the host sees it, for the state its hooks and seccomp listener are given.
    Go { host_pid: i32 },
    /// Parent → init: the init is in its cgroup, with the limits applied.
    CgroupJoined,
    /// Init → parent (only when the config has prestart or createRuntime hooks): the
    /// mounts are made and the init is in its cgroup; it waits, before pivot_root, for the
    /// parent to run those hooks in the runtime's namespaces.
    ReadyForHooks,
    /// Parent → init: the prestart and createRuntime hooks succeeded; the init runs its
    /// createContainer hooks and goes on to pivot_root.
    HooksDone,
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

/// The size of one packet: a frame byte, then up to `PACKET - 1` bytes of the message.
/// Kept small because the receive buffer is zero-filled each time; every message but a
/// failure report fits in one.
const PACKET: usize = 4096;
/// Frame byte of a packet that more of the same message follows.
const MORE: u8 = b'+';
/// Frame byte of a message's last (or only) packet.
const LAST: u8 = b'.';
/// The longest message accepted, so a runaway sender cannot exhaust the receiver's memory.
const MAX_MESSAGE: usize = 16 << 20;

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

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Channel {
    pub fn send(&self, message: &Message) -> Result<()> {
        let bytes = serde_json::to_vec(message).context("encoding a message")?;
        if bytes.len() > MAX_MESSAGE {
            bail!("a message of {} bytes is too long to send", bytes.len());
        }
        let mut chunks = bytes.chunks(PACKET - 1).peekable();
        let mut packet = Vec::with_capacity(PACKET);
        while let Some(chunk) = chunks.next() {
            packet.clear();
            packet.push(if chunks.peek().is_some() { MORE } else { LAST });
            packet.extend_from_slice(chunk);
            send(self.fd.as_raw_fd(), &packet, MsgFlags::MSG_NOSIGNAL)
                .context("sending to the other side of the parent/init channel")?;
        }
        Ok(())
    }

    /// Waits for the next message; `None` when the other side has closed its end (exited).
    pub fn receive(&self) -> Result<Option<Message>> {
        let mut buffer = [0u8; PACKET];
        let mut message = Vec::new();
        loop {
            // MSG_TRUNC: the packet's real length, so an oversized one is an error, not a
            // silently cut message.
            match recv(self.fd.as_raw_fd(), &mut buffer, MsgFlags::MSG_TRUNC) {
                Ok(0) if message.is_empty() => return Ok(None),
                Ok(0) => bail!("the other side of the parent/init channel closed mid-message"),
                Ok(n) if n > PACKET => {
                    bail!("a packet of {n} bytes on the parent/init channel is too long")
                }
                Ok(n) => {
                    let (frame, chunk) = (buffer[0], &buffer[1..n]);
                    if message.len() + chunk.len() > MAX_MESSAGE {
                        bail!("a message on the parent/init channel is over {MAX_MESSAGE} bytes");
                    }
                    message.extend_from_slice(chunk);
                    match frame {
                        MORE => continue,
                        LAST => {
                            return serde_json::from_slice(&message)
                                .map(Some)
                                .context("decoding a message from the parent/init channel")
                        }
                        other => bail!("unknown frame byte {other:#x} on the parent/init channel"),
                    }
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
    crate::sys::scm::send_fd(socket, fd, name.as_bytes())
        .context("sending the terminal over the console socket")
}

/// Receives the pty master the init sent with SCM_RIGHTS.
pub fn receive_fd(socket: &impl AsFd) -> Result<OwnedFd> {
    let mut name = [0u8; 4096];
    match crate::sys::scm::receive_fd(socket, &mut name).context("receiving the terminal")? {
        (_, Some(fd)) => Ok(fd),
        (_, None) => bail!("the init sent no terminal descriptor"),
    }
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
    fn a_long_report_arrives_whole() {
        let (parent, init) = pair().unwrap();
        // Longer than the socket's buffer: the sender blocks until the reader catches up.
        let report: String = (0..100 * 1024)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect();
        let sender = std::thread::spawn(move || {
            init.send(&Message::Failed(report.clone())).unwrap();
            init.send(&Message::Ready).unwrap();
            report
        });
        let received = parent.receive().unwrap();
        let report = sender.join().unwrap();
        assert_eq!(received, Some(Message::Failed(report)));
        assert_eq!(parent.receive().unwrap(), Some(Message::Ready));
    }

    #[test]
    fn a_report_of_exactly_one_packet_and_one_byte_more() {
        for extra in [0, 1] {
            let (parent, init) = pair().unwrap();
            // `Failed` JSON is {"Failed":"..."}: 14 bytes around the text.
            let report = "x".repeat(PACKET - 1 - 14 + extra);
            init.send(&Message::Failed(report.clone())).unwrap();
            assert_eq!(parent.receive().unwrap(), Some(Message::Failed(report)));
        }
    }

    #[test]
    fn a_sender_dying_mid_message_is_an_error() {
        let (parent, init) = pair().unwrap();
        send(init.fd.as_raw_fd(), b"+{\"Fai", MsgFlags::MSG_NOSIGNAL).unwrap();
        drop(init);
        let err = parent.receive().unwrap_err();
        assert!(err.to_string().contains("mid-message"), "{err}");
    }

    #[test]
    fn a_failure_report_becomes_the_error() {
        let (parent, init) = pair().unwrap();
        init.send(&Message::Failed("no such file".into())).unwrap();
        let err = parent.expect(Message::Ready, "ready").unwrap_err();
        assert_eq!(err.to_string(), "no such file");
    }
}
