//! Paths inside the container's root, resolved as file descriptors with `openat2`'s
//! `RESOLVE_IN_ROOT`, so a symlink planted in the image (absolute or `..`) can never lead a
//! mount or a device node outside the rootfs.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::stat::Mode;

use crate::sys;

/// `path` made relative to the container root (leading `/` and `.` dropped; `..` kept, since
/// `RESOLVE_IN_ROOT` clamps it at the root).
pub fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect()
}

pub fn open(root: &OwnedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    let rel = relative(path);
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    sys::open_in_root(std::os::fd::AsRawFd::as_raw_fd(root), &rel, flags)
}

/// An `O_PATH` handle on `path` inside the root, whatever kind of file it is.
pub fn open_path(root: &OwnedFd, path: &Path) -> std::io::Result<OwnedFd> {
    open(root, path, libc::O_PATH)
}

/// Creates every missing directory of `path` inside the root and returns a handle on it.
/// A dangling symlink on the way is followed inside the root and its target created, as
/// if it existed (images often link /var/run to a /run they do not ship).
pub fn mkdir_all(root: &OwnedFd, path: &Path) -> Result<OwnedFd> {
    mkdir_all_following(root, path, 0)
}

fn mkdir_all_following(root: &OwnedFd, path: &Path, links_followed: u32) -> Result<OwnedFd> {
    if links_followed > 40 {
        bail!(
            "creating {}: too many levels of symbolic links",
            path.display()
        );
    }
    let rel = relative(path);
    // Most targets (/proc, /dev, /sys) exist in the image: one lookup, no walk.
    if let Ok(fd) = open(root, &rel, libc::O_PATH | libc::O_DIRECTORY) {
        return Ok(fd);
    }
    let components: Vec<Component> = rel.components().collect();
    // The walk starts at the deepest ancestor that opens, found from the end: usually the
    // parent (/dev/pts on the /dev tmpfs just mounted, /sys/fs/cgroup/cpu on the cgroup
    // tmpfs), so the levels above it are not looked up one by one from the root again.
    let mut start = components.len().saturating_sub(1);
    let mut current = loop {
        if start == 0 {
            break open(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY)
                .context("opening the container root")?;
        }
        let ancestor: PathBuf = components[..start].iter().collect();
        match open(root, &ancestor, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => break fd,
            Err(_) => start -= 1,
        }
    };
    let mut done: PathBuf = components[..start].iter().collect();
    for (index, component) in components.iter().enumerate().skip(start) {
        done.push(component);
        current = match open_level(root, &current, &done, component) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                let name = component.as_os_str();
                if let Ok(target) = nix::fcntl::readlinkat(current.as_fd(), name) {
                    let base = match done.parent() {
                        Some(parent) if !Path::new(&target).is_absolute() => {
                            Path::new("/").join(parent)
                        }
                        _ => PathBuf::from("/"),
                    };
                    let mut followed = base.join(target);
                    followed.extend(&components[index + 1..]);
                    return mkdir_all_following(root, &followed, links_followed + 1);
                }
                match nix::sys::stat::mkdirat(
                    current.as_fd(),
                    name,
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("creating {}", path_in_root(&done)))
                    }
                }
                open_level(root, &current, &done, component)
                    .with_context(|| format!("opening {}", path_in_root(&done)))?
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", path_in_root(&done))),
        };
    }
    Ok(current)
}

/// Opens the next directory of a walk, `done`, whose last component is `component`:
/// relative to the level above (`current`) when that component is a plain name that is
/// not a symlink, one lookup instead of every level from the root again (under /sys each
/// level takes the kernel's sysfs lock, which parallel starts contend on). A symlink or
/// `..` is resolved from the root, inside it, as before.
fn open_level(
    root: &OwnedFd,
    current: &OwnedFd,
    done: &Path,
    component: &Component,
) -> std::io::Result<OwnedFd> {
    if let Component::Normal(name) = component {
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        match sys::open_beneath(current.as_raw_fd(), Path::new(name), flags) {
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
            opened => return opened,
        }
    }
    open(root, done, libc::O_PATH | libc::O_DIRECTORY)
}

/// Makes sure a regular file (or anything that already exists) is at `path` inside the root,
/// creating parent directories as needed, and returns an `O_PATH` handle on it.
pub fn ensure_file(root: &OwnedFd, path: &Path) -> Result<OwnedFd> {
    if let Ok(fd) = open_path(root, path) {
        return Ok(fd);
    }
    if let Some(parent) = path.parent() {
        mkdir_all(root, parent)?;
    }
    let created = open(
        root,
        path,
        libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW,
    )
    .with_context(|| format!("creating {}", path.display()))?;
    drop(created);
    open_path(root, path).with_context(|| format!("opening {}", path.display()))
}

fn path_in_root(rel: &Path) -> String {
    format!("/{}", rel.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp_root(name: &str) -> (PathBuf, OwnedFd) {
        let dir = std::env::temp_dir().join(format!("skiff-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fd = OwnedFd::from(std::fs::File::open(&dir).unwrap());
        (dir, fd)
    }

    #[test]
    fn absolute_symlinks_resolve_inside_the_root() {
        let (dir, root) = temp_root("abs");
        symlink("/etc", dir.join("escape")).unwrap();
        mkdir_all(&root, Path::new("/escape/sub")).unwrap();
        assert!(dir.join("etc/sub").is_dir(), "created under the root's etc");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dotdot_is_clamped_at_the_root() {
        let (dir, root) = temp_root("dotdot");
        symlink("../../../../tmp", dir.join("up")).unwrap();
        let file = ensure_file(&root, Path::new("/up/skiff-file")).unwrap();
        drop(file);
        assert!(dir.join("tmp/skiff-file").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_levels_are_made_below_the_deepest_existing_one() {
        let (dir, root) = temp_root("deep");
        std::fs::create_dir_all(dir.join("sys/fs")).unwrap();
        // Several levels missing, one level missing, and nothing missing.
        mkdir_all(&root, Path::new("/sys/fs/cgroup/cpu/a/b")).unwrap();
        assert!(dir.join("sys/fs/cgroup/cpu/a/b").is_dir());
        mkdir_all(&root, Path::new("/sys/fs/cgroup/memory")).unwrap();
        assert!(dir.join("sys/fs/cgroup/memory").is_dir());
        mkdir_all(&root, Path::new("/sys/fs")).unwrap();
        // A dangling link below an existing level is followed inside the root.
        std::fs::create_dir_all(dir.join("var")).unwrap();
        symlink("/run", dir.join("var/run")).unwrap();
        mkdir_all(&root, Path::new("/var/run/lock/x")).unwrap();
        assert!(dir.join("run/lock/x").is_dir());
        // A file in the way is an error naming it, not a directory made elsewhere.
        std::fs::write(dir.join("sys/file"), b"").unwrap();
        let err = mkdir_all(&root, Path::new("/sys/file/sub")).unwrap_err();
        assert!(format!("{err:#}").contains("/sys/file"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn relative_drops_the_root() {
        assert_eq!(relative(Path::new("/a/./b")), PathBuf::from("a/b"));
        assert_eq!(relative(Path::new("/")), PathBuf::new());
    }
}
