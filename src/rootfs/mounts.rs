//! One config mount at a time: create its destination inside the root, mount onto the
//! resolved descriptor (never onto a string path that could be swapped for a symlink, the
//! race behind runc's CVE-2021-30465), apply remount flags and propagation, and check that
//! the mount is where it was meant to be.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::options::MountOptions;
use super::paths;
use crate::sys;

/// What a mount needs to know about the container beyond the mount entry itself.
pub struct MountContext<'a> {
    pub root: &'a OwnedFd,
    pub bundle: &'a Path,
    pub cgroup_path: &'a Path,
    pub new_cgroup_ns: bool,
    /// On cgroup v1: each hierarchy's name and the container's cgroup directory in it,
    /// as the parent found them. `None` on cgroup v2.
    pub cgroup_v1_views: Option<&'a [(OsString, PathBuf)]>,
    /// `linux.mountLabel`, given to every filesystem mounted for the container (SELinux).
    pub mount_label: Option<&'a str>,
}

/// A bind source the parent prepared.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    /// The source, opened (O_PATH) in the init's mount namespace.
    Opened(&'a OwnedFd),
    /// A detached, idmapped copy of the source's mount, to attach as it is.
    Tree(&'a OwnedFd),
}

/// Mounts one config entry; `source` is the bind source the parent prepared, if any.
pub fn mount_entry(ctx: &MountContext, entry: &Mount, source: Option<Source>) -> Result<()> {
    let destination = entry.destination();
    let typ = entry.typ().as_deref().unwrap_or("none");
    let options = MountOptions::parse(
        entry.options().as_deref().unwrap_or_default(),
        typ == "bind",
    )
    .with_context(|| format!("mount {typ} on {}", destination.display()))?;
    let result = if options.bind || typ == "bind" {
        bind(ctx, entry, &options, source)
    } else if typ == "cgroup" || typ == "cgroup2" {
        super::cgroupfs::mount_cgroups(ctx, destination, &options)
            .and_then(|()| set_recursive(&verify(ctx.root, destination)?, &options))
    } else {
        if typ == "proc" || typ == "sysfs" {
            ordinary_directory(ctx.root, destination, typ)?;
        }
        filesystem(ctx, entry, typ, &options)
    };
    result.with_context(|| format!("mounting {typ} on {}", destination.display()))
}

/// proc and sysfs go on a real directory of the image, never through a symlink planted
/// where the kernel's own files should be (as runc refuses it too).
fn ordinary_directory(root: &OwnedFd, destination: &Path, typ: &str) -> Result<()> {
    let existing = match paths::open(root, destination, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("opening {}", destination.display()));
        }
    };
    let stat = nix::sys::stat::fstat(&existing)
        .with_context(|| format!("inspecting {}", destination.display()))?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFDIR {
        bail!(
            "{} is not a directory in the rootfs (a symlink?): {typ} must be mounted on an ordinary directory",
            destination.display()
        );
    }
    Ok(())
}

fn filesystem(ctx: &MountContext, entry: &Mount, typ: &str, options: &MountOptions) -> Result<()> {
    let destination = entry.destination();
    let target = paths::mkdir_all(ctx.root, destination)?;
    let source = entry.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let data = with_label(options.data(), ctx.mount_label, typ);
    let mut flags = options.flags.difference(MsFlags::MS_REMOUNT);
    // The image directory, opened before the tmpfs covers it; the copy into a read-only
    // tmpfs is made before it is remounted read-only.
    let covered = if options.copy_up {
        flags.remove(MsFlags::MS_RDONLY);
        Some(
            paths::open(ctx.root, destination, libc::O_RDONLY | libc::O_DIRECTORY)
                .with_context(|| format!("opening {} to copy it up", destination.display()))?,
        )
    } else {
        None
    };
    let attempt = mount(
        Some(&source),
        sys::fd_path(&target).as_str(),
        Some(typ),
        flags,
        data.as_deref(),
    );
    match attempt {
        Ok(()) => {}
        // Without a network namespace of its own, a user namespace may not mount sysfs; give
        // it the host's /sys instead, read-only as runc does.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
            mount(
                Some("/sys"),
                sys::fd_path(&target).as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .context("binding /sys after sysfs was refused")?;
            let mounted = verify(ctx.root, destination)?;
            remount(
                &mounted,
                options.flags | MsFlags::MS_RDONLY,
                options.cleared,
            )?;
        }
        Err(e) => return Err(e.into()),
    }
    let mounted = verify(ctx.root, destination)?;
    if let Some(covered) = covered {
        let new_root = paths::open(ctx.root, destination, libc::O_RDONLY | libc::O_DIRECTORY)
            .context("opening the new tmpfs")?;
        super::copyup::copy_directory(&covered, &new_root)
            .context("tmpcopyup: copying the image's files into the tmpfs")?;
        if options.flags.contains(MsFlags::MS_RDONLY) {
            remount(&mounted, options.flags, options.cleared)?;
        }
    }
    set_recursive(&mounted, options)?;
    propagate(&mounted, options.propagation)
}

