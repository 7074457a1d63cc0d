//! `--no-pivot`: the rootfs is moved onto `/` and chrooted into, so the host's mounts stay
//! in the container's mount namespace, out of sight but not gone. The kernel lets a user
//! namespace mount a fresh procfs or sysfs only if one is already fully visible somewhere
//! in the mount namespace; the host's unmasked /proc and /sys would be. So before the move
//! every proc and sysfs mount outside the rootfs is detached, or, where the kernel keeps it
//! (mounts a user namespace inherited are locked), covered with an empty tmpfs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

pub fn hide_host_kernel_filesystems(rootfs: &Path) -> Result<()> {
    let rootfs = std::fs::canonicalize(rootfs)
        .with_context(|| format!("resolving rootfs {}", rootfs.display()))?;
    let mountinfo = crate::mountinfo::read()?;
    let mut targets = host_kernel_mounts(&mountinfo, &rootfs);
    // Deepest first, so nothing is detached from under a mount still to be handled.
    targets.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for target in targets {
        match umount2(&target, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            // Already gone with a parent detached before it.
            Err(nix::errno::Errno::ENOENT) => {}
            Err(_) => mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0,mode=0555"),
            )
            .with_context(|| format!("covering the host's {}", target.display()))?,
        }
    }
    Ok(())
}

/// The mount points of whole (root "/") proc and sysfs mounts that are not inside `rootfs`.
fn host_kernel_mounts(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    crate::mountinfo::entries(mountinfo)
        .filter(|m| m.root == Path::new("/") && matches!(m.fstype, "proc" | "sysfs"))
        .map(|m| m.mount_point)
        .filter(|mount_point| !mount_point.starts_with(rootfs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_proc_and_sysfs_outside_the_rootfs() {
        let mountinfo = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
23 1 0:22 / /sys rw - sysfs sysfs rw
24 23 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw
25 1 0:21 /sys /srv/proc\\040sys ro - proc proc rw
26 1 0:24 / /b/rootfs/proc rw - proc proc rw
27 1 0:25 / /b/rootfs2/sys rw - sysfs sysfs rw
";
        assert_eq!(
            host_kernel_mounts(mountinfo, Path::new("/b/rootfs")),
            vec![
                PathBuf::from("/proc"),
                PathBuf::from("/sys"),
                PathBuf::from("/b/rootfs2/sys")
            ]
        );
    }
}
