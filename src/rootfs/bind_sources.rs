//! Bind sources a user namespace cannot reach. The init is born in the container's user
//! namespace, where host root's files (a source inside a 0700 directory) are out of reach.
//! So the parent, still host root, joins the init's new mount namespace for a moment
//! (`process::parent::send_bind_sources`), opens each bind source there as an `O_PATH`
//! descriptor (which the init's mounts accept, being of its own namespace), and hands them
//! over a socketpair; the init binds from those.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use oci_spec::runtime::{Mount, Spec};

/// The two ends of the hand-over: the parent sends on `parent`, the init reads `init`.
pub struct SourceChannel {
    pub parent: OwnedFd,
    pub init: OwnedFd,
}

pub fn channel() -> Result<SourceChannel> {
    let (parent, init) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("creating the bind-source socketpair")?;
    Ok(SourceChannel { parent, init })
}

pub fn is_bind(mount: &Mount) -> bool {
    mount.typ().as_deref() == Some("bind")
        || mount
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The config's bind mounts: index in `mounts` and source path as the host sees it.
pub fn sources(spec: &Spec, bundle: &Path) -> Vec<(usize, PathBuf)> {
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| is_bind(m))
        .filter_map(|(index, m)| {
            let source = m.source().as_ref()?;
            Some((index, bundle.join(source)))
        })
        .collect()
}

/// Opens each source as an `O_PATH` descriptor, in whatever mount namespace the caller is
/// in: a bind takes its source only from the mount namespace it is made in, so the parent
/// calls this from inside the init's.
pub fn open(sources: &[(usize, PathBuf)]) -> Result<Vec<(usize, OwnedFd)>> {
    sources
        .iter()
        .map(|(index, path)| {
            let fd = nix::fcntl::open(
                path,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .with_context(|| format!("mounts[{index}]: bind source {}", path.display()))?;
            Ok((*index, fd))
        })
        .collect()
}

/// Parent side: hands the opened sources to the init, each tagged with its mount index.
pub fn send(socket: &OwnedFd, opened: Vec<(usize, OwnedFd)>) -> Result<()> {
    for (index, fd) in opened {
        crate::sys::scm::send_fd(socket, &fd, &(index as u32).to_ne_bytes())
            .with_context(|| format!("mounts[{index}]: handing the bind source to the init"))?;
    }
    Ok(())
}

/// Init side: the descriptors `send` opened, by mount index.
pub fn receive(spec: &Spec, socket: &OwnedFd) -> Result<HashMap<usize, OwnedFd>> {
    let wanted = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m) && m.source().is_some())
        .count();
    // The parent sent everything before telling the init to go; the timeout only bounds
    // the wait if it did not.
    let timeout = nix::sys::time::TimeVal::new(20, 0);
    nix::sys::socket::setsockopt(
        &socket.as_fd(),
        nix::sys::socket::sockopt::ReceiveTimeout,
        &timeout,
    )
    .context("bounding the wait for bind sources")?;
    let mut received = HashMap::with_capacity(wanted);
    while received.len() < wanted {
        let mut index = [0u8; 4];
        let (_, fd) = crate::sys::scm::receive_fd(socket, &mut index)
            .context("receiving the bind sources")?;
        let Some(fd) = fd else {
            bail!("the parent sent a bind source without a descriptor");
        };
        received.insert(u32::from_ne_bytes(index) as usize, fd);
    }
    Ok(received)
}