/// The data string with the SELinux `context=` option, for filesystems that take labels
/// (not proc, sysfs, cgroup and mqueue, whose files have fixed labels, as in runc).
fn with_label(data: Option<String>, label: Option<&str>, typ: &str) -> Option<String> {
    let Some(label) = label else { return data };
    if matches!(typ, "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue") {
        return data;
    }
    let context = format!("context=\"{label}\"");
    Some(match data {
        Some(data) => format!("{data},{context}"),
        None => context,
    })
}

fn bind(
    ctx: &MountContext,
    entry: &Mount,
    options: &MountOptions,
    prepared: Option<Source>,
) -> Result<()> {
    let (opened, tree) = match prepared {
        Some(Source::Opened(fd)) => (Some(fd), None),
        Some(Source::Tree(fd)) => (Some(fd), Some(fd)),
        None => (None, None),
    };
    let destination = entry.destination();
    let source = entry
        .source()
        .as_ref()
        .context("a bind mount needs a source")?;
    let source = if source.is_absolute() {
        source.clone()
    } else {
        ctx.bundle.join(source)
    };
    let (source, is_dir) = match opened {
        Some(fd) => {
            let stat = nix::sys::stat::fstat(fd)
                .with_context(|| format!("bind source {}", source.display()))?;
            (
                PathBuf::from(sys::fd_path(fd)),
                stat.st_mode & libc::S_IFMT == libc::S_IFDIR,
            )
        }
        None => {
            let metadata = std::fs::metadata(&source)
                .with_context(|| format!("bind source {}", source.display()))?;
            (source, metadata.is_dir())
        }
    };
    let target = if is_dir {
        paths::mkdir_all(ctx.root, destination)?
    } else {
        paths::ensure_file(ctx.root, destination)?
    };
    if let Some(tree) = tree {
        sys::mount_attr::attach_tree(tree, &target).context("attaching the idmapped mount")?;
    } else {
        let mut flags = MsFlags::MS_BIND;
        if options.recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(
            Some(&source),
            sys::fd_path(&target).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )?;
    }
    let mounted = verify(ctx.root, destination)?;
    // A bind takes its source's flags: the ones asked for need a remount of the new mount.
    let wanted = options.flags.difference(MsFlags::MS_REMOUNT);
    if !wanted.is_empty() || !options.cleared.is_empty() {
        remount(&mounted, wanted, options.cleared)?;
    }
    set_recursive(&mounted, options)?;
    propagate(&mounted, options.propagation)
}

/// The recursive options (`rro`, `rnosuid`, ...), for the mount and all mounts below it.
fn set_recursive(mounted: &OwnedFd, options: &MountOptions) -> Result<()> {
    let attr = options.recursive_attr;
    if attr == sys::mount_attr::MountAttr::default() {
        return Ok(());
    }
    sys::mount_attr::set_recursive(mounted, attr).context("applying the recursive mount options")
}

/// Re-resolves `destination` inside the root and checks it is now the root of a mount:
/// if something swapped a path component during the mount, the mount would not be there.
pub fn verify(root: &OwnedFd, destination: &Path) -> Result<OwnedFd> {
    let fd = paths::open_path(root, destination)
        .with_context(|| format!("reopening {} after mounting", destination.display()))?;
    if !sys::is_mount_root(&fd).context("checking the new mount")? {
        bail!(
            "{} is not the mount just made: a path component changed during the mount",
            destination.display()
        );
    }
    Ok(fd)
}

/// Remounts a bind mount with `flags`, keeping the flags the kernel locks on mounts a user
/// namespace inherited (nosuid, nodev, noexec, atime flags) unless asked to clear them.
pub fn remount(target: &OwnedFd, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    let current = fstatvfs(target)
        .context("reading the mount's flags")?
        .flags();
    let mut kept = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(fs) && !cleared.contains(ms) {
            kept |= ms;
        }
    }
    mount(
        None::<&str>,
        sys::fd_path(target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | kept,
        None::<&str>,
    )
    .context("remounting with the requested flags")
}

fn propagate(target: &OwnedFd, propagation: MsFlags) -> Result<()> {
    if propagation.is_empty() {
        return Ok(());
    }
    mount(
        None::<&str>,
        sys::fd_path(target).as_str(),
        None::<&str>,
        propagation,
        None::<&str>,
    )
    .context("setting mount propagation")
}
