//! The container's root filesystem, in the order the kernel needs it: private propagation,
//! the rootfs bound onto itself, the config's mounts, devices, pivot_root; then, from inside,
//! sysctls, masked and read-only paths, and the read-only root.

pub mod bind_sources;
mod cgroupfs;
mod copyup;
mod devices;
pub mod idmap;
mod masks;
mod mounts;
mod no_pivot;
pub mod options;
pub mod paths;

use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

pub use masks::bind_file;
pub use mounts::MountContext;
pub use options::check as check_mount_options;

/// The mount(2) propagation flags for a propagation name, `None` if it is not one.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    PROPAGATION_OPTIONS
        .iter()
        .find(|(option, _)| *option == name)
        .map(|&(_, flags)| flags)
}

/// The propagation modes, as mount options and as `linux.rootfsPropagation` values.
pub const PROPAGATION_OPTIONS: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

pub struct RootfsPlan<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup_path: &'a Path,
    pub new_cgroup_ns: bool,
    pub cgroup_v1_views: Option<&'a [(std::ffi::OsString, std::path::PathBuf)]>,
    pub in_user_ns: bool,
    pub no_pivot: bool,
    /// Bind sources the parent opened for the init, by index in `mounts`.
    pub bind_sources: &'a std::collections::HashMap<usize, OwnedFd>,
    /// Idmapped copies of bind sources the parent made, detached, by index in `mounts`.
    pub idmapped: &'a std::collections::HashMap<usize, OwnedFd>,
}

/// Everything up to and including the switch into the new root. On return the process'
/// root and working directory are the container's. `before_pivot` runs once every mount
/// is made, while the process still sees the host's root (the create hooks' moment).
pub fn enter(plan: &RootfsPlan, before_pivot: &mut dyn FnMut() -> Result<()>) -> Result<()> {
    // Nothing mounted from here on may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("making / a recursive slave")?;
    mount(
        Some(plan.rootfs),
        plan.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("binding rootfs {}", plan.rootfs.display()))?;
    let root: OwnedFd = std::fs::File::open(plan.rootfs)
        .with_context(|| format!("opening rootfs {}", plan.rootfs.display()))?
        .into();

    let ctx = MountContext {
        root: &root,
        bundle: plan.bundle,
        cgroup_path: plan.cgroup_path,
        new_cgroup_ns: plan.new_cgroup_ns,
        cgroup_v1_views: plan.cgroup_v1_views,
        mount_label: crate::spec::lsm::mount_label(plan.spec),
    };
    let spec_mounts = plan.spec.mounts().as_deref().unwrap_or_default();
    let mut readonly_dev = false;
    for (index, entry) in spec_mounts.iter().enumerate() {
        let source = match plan.idmapped.get(&index) {
            Some(tree) => Some(mounts::Source::Tree(tree)),
            None => plan.bind_sources.get(&index).map(mounts::Source::Opened),
        };
        // A read-only /dev is mounted writable, filled (pts, shm, nodes, links), and made
        // read-only at the end, like runc: mounted read-only it could not be filled.
        if let Some(writable) = writable_dev(entry) {
            mounts::mount_entry(&ctx, &writable, source)?;
            readonly_dev = true;
        } else {
            mounts::mount_entry(&ctx, entry, source)?;
        }
    }
    let dev_from_host = spec_mounts
        .iter()
        .any(|m| paths::relative(m.destination()) == Path::new("dev") && bind_sources::is_bind(m));
    let spec_devices = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    devices::create(&root, &spec_devices, !dev_from_host, plan.in_user_ns)?;
    if readonly_dev {
        let terminal = plan
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        if terminal {
            // The pty is bound here later, when /dev can no longer take a new file.
            paths::ensure_file(&root, Path::new("/dev/console"))?;
        }
        let dev = mounts::verify(&root, Path::new("/dev"))?;
        mounts::remount(&dev, MsFlags::MS_RDONLY, MsFlags::empty())
            .context("making /dev read-only")?;
    }

    before_pivot()?;
    nix::unistd::fchdir(&root).context("entering the rootfs")?;
    if plan.no_pivot {
        no_pivot::hide_host_kernel_filesystems(plan.rootfs)?;
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .context("moving the rootfs onto /")?;
        nix::unistd::chroot(".").context("chroot into the rootfs")?;
    } else {
        pivot()?;
    }
    nix::unistd::chdir("/").context("chdir to the new root")?;
    Ok(())
}

