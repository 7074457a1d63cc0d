//! `linux.intelRdt`: cache and memory-bandwidth allocation through the resctrl filesystem.
//! skiff does not manage resctrl groups, so the setting is refused; the error says whether
//! the host could have honoured it at all (no resctrl mounted, as on most machines).

use anyhow::{bail, Result};
use oci_spec::runtime::Linux;

pub fn validate(linux: &Linux) -> Result<()> {
    if linux.intel_rdt().is_none() {
        return Ok(());
    }
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| {
            text.lines().any(|line| {
                line.split_once(" - ")
                    .is_some_and(|(_, fs)| fs.split_whitespace().next() == Some("resctrl"))
            })
        })
        .unwrap_or(false);
    if !mounted {
        let known = std::fs::read_to_string("/proc/filesystems")
            .map(|t| t.split_whitespace().any(|w| w == "resctrl"))
            .unwrap_or(false);
        let why = if known {
            "no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl)"
        } else {
            "this kernel has no resctrl filesystem (no Intel RDT / AMD QoS support)"
        };
        bail!("linux.intelRdt cannot be honoured: {why}");
    }
    bail!("linux.intelRdt is not supported yet: skiff does not manage resctrl groups")
}
