//! Masked and read-only paths, and the console bind: mounts made after the switch into the
//! new root. Like every other mount they go onto a descriptor resolved inside the root
//! (no magic links, no way out through `..` or a symlink), and are checked afterwards to
//! be the root of a mount where the path resolves.

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, major, minor};

use super::mounts::{remount, verify};
use super::paths;
use crate::sys;

/// The container's root, once it is the process' root.
pub fn open_root() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context("opening the container root")
}

/// `path` inside the root, or `None` if the image does not have it.
fn open_existing(root: &OwnedFd, path: &Path) -> Result<Option<OwnedFd>> {
    match paths::open_path(root, path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("opening {} inside the root", path.display())),
    }
}

/// Hides a path: a directory under an empty read-only tmpfs, anything else under the
/// container's /dev/null (opened and checked at the first file masked, then kept in
/// `null` for the others). Paths the image does not have are left alone.
pub fn mask(root: &OwnedFd, path: &Path, null: &mut Option<OwnedFd>) -> Result<()> {
    let Some(target) = open_existing(root, path)? else {
        return Ok(());
    };
    let is_dir =
        fstat(&target).context("inspecting the path")?.st_mode & libc::S_IFMT == libc::S_IFDIR;
    if is_dir {
        mount(
            Some("tmpfs"),
            sys::fd_path(&target).as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0,mode=0555"),
        )
        .context("mounting an empty tmpfs over it")?;
    } else {
        let null = match null {
            Some(null) => null,
            slot => slot.insert(dev_null(root)?),
        };
        mount(
            Some(sys::fd_path(&*null).as_str()),
            sys::fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context("binding /dev/null over it")?;
    }
    verify(root, path)?;
    Ok(())
}

/// The container's /dev/null, checked to be the null device (1:3): whatever sits there in
/// the image must not be what a masked file shows.
fn dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let null = paths::open(
        root,
        Path::new("/dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
    )
    .context("opening the container's /dev/null")?;
    let stat = fstat(&null).context("inspecting /dev/null")?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFCHR
        || (major(stat.st_rdev), minor(stat.st_rdev)) != (1, 3)
    {
        bail!("the container's /dev/null is not the null device");
    }
    Ok(null)
}

/// Makes `path` (and, for `/`, the whole root) read-only with a bind of its own.
pub fn make_readonly(root: &OwnedFd, path: &Path) -> Result<()> {
    if paths::relative(path).as_os_str().is_empty() {
        // The root is already a bind mount of the rootfs.
        return remount(root, MsFlags::MS_RDONLY, MsFlags::empty());
    }
    let Some(target) = open_existing(root, path)? else {
        return Ok(());
    };
    let target_path = sys::fd_path(&target);
    mount(
        Some(target_path.as_str()),
        target_path.as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("binding it onto itself")?;
    let mounted = verify(root, path)?;
    remount(&mounted, MsFlags::MS_RDONLY, MsFlags::empty())
}

/// Binds the file behind `source` (e.g. the pty slave) onto `destination` inside the
/// root, creating an empty file there if needed.
pub fn bind_file(source: &OwnedFd, destination: &Path) -> Result<()> {
    let root = open_root()?;
    let target = paths::ensure_file(&root, destination)?;
    mount(
        Some(sys::fd_path(source).as_str()),
        sys::fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("binding onto {}", destination.display()))?;
    verify(&root, destination)?;
    Ok(())
}
