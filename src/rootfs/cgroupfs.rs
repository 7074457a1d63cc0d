//! The `cgroup` mount: what the container sees at /sys/fs/cgroup. On cgroup v2 it is a
//! cgroup2 mount (its own view through a cgroup namespace) or a bind of its own cgroup; on
//! v1 and hybrid hosts it is a tmpfs holding one bind mount per hierarchy, each showing only
//! the container's own cgroup.

use std::path::{Path, PathBuf};

use std::os::fd::{AsFd, AsRawFd};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use super::mounts::{remount, verify, MountContext};
use super::options::MountOptions;
use super::paths;
use crate::cgroups::CGROUP_ROOT;
use crate::sys;
use crate::sys::mount_attr::MountAttr;

const DIRECTORY: i32 = libc::O_PATH | libc::O_DIRECTORY;

pub fn mount_cgroups(ctx: &MountContext, destination: &Path, options: &MountOptions) -> Result<()> {
    let Some(views) = ctx.cgroup_v1_views else {
        return unified(ctx, destination, options);
    };
    let target = paths::mkdir_all(ctx.root, destination)?;
    mount(
        Some("tmpfs"),
        sys::fd_path(&target).as_str(),
        Some("tmpfs"),
        options.flags & !MsFlags::MS_RDONLY,
        Some("mode=755"),
    )
    .context("mounting the tmpfs for cgroup hierarchies")?;
    // Everything below is made in this fresh tmpfs, which nothing else can reach yet:
    // each name is looked up from its root, not from the container's root through /sys
    // again (every level of /sys takes the kernel's sysfs lock, which parallel starts
    // contend on).
    let tmpfs = verify(ctx.root, destination)?;
    // The sources, the container's directories in the host's hierarchies, are looked up
    // from one handle on the host's /sys/fs/cgroup for the same reason.
    let host = nix::fcntl::open(
        CGROUP_ROOT,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok();
    for (name, own) in views {
        let shown = || destination.join(name).display().to_string();
        let source_fd = own
            .strip_prefix(CGROUP_ROOT)
            .ok()
            .zip(host.as_ref())
            .and_then(|(below, host)| sys::open_beneath(host.as_raw_fd(), below, DIRECTORY).ok());
        nix::sys::stat::mkdirat(
            tmpfs.as_fd(),
            name.as_os_str(),
            Mode::from_bits_truncate(0o755),
        )
        .with_context(|| format!("creating {}", shown()))?;
        let dir = sys::open_beneath(tmpfs.as_raw_fd(), Path::new(name), DIRECTORY)
            .with_context(|| format!("opening {}", shown()))?;
        let source = match &source_fd {
            Some(fd) => PathBuf::from(sys::fd_path(fd)),
            None => own.clone(),
        };
        mount(
            Some(source.as_path()),
            sys::fd_path(&dir).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding {}", own.display()))?;
        let mounted = sys::open_beneath(tmpfs.as_raw_fd(), Path::new(name), DIRECTORY)
            .with_context(|| format!("reopening {} after mounting", shown()))?;
        if !sys::is_mount_root(&mounted).context("checking the new mount")? {
            bail!("{} is not the mount just made", shown());
        }
        // Co-mounted controllers ("cpu,cpuacct") are also reachable under each name.
        let name = name.to_string_lossy();
        if name.contains(',') {
            for controller in name.split(',') {
                let _ = nix::unistd::symlinkat(name.as_ref(), tmpfs.as_fd(), controller);
            }
        }
    }
    // The options, read-only above all, for the tmpfs and every bind in it at once: one
    // mount_setattr instead of a remount of each (every mount change takes the kernel's
    // global namespace lock, which parallel starts queue on).
    let attr = options.per_mount_attr();
    if attr != MountAttr::default() {
        sys::mount_attr::set_recursive(&tmpfs, attr)
            .context("applying the mount options to the cgroup hierarchies")?;
    }
    Ok(())
}

fn unified(ctx: &MountContext, destination: &Path, options: &MountOptions) -> Result<()> {
    let target = paths::mkdir_all(ctx.root, destination)?;
    if ctx.new_cgroup_ns {
        mount(
            Some("cgroup2"),
            sys::fd_path(&target).as_str(),
            Some("cgroup2"),
            options.flags,
            None::<&str>,
        )
        .context("mounting cgroup2")?;
        verify(ctx.root, destination)?;
        return Ok(());
    }
    let own = Path::new(CGROUP_ROOT).join(paths::relative(ctx.cgroup_path));
    mount(
        Some(&own),
        sys::fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("binding {}", own.display()))?;
    let mounted = verify(ctx.root, destination)?;
    remount(&mounted, options.flags, options.cleared)
}
