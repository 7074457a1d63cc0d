//! Linux security module labels. skiff applies neither AppArmor nor SELinux, so a config
//! asking for a profile or label is refused: a container meant to run confined must not
//! run unconfined because the field was skipped.

use anyhow::{bail, Result};
use oci_spec::runtime::{Process, Spec};

/// The config's mount label (its process's labels are checked with the process).
pub fn validate(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    refuse_label(
        "linux.mountLabel",
        linux.and_then(|l| l.mount_label().as_deref()),
    )
}

/// A process's AppArmor profile and SELinux label.
pub fn validate_process(process: &Process) -> Result<()> {
    refuse_label(
        "process.apparmorProfile",
        process.apparmor_profile().as_deref(),
    )?;
    refuse_label("process.selinuxLabel", process.selinux_label().as_deref())
}

/// Refuses a profile or label asked for by `what` (a config field, or a flag such as
/// `exec --apparmor`). An empty string means "no label", as in runc.
pub fn refuse_label(what: &str, value: Option<&str>) -> Result<()> {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        bail!("{what} {value:?} is not supported: skiff applies no AppArmor or SELinux labels");
    }
    Ok(())
}
