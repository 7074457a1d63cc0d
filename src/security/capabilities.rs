//! The five capability sets from `process.capabilities`.

use std::collections::HashSet;

use anyhow::{bail, Context, Result};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

/// Converts a spec capability to the `caps` crate's, through the `CAP_*` name both share.
fn convert(set: Option<&HashSet<oci_spec::runtime::Capability>>) -> Result<CapsHashSet> {
    let mut converted = CapsHashSet::new();
    for cap in set.into_iter().flatten() {
        let name = serde_json::to_value(cap)?;
        let name = name.as_str().unwrap_or_default();
        let parsed: Capability = name
            .parse()
            .with_context(|| format!("process.capabilities: unknown capability {name}"))?;
        converted.insert(parsed);
    }
    Ok(converted)
}

/// The lowest-numbered capability of `wanted` that `held` lacks.
fn first_missing(wanted: &CapsHashSet, held: &CapsHashSet) -> Option<Capability> {
    wanted
        .iter()
        .filter(|cap| !held.contains(cap))
        .min_by_key(|cap| cap.index())
        .copied()
}

pub struct CapabilitySets {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapabilitySets {
    pub fn from_spec(spec: Option<&LinuxCapabilities>) -> Result<CapabilitySets> {
        Ok(CapabilitySets {
            bounding: convert(spec.and_then(|c| c.bounding().as_ref()))?,
            effective: convert(spec.and_then(|c| c.effective().as_ref()))?,
            permitted: convert(spec.and_then(|c| c.permitted().as_ref()))?,
            inheritable: convert(spec.and_then(|c| c.inheritable().as_ref()))?,
            ambient: convert(spec.and_then(|c| c.ambient().as_ref()))?,
        })
    }

    /// Shrinks the bounding set; needs CAP_SETPCAP, so it runs before the user switch.
    pub fn drop_bounding(&self) -> Result<()> {
        for cap in caps::all() {
            if !self.bounding.contains(&cap) {
                match caps::drop(None, CapSet::Bounding, cap) {
                    Ok(()) => {}
                    // Capabilities newer than this kernel are not in its bounding set anyway.
                    Err(_) if !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(true) => {}
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("dropping {cap} from the bounding set"))
                    }
                }
            }
        }
        Ok(())
    }

    /// Sets inheritable, permitted, effective and ambient, in the order the kernel allows.
    pub fn apply(&self) -> Result<()> {
        // After a switch to a non-root uid the effective set is empty; re-raise it from what
        // is still permitted so CAP_SETPCAP is there to set the inheritable set.
        let permitted_now =
            caps::read(None, CapSet::Permitted).context("reading permitted capabilities")?;
        caps::set(None, CapSet::Effective, &permitted_now)
            .context("raising effective capabilities")?;
        // What skiff does not hold itself it cannot hand on, and the kernel's answer would
        // be a bare EPERM: name the capability (a host may withhold one, as this one does
        // CAP_SYS_RESOURCE). The kernel's rules: inheritable within the bounding set,
        // permitted (and so effective) within what is permitted now.
        // Only the inheritable capabilities are checked against the bounding set: reading
        // all of it is one prctl per capability the kernel knows, forty-one here. One the
        // kernel does not know (EINVAL) is not held, and is named below.
        let bounding_now: CapsHashSet = self
            .inheritable
            .iter()
            .filter(|cap| caps::has_cap(None, CapSet::Bounding, **cap).unwrap_or(false))
            .copied()
            .collect();
        for (field, wanted, held, which) in [
            ("inheritable", &self.inheritable, &bounding_now, "bounding"),
            ("permitted", &self.permitted, &permitted_now, "permitted"),
            ("effective", &self.effective, &permitted_now, "permitted"),
        ] {
            if let Some(cap) = first_missing(wanted, held) {
                bail!(
                    "process.capabilities.{field}: {cap} is not in the {which} set skiff runs \
                     with, so it cannot be granted"
                );
            }
        }
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .context("setting process.capabilities.inheritable")?;
        let effective: CapsHashSet = self
            .effective
            .intersection(&self.permitted)
            .copied()
            .collect();
        caps::set(None, CapSet::Effective, &effective)
            .context("setting process.capabilities.effective")?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .context("setting process.capabilities.permitted")?;
        caps::set(None, CapSet::Effective, &self.effective)
            .context("setting process.capabilities.effective")?;
        caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
        // The kernel only lets an ambient capability in if it is also permitted and
        // inheritable; like runc, skip the others (runc's default spec lists ambient
        // capabilities with no inheritable set).
        for cap in self.ambient.intersection(&self.inheritable) {
            if self.permitted.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .with_context(|| format!("raising ambient {cap}"))?;
            }
        }
        Ok(())
    }
}
