//! `linux.uidMappings` / `linux.gidMappings` belong to a new user namespace: without one
//! there is nothing to write them to, and dropping them would run the container with the
//! host's IDs where the config asked for shifted ones.

use anyhow::{bail, Result};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

pub fn validate(linux: &Linux) -> Result<()> {
    let new_user_ns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none());
    if new_user_ns {
        return Ok(());
    }
    for (field, mappings) in [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ] {
        if !mappings.as_deref().unwrap_or_default().is_empty() {
            bail!("{field} is set but linux.namespaces has no new user namespace");
        }
    }
    Ok(())
}
