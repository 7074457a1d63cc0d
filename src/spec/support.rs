//! What skiff can honour, in one place: the validator refuses what is off here, and
//! `skiff features` reports what is on. A change that implements one of these flips it
//! here and removes nothing else from `features`.

use oci_spec::runtime::LinuxNamespaceType;

/// The namespaces a container can be given (created or joined), time namespaces (with
/// `linux.timeOffsets`) included.
pub const NAMESPACES: &[LinuxNamespaceType] = &[
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Time,
];

/// `mounts[].uidMappings`/`gidMappings` and the `idmap`/`ridmap` options.
pub const IDMAPPED_MOUNTS: bool = true;

/// AppArmor profiles (`process.apparmorProfile`, `exec --apparmor`): applied where the
/// host runs AppArmor, refused elsewhere, so enabled exactly where a profile would work.
pub fn apparmor() -> bool {
    crate::spec::lsm::Lsm::AppArmor.is_enforced()
}

/// SELinux labels (`process.selinuxLabel`, `linux.mountLabel`, `exec --process-label`):
/// as for AppArmor, enabled where the host runs SELinux.
pub fn selinux() -> bool {
    crate::spec::lsm::Lsm::SELinux.is_enforced()
}

/// `linux.intelRdt` (resctrl).
pub const INTEL_RDT: bool = false;

/// The rdma cgroup controller (`linux.resources.rdma`).
pub const RDMA: bool = false;

pub fn namespace_supported(kind: LinuxNamespaceType) -> bool {
    NAMESPACES.contains(&kind)
}

/// A namespace type as config.json and the features document spell it ("mount", "network").
pub fn namespace_name(kind: LinuxNamespaceType) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{kind:?}"))
}
