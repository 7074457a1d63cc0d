//! The descriptors skiff's caller handed it, told apart from the ones skiff opens itself:
//! `--preserve-fds N` passes the caller's descriptors 3..3+N, and a number beyond what the
//! caller really has must not pass skiff's own.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

static INHERITED: OnceLock<Vec<RawFd>> = OnceLock::new();

/// Records which descriptors from 3 up are open now. Called first thing in `main`, before
/// skiff opens any descriptor of its own, so what it finds is what the caller passed.
pub fn record_inherited() -> io::Result<()> {
    // The read-only mount the entry stub kept open is skiff's own, not the caller's.
    let own = super::exe_mount_fd();
    let mut found: Vec<RawFd> = open_descriptors()?
        .into_iter()
        .filter(|&fd| fd >= 3 && Some(fd) != own)
        .collect();
    found.sort_unstable();
    let _ = INHERITED.set(found);
    Ok(())
}

/// Sets close-on-exec on every open descriptor from `first` up, one fcntl(2) each, as
/// listed by /proc/self/fd (the listing's own descriptor is close-on-exec already).
pub fn cloexec_each_from(first: u32) -> io::Result<()> {
    let open = open_descriptors()?
        .into_iter()
        .filter(|&fd| u32::try_from(fd).is_ok_and(|fd| fd >= first));
    for fd in open {
        // SAFETY: F_SETFD only changes the flags of one entry of this process' descriptor
        // table; no memory is passed, and a descriptor closed meanwhile gives EBADF.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EBADF) {
                return Err(error);
            }
        }
    }
    Ok(())
}

/// This process' open descriptors, as /proc/self/fd lists them, without the descriptor
/// of the listing itself (closed again on return).
fn open_descriptors() -> io::Result<Vec<RawFd>> {
    let mut dir = nix::dir::Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let listing = dir.as_raw_fd();
    let mut open = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        if let Some(fd) = entry
            .file_name()
            .to_str()
            .ok()
            .and_then(|name| name.parse::<RawFd>().ok())
        {
            if fd != listing {
                open.push(fd);
            }
        }
    }
    Ok(open)
}

/// The caller's descriptors from 3 up, as recorded at startup (none if never recorded).
pub fn inherited() -> &'static [RawFd] {
    INHERITED.get().map(Vec::as_slice).unwrap_or_default()
}

/// Clears close-on-exec on `fd`, so it reaches the program exec'd next.
pub fn keep_across_exec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD only changes the flags of one entry of this process' descriptor
    // table; no memory is passed, and a descriptor that is not open gives EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of descriptor `fd` that the caller passed (a flag like `--status-fd`
/// names it): refused unless it was open when skiff started, so it can never be one of
/// skiff's own.
pub fn take_inherited(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    let passed = (0..3).contains(&fd) || inherited().contains(&fd);
    // SAFETY: F_GETFD only reads the flags of one descriptor-table entry.
    if !passed || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the descriptor was handed to skiff by its caller and nothing else in skiff
    // owns it; the caller of this function becomes its only owner.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}
