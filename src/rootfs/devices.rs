//! The container's /dev: the default device nodes every container gets, the config's
//! `linux.devices`, and the standard symlinks. Nodes are made with mknod, or bind-mounted
//! from the host inside a user namespace, where mknod is not allowed.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::mounts::verify;
use super::paths;
use crate::sys;

struct Node {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The character devices the runtime spec requires in every container.
fn defaults() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Node {
        path: Path::new("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn from_spec(device: &LinuxDevice) -> Node {
    let kind = match device.typ() {
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    Node {
        path: device.path().clone(),
        kind,
        major: device.major() as u64,
        minor: device.minor() as u64,
        mode: device.file_mode().unwrap_or(0o666) & 0o7777,
        uid: device.uid().unwrap_or(0),
        gid: device.gid().unwrap_or(0),
    }
}

/// Creates the default nodes and symlinks (unless /dev is bound from the host) and the
/// config's devices.
pub fn create(
    root: &OwnedFd,
    spec_devices: &[LinuxDevice],
    own_dev: bool,
    in_user_ns: bool,
) -> Result<()> {
    let mut nodes = if own_dev { defaults() } else { Vec::new() };
    for device in spec_devices {
        nodes.retain(|n| n.path != *device.path());
        nodes.push(from_spec(device));
    }
    // One handle per parent directory (all of /dev's own nodes share one), and no umask
    // while the nodes are made: mknod gives each its exact mode, and no chmod follows.
    let mut parent: Option<(PathBuf, OwnedFd)> = None;
    let previous_umask = sys::set_umask(0);
    let made = nodes.iter().try_for_each(|node| {
        make_node(root, node, in_user_ns, &mut parent)
            .with_context(|| format!("creating device {}", node.path.display()))
    });
    sys::set_umask(previous_umask);
    made?;
    if own_dev {
        links(root)?;
    }
    Ok(())
}

/// Makes `node`; `parent` holds the handle of the last parent directory, reused while the
/// nodes share it.
fn make_node(
    root: &OwnedFd,
    node: &Node,
    in_user_ns: bool,
    parent: &mut Option<(PathBuf, OwnedFd)>,
) -> Result<()> {
    let parent_path = node.path.parent().unwrap_or(Path::new("/"));
    let name = node
        .path
        .file_name()
        .context("a device path needs a file name")?;
    // A fifo needs no privilege to make; devices do.
    if in_user_ns && node.kind != SFlag::S_IFIFO {
        // Bind the host's node: a user namespace cannot mknod, and the device cgroup
        // still decides what may be opened. Only the very device asked for: the path is
        // the config's, and could name any host file.
        let host_node = host_device(node)?;
        let target = paths::ensure_file(root, &node.path)?;
        mount(
            Some(sys::fd_path(&host_node).as_str()),
            sys::fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding host {}", node.path.display()))?;
        verify(root, &node.path)?;
        return Ok(());
    }
    let parent = match parent {
        Some((path, fd)) if path == parent_path => fd,
        slot => {
            &slot
                .insert((
                    parent_path.to_path_buf(),
                    paths::mkdir_all(root, parent_path)?,
                ))
                .1
        }
    };
    let _ = nix::unistd::unlinkat(
        parent.as_fd(),
        name,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    // The umask is 0 here (see `create`): the node gets exactly `node.mode`.
    mknodat(
        parent.as_fd(),
        name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        makedev(node.major, node.minor),
    )?;
    // The owner asked for (a set-group-ID directory would give its own group). Never
    // through a symlink: one swapped in for the node would have its own owner changed.
    nix::unistd::fchownat(
        parent.as_fd(),
        name,
        Some(nix::unistd::Uid::from_raw(node.uid)),
        Some(nix::unistd::Gid::from_raw(node.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// The host's node at `node.path`, opened without following a symlink, checked to be a
/// device of the node's type and number.
fn host_device(node: &Node) -> Result<OwnedFd> {
    let fd: OwnedFd = nix::fcntl::open(
        &node.path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening host {}", node.path.display()))?;
    let stat = nix::sys::stat::fstat(&fd)
        .with_context(|| format!("inspecting host {}", node.path.display()))?;
    let wanted = makedev(node.major, node.minor);
    if stat.st_mode & libc::S_IFMT != node.kind.bits() || stat.st_rdev != wanted {
        anyhow::bail!(
            "host {} is not the {} device {}:{} asked for: a user namespace can only bind a real host device",
            node.path.display(),
            if node.kind == SFlag::S_IFBLK { "block" } else { "character" },
            node.major,
            node.minor
        );
    }
    Ok(fd)
}

/// /dev/fd, the stdio links, /dev/ptmx into the devpts instance, and /dev/core.
fn links(root: &OwnedFd) -> Result<()> {
    let dev = paths::mkdir_all(root, Path::new("/dev"))?;
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        match nix::unistd::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("linking /dev/{name}")),
        }
    }
    let _ = nix::unistd::unlinkat(dev.as_fd(), "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir);
    nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx").context("linking /dev/ptmx")?;
    for dir in ["/dev/shm", "/dev/pts"] {
        paths::mkdir_all(root, Path::new(dir))?;
    }
    Ok(())
}
