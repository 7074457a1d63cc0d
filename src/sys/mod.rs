//! The only place with `unsafe`: one thin wrapper per raw syscall that nix does not cover
//! the way skiff needs it. Everything above this module is safe Rust.

pub mod pidfd;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::{Context, Result};

pub mod bpf;
mod early_exe;
pub use early_exe::{close_exe_mount, exe_mount_fd};
pub mod exe;
pub mod fds;
pub mod mount_attr;
pub mod sched;
pub mod scm;
pub mod seccomp;

/// What a fork-like clone returned to the caller.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// `clone3` without a new stack, so the child continues from this call like `fork` does,
/// but with namespace flags applied atomically at creation, and born in the cgroup2
/// directory `into_cgroup` when given (CLONE_INTO_CGROUP). Falls back to `clone` where the
/// kernel has no `clone3`, unless a cgroup was asked for.
pub fn clone_process(flags: u64, into_cgroup: Option<RawFd>) -> io::Result<Forked> {
    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    // A CLONE_PARENT child takes its exit signal from the caller, which clone3 insists
    // on by refusing one of its own.
    let sibling = flags & libc::CLONE_PARENT as u64 != 0;
    let args = CloneArgs {
        flags: flags | into_cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
        exit_signal: if sibling { 0 } else { libc::SIGCHLD as u64 },
        cgroup: into_cgroup.map_or(0, |fd| fd as u64),
        ..Default::default()
    };
    // SAFETY: clone3 with a zero stack behaves like fork: the child gets a copy of this
    // (single-threaded) address space, and `args` lives across the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let no_clone3 = ret == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS);
    let ret = if no_clone3 && into_cgroup.is_none() {
        // SAFETY: same fork semantics through the older clone(2) with a null stack.
        unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags | libc::SIGCHLD as u64,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        }
    } else {
        ret
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// Sends any signal number, realtime ones included (nix's `Signal` cannot name those).
pub fn send_signal(pid: libc::pid_t, signal: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signal) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `openat2` with `RESOLVE_IN_ROOT`: `path` is resolved as if `root` were `/`, so neither
/// `..` nor a symlink (absolute or relative) can lead outside it. Magic links are refused.
pub fn open_in_root(root: RawFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    openat2(root, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
}

/// `openat2` of `path` below `dir` without following any symlink and without leaving
/// `dir` (`..` above it is refused): for names in a directory skiff made itself.
pub fn open_beneath(dir: RawFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    openat2(
        dir,
        path,
        flags,
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    )
}

fn openat2(dir: RawFd, path: &Path, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    let c_path = cstring(path)?;
    // SAFETY: `how` and `c_path` outlive the call; the size passed matches the struct.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            c_path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether the file behind `fd` is the root of a mount (statx `STATX_ATTR_MOUNT_ROOT`).
pub fn is_mount_root(fd: &impl AsRawFd) -> io::Result<bool> {
    // SAFETY: statx is a plain C struct for which all-zero bytes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let empty = c"";
    // SAFETY: `empty` and `stx` are valid for the whole call.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(
        stx.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0
            && stx.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0,
    )
}

/// Marks every descriptor from `first` upwards close-on-exec, so nothing of skiff's
/// reaches the container's program (the class of runc's CVE-2024-21626).
///
/// close_range(2) does it in one call; where it is refused, descriptor by descriptor. A
/// container's seccomp profile installed before the last steps (without no_new_privs it
/// must precede the capability drop) may not list close_range: runtime-tools' default
/// profile does not, and runc, which uses fcntl(2) here, runs under it.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range only changes descriptor flags in this process' table.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret == -1 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::EPERM | libc::ENOSYS | libc::EACCES) => fds::cloexec_each_from(first),
            _ => Err(error),
        };
    }
    Ok(())
}

/// Sets the process' umask and returns the previous one.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) cannot fail and touches no memory.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// `setgroups`, which nix only exposes for some targets in the form skiff needs.
pub fn set_groups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: the pointer and length describe `gids`, which outlives the call.
    if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Replaces this process with `path`, argv and envp given as C strings.
pub fn exec(path: &CString, args: &[CString], env: &[CString]) -> io::Error {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv and envp are null-terminated arrays of pointers into CStrings that live
    // until execve returns (it only returns on failure).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Clears the signal mask and the one disposition exec would keep: handlers are reset by
/// exec anyway, but an ignored signal stays ignored, and Rust's runtime ignores SIGPIPE.
pub fn reset_signals() {
    // SAFETY: SIG_DFL is always a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: an empty, initialised sigset is passed by pointer for the call only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

pub fn cstring(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// The path through which a mount can be made onto an already-resolved file descriptor.
pub fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Reads the whole of a small file, with the path in the error. /proc files report a size
/// of 0, so the buffer starts large enough for a mountinfo instead of growing from 32 bytes,
/// and the size is not asked for: a `File`'s own read_to_string would `statx` and `lseek`
/// first (`take` reads without that probe). A /proc/<pid>/stat line is one read and the
/// read that ends it.
pub fn read_to_string(path: impl AsRef<Path>) -> Result<String> {
    use std::io::Read;
    let path = path.as_ref();
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::open(path)
        .and_then(|file| file.take(u64::MAX).read_to_string(&mut text))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(text)
}

/// Closes a descriptor this forked child inherited from objects of the parent that will
/// never be dropped here (the child execs or exits). Used for the state-directory lock: a
/// normal drop would `flock(LOCK_UN)` and release the parent's lock too.
pub fn close_inherited(fd: RawFd) {
    // SAFETY: in the child the owning object of the parent is never used or dropped again,
    // so closing the raw descriptor cannot cause a double close or a use after close.
    unsafe { libc::close(fd) };
}

/// Makes the terminal open on `fd` the controlling terminal of this (session leader) process.
pub fn set_controlling_tty(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument and touches no memory of ours.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Copies the window size of terminal `from` to terminal `to`.
pub fn copy_window_size(from: &impl AsRawFd, to: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: winsize is plain data; both ioctls read or write exactly one of it.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut size) == -1 {
            return Err(io::Error::last_os_error());
        }
        if libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &size) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sets the window size of terminal `fd`.
pub fn set_window_size(fd: &impl AsRawFd, rows: u16, cols: u16) -> io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads exactly one winsize from a pointer valid for the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// setrlimit with the raw resource number, so every RLIMIT_* the spec names is reachable.
pub fn set_rlimit(resource: libc::__rlimit_resource_t, value: &libc::rlimit) -> io::Result<()> {
    // SAFETY: `value` is a valid rlimit for the duration of the call.
    if unsafe { libc::setrlimit(resource, value) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of a descriptor the kernel handed over (SCM_RIGHTS).
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass only descriptors just installed for this process by the kernel.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Gives this process a new, anonymous session keyring, so the container cannot see or use
/// the host's keys.
pub fn join_new_session_keyring() -> io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: a null name asks for an anonymous keyring; no memory of ours is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
