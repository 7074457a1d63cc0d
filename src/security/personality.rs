//! `linux.personality`: the execution domain the container's processes run in (LINUX32
//! makes `uname -m` report a 32-bit machine). Applied by the init and by every `exec`, so
//! all of the container's processes agree.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

/// The personality(2) value, or why it cannot be honoured. The runtime spec defines no
/// flag values ("currently no flag values are supported"), so any flag is refused.
pub fn value(personality: &LinuxPersonality) -> Result<libc::c_ulong> {
    if let Some(flag) = personality.flags().iter().flatten().next() {
        bail!("linux.personality.flags {flag:?}: the runtime spec defines no personality flags");
    }
    Ok(match personality.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

pub fn apply(personality: &LinuxPersonality) -> Result<()> {
    let persona = value(personality)?;
    crate::sys::sched::set_personality(persona).context("linux.personality: personality(2)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_flags() {
        let parse = |json| serde_json::from_value::<LinuxPersonality>(json).unwrap();
        assert_eq!(
            value(&parse(serde_json::json!({"domain": "LINUX32"}))).unwrap(),
            8
        );
        assert_eq!(
            value(&parse(serde_json::json!({"domain": "LINUX", "flags": []}))).unwrap(),
            0
        );
        let err = value(&parse(
            serde_json::json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("linux.personality.flags"), "{err}");
    }
}
