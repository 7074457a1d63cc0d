//! The `cgroup` mount: what the container sees at /sys/fs/cgroup. On cgroup v2 it is a
//! cgroup2 mount (its own view through a cgroup namespace) or a bind of its own cgroup; on
//! v1 and hybrid hosts it is a tmpfs holding one bind mount per hierarchy, each showing only
//! the container's own cgroup.

use std::path::Path;

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};

use super::mounts::{remount, verify, MountContext};
use super::options::MountOptions;
use super::paths;
use crate::sys;

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
    verify(ctx.root, destination)?;
    for (name, own) in views {
        let inside = destination.join(name);
        let dir = paths::mkdir_all(ctx.root, &inside)?;
        mount(
            Some(own.as_path()),
            sys::fd_path(&dir).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding {}", own.display()))?;
        let mounted = verify(ctx.root, &inside)?;
        remount(&mounted, options.flags, options.cleared)?;
        // Co-mounted controllers ("cpu,cpuacct") are also reachable under each name.
        let name = name.to_string_lossy();
        if name.contains(',') {
            let parent = paths::open_path(ctx.root, destination)?;
            for controller in name.split(',') {
                let _ = nix::unistd::symlinkat(
                    name.as_ref(),
                    std::os::fd::AsFd::as_fd(&parent),
                    controller,
                );
            }
        }
    }
    if options.flags.contains(MsFlags::MS_RDONLY) {
        let tmpfs = verify(ctx.root, destination)?;
        remount(&tmpfs, options.flags, options.cleared)?;
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
    let own = Path::new("/sys/fs/cgroup").join(paths::relative(ctx.cgroup_path));
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
