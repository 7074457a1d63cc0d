//! Process file descriptors: a handle on one process that stays bound to it after it dies,
//! so a signal sent through it can never reach a later process given the same PID.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// `pidfd_open(2)`: a descriptor for the process `pid` names now.
pub fn open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor (close-on-exec) to us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: `signal` to the process behind `pidfd`; ESRCH once it has exited,
/// whatever has been given its PID since.
pub fn send_signal(pidfd: &impl AsRawFd, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo asks for the same info kill(2) would send; no memory of ours
    // is read or written.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_outlives_its_process_and_never_signals_another() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pidfd = open(child.id() as libc::pid_t).unwrap();
        send_signal(&pidfd, 0).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: its PID is free for reuse, and the descriptor still names the dead one.
        let err = send_signal(&pidfd, libc::SIGKILL).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn a_missing_process_cannot_be_opened() {
        let err = open(i32::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }
}
