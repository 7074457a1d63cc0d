//! Configs that leave the container in one of the host's (or another container's)
//! namespaces where skiff would otherwise change that namespace: only what can be done
//! without touching it is accepted, and the rest refused with the reason.

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Without a mount namespace the container shares the host's mounts: skiff makes none
/// (every mount, mask, read-only path, device node and the root's propagation would land
/// on the host) and only changes the container's root to `root.path` with chroot, which
/// affects no one else. Settings that need mounts are refused naming the field.
pub fn validate_without_mount_namespace(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let has_mount_ns = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .any(|ns| ns.typ() == LinuxNamespaceType::Mount);
    if has_mount_ns {
        return Ok(());
    }
    let non_empty = |v: Option<usize>| v.unwrap_or(0) > 0;
    let needs_mounts = [
        ("mounts", non_empty(spec.mounts().as_ref().map(Vec::len))),
        (
            "linux.maskedPaths",
            non_empty(linux.and_then(|l| l.masked_paths().as_ref()).map(Vec::len)),
        ),
        (
            "linux.readonlyPaths",
            non_empty(
                linux
                    .and_then(|l| l.readonly_paths().as_ref())
                    .map(Vec::len),
            ),
        ),
        (
            "linux.devices",
            non_empty(linux.and_then(|l| l.devices().as_ref()).map(Vec::len)),
        ),
        (
            "linux.rootfsPropagation",
            linux
                .and_then(|l| l.rootfs_propagation().as_ref())
                .is_some(),
        ),
        (
            "linux.sysctl",
            non_empty(linux.and_then(|l| l.sysctl().as_ref()).map(|m| m.len())),
        ),
        (
            "root.readonly",
            spec.root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        ),
        // The pty comes from the container's own devpts, which only a mount provides.
        (
            "process.terminal",
            spec.process()
                .as_ref()
                .and_then(|p| p.terminal())
                .unwrap_or(false),
        ),
    ];
    if let Some((field, _)) = needs_mounts.iter().find(|(_, set)| *set) {
        bail!("{field} needs a mount namespace: without one in linux.namespaces it would change the host's mounts");
    }
    Ok(())
}
