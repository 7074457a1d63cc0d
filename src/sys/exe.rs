//! Keeps the container's processes from writing skiff's binary through `/proc/<pid>/exe`
//! (the CVE-2019-5736 class). A command that starts container processes first re-executes
//! skiff from a detached, read-only bind mount of its own binary: from then on the `exe`
//! of skiff and of every process it clones (the container's init, and whatever the init
//! execs through `/proc/self/exe`, directly or as a `#!` interpreter) is a path on that
//! mount, and opening it for writing fails with EROFS however it is reached (the magic
//! link, or an `O_PATH` descriptor reopened later through `/proc/self/fd`).
//!
//! Compared with a sealed memfd copy (crun, youki), nothing is copied. Usually this has
//! been done already when `main` starts: the binary's entry point (`early_exe.rs`) moves
//! the process onto the mount before the C library starts, without an exec where the
//! kernel lets it; what is here is the fallback and the check of the result. The mount is
//! never attached to any mount tree, so no mount table (the host's or the container's)
//! ever shows it, and it disappears with the last process that runs from it. Nobody can
//! make it writable: it belongs to no mount namespace once the descriptor from
//! `open_tree` is closed (at the exec here; after the entry stub's remap, by the init once
//! it is set up, before anything of the container runs: `close_exe_mount`), so neither
//! `mount -o remount` nor `mount_setattr` can reach it.
//!
//! An unprivileged caller (rootless mode) may not clone or change mounts: `open_tree`
//! fails with EPERM. Skiff then re-executes from a sealed memfd copy of its binary
//! instead. A container in a user namespace could otherwise write the binary whenever
//! its owner is mapped into that namespace (a skiff in the caller's own home directory,
//! the usual rootless install), so skipping the step is not safe in general; the seals
//! (no write, grow or shrink, and no unsealing) make the copy as unwritable as the mount.

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
        bail!("skiff's binary is still writable after re-executing from a read-only copy");
    }
    let binary = unwritable_binary()?;
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
    Err(error).context("re-executing skiff from a read-only copy of its binary")
}

fn exe_is_read_only() -> io::Result<bool> {
    let stat = nix::sys::statvfs::statvfs("/proc/self/exe")?;
    if stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(true);
    }
    exe_is_sealed_copy()
}

/// Whether skiff runs from a memfd whose contents can no longer change.
fn exe_is_sealed_copy() -> io::Result<bool> {
    let exe = std::fs::File::open("/proc/self/exe")?;
    // SAFETY: F_GET_SEALS reads the seals of the descriptor, owned by `exe` for the call;
    // on anything but a memfd it fails with EINVAL.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    Ok(seals >= 0 && seals & SEALS == SEALS)
}

/// The seals of the copy: its contents are fixed and the seals themselves too.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A binary to re-execute from: the read-only bind mount where the caller may make it,
/// else (unprivileged) the sealed copy.
fn unwritable_binary() -> Result<OwnedFd> {
    match read_only_clone_of_exe() {
        Ok(mount) => Ok(mount),
        Err(error)
            if error
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.raw_os_error() == Some(libc::EPERM)) =>
        {
            sealed_copy_of_exe().context("copying skiff's binary into a sealed memfd")
        }
        Err(error) => Err(error),
    }
}

/// A memfd holding a copy of skiff's binary, sealed against any change.
fn sealed_copy_of_exe() -> Result<OwnedFd> {
    let name = c"skiff";
    // MFD_EXEC asks for an executable memfd where vm.memfd_noexec is set; older kernels
    // do not know the flag (EINVAL) and make every memfd executable.
    const MFD_EXEC: libc::c_uint = 0x10;
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let mut fd = -1;
    for flags in [base | MFD_EXEC, base] {
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the new
        // descriptor is owned below.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            break;
        }
    }
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("memfd_create");
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    let memfd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut copy = std::fs::File::from(memfd);
    let mut exe = std::fs::File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    io::copy(&mut exe, &mut copy).context("copying /proc/self/exe")?;
    // SAFETY: F_ADD_SEALS only changes the seals of the descriptor `copy` owns.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error()).context("sealing the copy");
    }
    Ok(OwnedFd::from(copy))
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
