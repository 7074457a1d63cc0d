//! seccomp(2): installing a filter on the calling thread (optionally with a notify
//! listener), and asking the kernel which flags and actions it knows.

use std::io;
use std::os::fd::OwnedFd;

/// One BPF instruction as the kernel reads it (`struct sock_filter`); seccompiler's type
/// has the same `#[repr(C)]` layout.
pub type Instruction = seccompiler::sock_filter;

/// Whether this kernel knows every bit of `flags` for SECCOMP_SET_MODE_FILTER.
pub fn filter_flags_supported(flags: u32) -> bool {
    // The kernel checks the flags before it reads the program: with a null program, a flag
    // it knows fails with EFAULT, one it does not with EINVAL (the probe libseccomp uses).
    // SAFETY: the null program is never dereferenced by us; the kernel rejects it with
    // EFAULT before installing anything.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Whether this kernel knows the return action `action` (a SECCOMP_RET_* value).
pub fn action_available(action: u32) -> bool {
    // SAFETY: SECCOMP_GET_ACTION_AVAIL reads one u32 through a pointer valid for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_ulong,
            &action as *const u32,
        )
    };
    ret == 0
}

/// Installs `program` on the calling thread (on all threads with
/// SECCOMP_FILTER_FLAG_TSYNC). With SECCOMP_FILTER_FLAG_NEW_LISTENER in `flags` the kernel
/// returns the listener descriptor (close-on-exec), which is returned here.
pub fn set_filter(flags: u32, program: &[Instruction]) -> io::Result<Option<OwnedFd>> {
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel only reads the program.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at `program`, whose `Instruction`s have the layout of
    // `struct sock_filter`, and both outlive the call; the kernel copies the program.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 != 0 {
        return Ok(Some(super::adopt_fd(ret as i32)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sock_filter_layouts_match() {
        assert_eq!(
            std::mem::size_of::<Instruction>(),
            std::mem::size_of::<libc::sock_filter>()
        );
        assert_eq!(
            std::mem::align_of::<Instruction>(),
            std::mem::align_of::<libc::sock_filter>()
        );
    }

    #[test]
    fn the_probes_tell_known_from_unknown() {
        assert!(filter_flags_supported(0));
        assert!(filter_flags_supported(
            libc::SECCOMP_FILTER_FLAG_TSYNC as u32
        ));
        assert!(!filter_flags_supported(1 << 30));
        assert!(action_available(libc::SECCOMP_RET_ALLOW));
        assert!(!action_available(0x7f00_0000));
    }
}
