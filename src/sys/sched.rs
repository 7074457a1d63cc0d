//! Per-process kernel settings that nix does not wrap: scheduling attributes
//! (`sched_setattr`), I/O priority (`ioprio_set`), execution domain (`personality`) and
//! NUMA memory policy (`set_mempolicy`). Each applies to the calling process and is kept
//! across exec.

use std::io;

/// `struct sched_attr` as the kernel lays it out (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// Sets the calling thread's scheduling policy and attributes.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        ..*attr
    };
    // SAFETY: `attr` is a valid sched_attr whose `size` field matches its layout, and it
    // outlives the call; pid 0 is the calling thread.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &attr as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling process' I/O priority (`IOPRIO_WHO_PROCESS`, pid 0).
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: u32 = 13;
    let value = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: ioprio_set takes plain integers and touches no memory of ours.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_int,
            value as libc::c_int,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling process' execution domain (`personality(2)`).
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes one integer and touches no memory of ours.
    let ret = unsafe { libc::personality(persona) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's NUMA memory policy: `mode` (with its `MPOL_F_*` flags) over
/// the nodes whose bits are set in `nodemask` (64 nodes a word).
pub fn set_mempolicy(mode: i32, nodemask: &[u64]) -> io::Result<()> {
    let (mask, maxnode) = if nodemask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits; one more than the bits the mask holds.
        (nodemask.as_ptr(), nodemask.len() as libc::c_ulong * 64 + 1)
    };
    // SAFETY: `mask` is null with maxnode 0, or points at `nodemask`, which holds at least
    // maxnode - 1 bits and outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, mask, maxnode) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