/// For a container without a mount namespace of its own: no mount at all (it would be
/// the host's), only the root changed to the rootfs with chroot, which affects this
/// process alone. `before_root` runs while the host's root is still the process' own.
pub fn enter_without_mount_namespace(
    rootfs: &Path,
    before_root: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    before_root()?;
    nix::unistd::chdir(rootfs).with_context(|| format!("entering rootfs {}", rootfs.display()))?;
    nix::unistd::chroot(".").context("chroot into the rootfs")?;
    nix::unistd::chdir("/").context("chdir to the new root")?;
    Ok(())
}

/// For a /dev filesystem mount (not a bind) with `ro`: the same entry without it.
fn writable_dev(entry: &oci_spec::runtime::Mount) -> Option<oci_spec::runtime::Mount> {
    let options = entry.options().as_deref().unwrap_or_default();
    let is_bind = entry.typ().as_deref() == Some("bind")
        || options.iter().any(|o| o == "bind" || o == "rbind");
    let readonly = options.iter().rfind(|o| *o == "ro" || *o == "rw");
    if paths::relative(entry.destination()) != Path::new("dev")
        || is_bind
        || readonly.map(String::as_str) != Some("ro")
    {
        return None;
    }
    let mut writable = entry.clone();
    writable.set_options(Some(
        options
            .iter()
            .filter(|o| *o != "ro" && *o != "rw")
            .cloned()
            .collect(),
    ));
    Some(writable)
}

/// pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
/// the container's root, with no directory kept for the old one.
fn pivot() -> Result<()> {
    let old_root = std::fs::File::open("/").context("opening the old root")?;
    nix::unistd::pivot_root(".", ".").context("pivot_root")?;
    // Work on the old root (now stacked on top of the new one), not on the new root:
    // making "." a slave recursively from the new root would strip the container's own
    // shared mounts of their propagation.
    nix::unistd::fchdir(&old_root).context("entering the old root")?;
    // The old root must not propagate its unmount to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .context("making the old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the old root")?;
    Ok(())
}

/// The steps that run inside the new root, after the container's /proc is mounted.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let root = masks::open_root()?;
    for (key, value) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        write_sysctl(&root, key, value).with_context(|| format!("linux.sysctl: setting {key}"))?;
    }
    let mut dev_null = None;
    for masked in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        masks::mask(&root, Path::new(masked), &mut dev_null)
            .with_context(|| format!("masking {masked}"))?;
    }
    for readonly in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        masks::make_readonly(&root, Path::new(readonly))
            .with_context(|| format!("making {readonly} read-only"))?;
    }
    if let Some(propagation) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let flags = propagation_flags(propagation).unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .context("linux.rootfsPropagation")?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        masks::make_readonly(&root, Path::new("/")).context("making the root read-only")?;
    }
    Ok(())
}

/// Writes one (already validated) sysctl through the container's own procfs: the file is
/// resolved inside the root and must be on a proc filesystem, so an image whose /proc is
/// not one gets an error instead of a file written somewhere else.
fn write_sysctl(root: &OwnedFd, key: &str, value: &str) -> Result<()> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    let file = paths::open(root, &path, libc::O_WRONLY | libc::O_NOFOLLOW)
        .with_context(|| format!("opening {}", path.display()))?;
    let fs = nix::sys::statfs::fstatfs(&file).context("checking the sysctl's filesystem")?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        bail!("{} is not on the container's procfs", path.display());
    }
    nix::unistd::write(&file, value.as_bytes())
        .with_context(|| format!("writing {value:?} to {}", path.display()))?;
    Ok(())
}
