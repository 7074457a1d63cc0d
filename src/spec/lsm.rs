//! Linux security module labels. skiff applies neither AppArmor nor SELinux, so a config
//! asking for a profile or label is refused: a container meant to run confined must not
//! run unconfined because the field was skipped.

use anyhow::{bail, Result};
use oci_spec::runtime::Spec;

pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    let requested = [
        (
            "process.apparmorProfile",
            process.and_then(|p| p.apparmor_profile().as_deref()),
        ),
        (
            "process.selinuxLabel",
            process.and_then(|p| p.selinux_label().as_deref()),
        ),
        (
            "linux.mountLabel",
            linux.and_then(|l| l.mount_label().as_deref()),
        ),
    ];
    for (field, value) in requested {
        refuse_label(field, value)?;
    }
    Ok(())
}

/// Refuses a profile or label asked for by `what` (a config field, or a flag such as
/// `exec --apparmor`). An empty string means "no label", as in runc.
pub fn refuse_label(what: &str, value: Option<&str>) -> Result<()> {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        bail!("{what} {value:?} is not supported: skiff applies no AppArmor or SELinux labels");
    }
    Ok(())
}
