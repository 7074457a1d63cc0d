//! Linux security module labels: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`. Each is applied where the host runs that LSM and refused, with the
//! reason, where it does not: a container meant to run confined must never run unconfined
//! because the field was skipped.

use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Process, Spec};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lsm {
    AppArmor,
    SELinux,
}

impl Lsm {
    pub fn is_enforced(self) -> bool {
        self.absent_because().is_none()
    }

    /// Whether the running kernel enforces this LSM, and if not, how that was found.
    fn absent_because(self) -> Option<&'static str> {
        match self {
            Lsm::AppArmor => {
                let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
                    .map(|v| v.trim() == "Y")
                    .unwrap_or(false);
                (!enabled).then_some(
                    "this host has no AppArmor (/sys/module/apparmor/parameters/enabled is not Y)",
                )
            }
            Lsm::SELinux => (!Path::new("/sys/fs/selinux/enforce").exists())
                .then_some("this host has no SELinux (/sys/fs/selinux is not mounted)"),
        }
    }
}

/// The config's mount label (its process's labels are checked with the process).
pub fn validate(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    check_label(
        "linux.mountLabel",
        linux.and_then(|l| l.mount_label().as_deref()),
        Lsm::SELinux,
    )
}

/// A process's AppArmor profile and SELinux label.
pub fn validate_process(process: &Process) -> Result<()> {
    check_label(
        "process.apparmorProfile",
        process.apparmor_profile().as_deref(),
        Lsm::AppArmor,
    )?;
    check_label(
        "process.selinuxLabel",
        process.selinux_label().as_deref(),
        Lsm::SELinux,
    )
}

/// Refuses a profile or label asked for by `what` (a config field, or a flag such as
/// `exec --apparmor`) when the host lacks its LSM. An empty string means "no label", as
/// in runc.
pub fn check_label(what: &str, value: Option<&str>, lsm: Lsm) -> Result<()> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    if value.contains(['\n', '\0']) {
        bail!("{what} {value:?} contains a newline or NUL byte");
    }
    if let Some(reason) = lsm.absent_because() {
        bail!("{what} {value:?} cannot be applied: {reason}");
    }
    Ok(())
}

/// The label of mounts made for the container, when SELinux is there to use it.
pub fn mount_label(spec: &Spec) -> Option<&str> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.mount_label().as_deref())
        .filter(|l| !l.is_empty())
}

/// Asks the kernel to give the process' next exec its AppArmor profile and SELinux
/// label. Written last before that exec, so no hook the init runs is confined in its place.
pub fn apply_process_labels(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        // The AppArmor-specific file where the kernel has it (5.8+), else the shared one.
        let path = if Path::new("/proc/self/attr/apparmor/exec").exists() {
            "/proc/self/attr/apparmor/exec"
        } else {
            "/proc/self/attr/exec"
        };
        std::fs::write(path, format!("exec {profile}")).with_context(|| {
            format!("process.apparmorProfile {profile:?}: writing {path} (is the profile loaded?)")
        })?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", label).with_context(|| {
            format!("process.selinuxLabel {label:?}: writing /proc/self/attr/exec")
        })?;
    }
    Ok(())
}
