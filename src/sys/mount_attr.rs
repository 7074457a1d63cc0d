//! `mount_setattr(2)`: changes the per-mount flags of a whole mount tree at once, which a
//! bind remount cannot do (it only touches the top mount, leaving submounts writable under
//! an `rro` bind).

use std::io;
use std::os::fd::AsRawFd;

pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
/// The mask of the three-valued access-time mode; changing the mode must clear all of it.
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x0000_0070;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// Flags to set and to clear, as `struct mount_attr` carries them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub set: u64,
    pub clear: u64,
}

/// Applies `attr` to the mount `fd` is the root of and to every mount below it.
pub fn set_recursive(fd: &impl AsRawFd, attr: MountAttr) -> io::Result<()> {
    let raw = RawMountAttr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr(fd, true, &raw)
}

pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `open_tree(OPEN_TREE_CLONE)`: a detached copy of the mount at `path` (with the mounts
/// below it when `recursive`), which can be changed and attached elsewhere.
pub fn clone_tree(path: &std::path::Path, recursive: bool) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive { AT_RECURSIVE } else { 0 };
    let path = super::cstring(path)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nobody else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Makes the detached mount `tree` (and, when `recursive`, the mounts below it) show
/// its files' owners through the ID mappings of the user namespace `userns`.
pub fn set_idmap(tree: &impl AsRawFd, userns: &impl AsRawFd, recursive: bool) -> io::Result<()> {
    let raw = RawMountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    mount_setattr(tree, recursive, &raw)
}

/// The kernel's `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct RawMountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` is the root of (and, when `recursive`, below it).
fn mount_setattr(fd: &impl AsRawFd, recursive: bool, raw: &RawMountAttr) -> io::Result<()> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH as libc::c_uint | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `empty` and `raw` outlive the call, and the size passed is that of `raw`,
    // laid out as the kernel's `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            raw as *const RawMountAttr,
            std::mem::size_of::<RawMountAttr>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches the detached mount `tree` onto the file or directory `target` (an open
/// descriptor, so no path is resolved again).
pub fn attach_tree(tree: &impl AsRawFd, target: &impl AsRawFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let empty = c"";
    // SAFETY: both paths are the empty NUL-terminated string, valid for the call; the
    // descriptors are borrowed for its duration only.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
