//! Passing one descriptor over a unix socket (SCM_RIGHTS) with a small payload beside it:
//! the pty master to a console socket, the bind sources to an init.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Sends `fd` with `payload` as the message's data.
pub fn send_fd(socket: &impl AsFd, fd: &impl AsRawFd, payload: &[u8]) -> io::Result<()> {
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}

/// Receives one message into `payload`: the number of data bytes and the descriptor it
/// carried, `None` for a message without one (or end-of-file). The descriptor arrives
/// close-on-exec.
pub fn receive_fd(socket: &impl AsFd, payload: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = [IoSliceMut::new(payload)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(
        socket.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let fd = message.cmsgs()?.find_map(|control| match control {
        ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
        _ => None,
    });
    Ok((message.bytes, fd.map(super::adopt_fd)))
}
