//! `linux.sysctl`: only keys that belong to a namespace the container has of its own. Every
//! other key is a host-wide setting (fs.*, vm.*, kernel.core_pattern, ...) that the init,
//! running as host root, would change for the whole machine.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Linux, LinuxNamespace, LinuxNamespaceType};

/// The kernel.* keys that live in the IPC namespace (besides everything under fs.mqueue).
const IPC_KERNEL_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The kernel.* keys that live in the UTS namespace.
const UTS_KERNEL_KEYS: &[&str] = &["kernel.hostname", "kernel.domainname"];

pub fn validate(linux: &Linux) -> Result<()> {
    let Some(sysctl) = linux.sysctl() else {
        return Ok(());
    };
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    for key in sysctl.keys() {
        check_key_syntax(key)?;
        let Some(kind) = owning_namespace(key) else {
            bail!("linux.sysctl: {key} is not namespaced: it would change the host's setting");
        };
        if !container_owns(namespaces, kind)
            .with_context(|| format!("linux.sysctl: checking the namespace for {key}"))?
        {
            bail!(
                "linux.sysctl: {key} needs a {} namespace of the container's own, not the host's",
                namespace_name(kind)
            );
        }
    }
    Ok(())
}

/// A key is dot-separated names of letters, digits, `_` and `-`: no `/`, no empty, `.` or
/// `..` component, so it cannot name any file but the one under /proc/sys it spells.
fn check_key_syntax(key: &str) -> Result<()> {
    let valid = !key.is_empty()
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if !valid {
        bail!("linux.sysctl: invalid key {key:?}");
    }
    Ok(())
}

/// The namespace that owns a sysctl, `None` for host-wide ones.
fn owning_namespace(key: &str) -> Option<LinuxNamespaceType> {
    if IPC_KERNEL_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if UTS_KERNEL_KEYS.contains(&key) {
        Some(LinuxNamespaceType::Uts)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else {
        None
    }
}

fn namespace_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        _ => "network",
    }
}

/// Whether the container gets a namespace of `kind` that is not the host's: a new one, or
/// one joined by path that is not the namespace skiff itself runs in.
pub(super) fn container_owns(
    namespaces: &[LinuxNamespace],
    kind: LinuxNamespaceType,
) -> Result<bool> {
    let Some(ns) = namespaces.iter().find(|ns| ns.typ() == kind) else {
        return Ok(false);
    };
    let Some(path) = ns.path() else {
        return Ok(true);
    };
    let own = Path::new("/proc/self/ns").join(namespace_file(kind));
    let joined = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let host = std::fs::metadata(&own).with_context(|| format!("reading {}", own.display()))?;
    Ok((joined.dev(), joined.ino()) != (host.dev(), host.ino()))
}

fn namespace_file(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        _ => "net",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_namespace() {
        assert_eq!(
            owning_namespace("kernel.shmmax"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(
            owning_namespace("fs.mqueue.msg_max"),
            Some(LinuxNamespaceType::Ipc)
        );
        assert_eq!(
            owning_namespace("kernel.domainname"),
            Some(LinuxNamespaceType::Uts)
        );
        assert_eq!(
            owning_namespace("net.ipv4.ip_forward"),
            Some(LinuxNamespaceType::Network)
        );
        for host_wide in [
            "fs.lease-break-time",
            "vm.overcommit_memory",
            "kernel.core_pattern",
            "kernel.shmmaxx",
            "fs.mqueue",
            "netfilter.x",
        ] {
            assert_eq!(owning_namespace(host_wide), None, "{host_wide}");
        }
    }

    #[test]
    fn path_tricks_are_invalid() {
        for key in [
            "",
            "net/ipv4/ip_forward",
            "net.ipv4..ip_forward",
            "net.ipv4.conf.all/../../../fs/lease-break-time",
            "net..",
            ".net.ipv4",
            "net.ipv4.",
            "net.ipv4.ip forward",
        ] {
            assert!(check_key_syntax(key).is_err(), "{key:?}");
        }
        check_key_syntax("net.ipv4.conf.eth-0.forwarding").unwrap();
    }
}
