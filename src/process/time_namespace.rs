//! A new time namespace and `linux.timeOffsets`. unshare(CLONE_NEWTIME) makes the
//! namespace for the init's children and its next exec, not for the init itself, and its
//! offsets can only be written before any process has entered it: so the init makes it
//! and writes the offsets at once, and its exec of the container's program is the first
//! entry (clone(2) could not do this: a child born in the namespace has entered it).

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::LinuxTimeOffset;

const FIELD: &str = "linux.timeOffsets";
/// The kernel refuses an offset beyond ±KTIME_SEC_MAX, and a clock it would move past
/// KTIME_SEC_MAX / 2 (KTIME_SEC_MAX = i64::MAX ns in seconds).
const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;

/// The offsets as /proc/self/timens_offsets takes them, one clock a line.
pub fn offsets_text(offsets: &HashMap<String, LinuxTimeOffset>) -> Result<String> {
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by(|a, b| a.0.cmp(b.0));
    let mut text = String::new();
    for (clock, offset) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            bail!(
                "{FIELD}.{clock}: a time namespace offsets only the monotonic and boottime clocks"
            );
        }
        let secs = offset.secs().unwrap_or(0);
        let nanosecs = offset.nanosecs().unwrap_or(0);
        if nanosecs >= 1_000_000_000 {
            bail!("{FIELD}.{clock}.nanosecs {nanosecs} is not below one second");
        }
        if !(-KTIME_SEC_MAX / 2..=KTIME_SEC_MAX / 2).contains(&secs) {
            bail!(
                "{FIELD}.{clock}.secs {secs} is out of range (the kernel keeps clocks within ±{} s)",
                KTIME_SEC_MAX / 2
            );
        }
        text.push_str(&format!("{clock} {secs} {nanosecs}\n"));
    }
    Ok(text)
}

/// Checks the offsets, and that there is a new time namespace to give them to.
pub fn validate(
    offsets: Option<&HashMap<String, LinuxTimeOffset>>,
    new_time_ns: bool,
) -> Result<()> {
    let Some(offsets) = offsets else {
        return Ok(());
    };
    if !new_time_ns && !offsets.is_empty() {
        bail!("{FIELD} is set but linux.namespaces has no new time namespace");
    }
    offsets_text(offsets).map(drop)
}

/// Makes the time namespace the init's exec will enter, with its offsets.
pub fn create(offsets: Option<&HashMap<String, LinuxTimeOffset>>) -> Result<()> {
    nix::sched::unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
        .context("creating the time namespace")?;
    let text = offsets_text(offsets.unwrap_or(&HashMap::new()))?;
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", &text).with_context(|| {
            format!("{FIELD}: writing {:?} to /proc/self/timens_offsets (a clock set before its start?)", text.trim())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(json: serde_json::Value) -> HashMap<String, LinuxTimeOffset> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn both_clocks_are_written() {
        let text = offsets_text(&offsets(serde_json::json!({
            "monotonic": {"secs": -5}, "boottime": {"secs": 86400, "nanosecs": 7}
        })))
        .unwrap();
        assert_eq!(text, "boottime 86400 7\nmonotonic -5 0\n");
    }

    #[test]
    fn other_clocks_and_out_of_range_values_are_refused() {
        for (json, field) in [
            (
                serde_json::json!({"realtime": {"secs": 1}}),
                "linux.timeOffsets.realtime",
            ),
            (
                serde_json::json!({"boottime": {"nanosecs": 1_000_000_000u32}}),
                "linux.timeOffsets.boottime.nanosecs",
            ),
            (
                serde_json::json!({"monotonic": {"secs": i64::MAX}}),
                "linux.timeOffsets.monotonic.secs",
            ),
            (
                serde_json::json!({"monotonic": {"secs": i64::MIN}}),
                "linux.timeOffsets.monotonic.secs",
            ),
        ] {
            let err = offsets_text(&offsets(json.clone()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
        let err = validate(
            Some(&offsets(serde_json::json!({"boottime": {"secs": 1}}))),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no new time namespace"), "{err}");
    }
}
