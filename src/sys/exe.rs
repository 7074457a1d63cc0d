//! Keeps the container's processes from writing skiff's binary through `/proc/<pid>/exe`
//! (the CVE-2019-5736 class). A command that starts container processes first re-executes
//! skiff from a detached, read-only bind mount of its own binary: from then on the `exe`
//! of skiff and of every process it clones (the container's init, and whatever the init
//! execs through `/proc/self/exe`, directly or as a `#!` interpreter) is a path on that
//! mount, and opening it for writing fails with EROFS however it is reached (the magic
//! link, or an `O_PATH` descriptor reopened later through `/proc/self/fd`).
//!
//! Compared with a sealed memfd copy (crun, youki), nothing is copied: the cost is one
//! more exec of a static binary whose pages are already in the page cache. The mount is
//! never attached to any mount tree, so no mount table (the host's or the container's)
//! ever shows it, and it disappears with the last process that runs from it. Nobody can
//! make it writable: it belongs to no mount namespace once the descriptor from
//! `open_tree` is closed (at the exec), so neither `mount -o remount` nor
//! `mount_setattr` can reach it.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Context, Result};

/// Set in the environment of the re-exec, so a kernel that does not leave the binary
/// read-only cannot make skiff re-exec itself forever.
const MARKER: &str = "_SKIFF_EXE_READ_ONLY";

/// Returns once skiff runs from a binary that cannot be written through its `exe` link:
/// at once if it already does (its own read-only mount, or a read-only filesystem),
/// otherwise by re-executing itself with the same arguments and environment.
pub fn run_from_read_only_binary() -> Result<()> {
    let already = exe_is_read_only().context("checking the mount of /proc/self/exe")?;
    let reexecuted = std::env::var_os(MARKER).is_some();
    if already {
        if reexecuted {
            // Single-threaded at this point: nothing reads the environment concurrently.
            std::env::remove_var(MARKER);
        }
        return Ok(());
    }
    if reexecuted {
        bail!("skiff's binary is still writable after re-executing from a read-only mount");
    }
    let binary = read_only_clone_of_exe()?;
    let args = std::env::args_os()
        .map(c_string)
        .collect::<Result<Vec<_>>>()?;
    let mut env = Vec::new();
    for (key, value) in std::env::vars_os() {
        let mut entry = key;
        entry.push("=");
        entry.push(value);
        env.push(c_string(entry)?);
    }
    env.push(c_string(OsString::from(format!("{MARKER}=1")))?);
    let error = exec_fd(&binary, &args, &env);
    Err(error).context("re-executing skiff from a read-only mount of its binary")
}

fn exe_is_read_only() -> io::Result<bool> {
    let stat = nix::sys::statvfs::statvfs("/proc/self/exe")?;
    Ok(stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// A detached bind mount of skiff's binary (the `O_PATH` descriptor `open_tree` returns),
/// made read-only.
fn read_only_clone_of_exe() -> Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let path = c"/proc/self/exe";
    // SAFETY: `path` is a NUL-terminated string that outlives the call; open_tree only
    // returns a new descriptor, which is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("open_tree of /proc/self/exe");
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    let mount = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    set_read_only(&mount).context("making the bind mount of skiff's binary read-only")?;
    Ok(mount)
}

/// Read-only, and no setuid or device files through it. The clone holds the binary
/// alone, so the recursive form of mount_setattr touches only this one mount.
fn set_read_only(mount: &OwnedFd) -> io::Result<()> {
    use super::mount_attr::{self, MountAttr};
    mount_attr::set_recursive(
        mount,
        MountAttr {
            set: mount_attr::MOUNT_ATTR_RDONLY
                | mount_attr::MOUNT_ATTR_NOSUID
                | mount_attr::MOUNT_ATTR_NODEV,
            clear: 0,
        },
    )
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: runs the file behind `fd`. Returns only
/// on failure.
fn exec_fd(fd: &OwnedFd, args: &[CString], env: &[CString]) -> io::Error {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let empty = c"";
    // SAFETY: argv and envp are null-terminated arrays of pointers into CStrings that live
    // until execveat returns (it only returns on failure); `empty` is a valid C string.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

fn c_string(text: OsString) -> Result<CString> {
    CString::new(text.as_bytes()).context("an argument or environment entry contains a NUL byte")
}
