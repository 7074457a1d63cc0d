//! `mounts[].options`: every option must take effect, so one that cannot is refused here,
//! before anything is made for the container.

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;

pub fn validate(spec: &Spec) -> Result<()> {
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        crate::rootfs::check_mount_options(mount)
            .with_context(|| format!("mounts[{index}] ({})", mount.destination().display()))?;
    }
    Ok(())
}
