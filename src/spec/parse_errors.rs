//! For a config.json that does not parse because of one of the settings below (an unknown
//! scheduling policy, a negative I/O priority, a personality domain that does not exist...):
//! an error naming that field instead of serde's line and column.

use oci_spec::runtime::{
    LinuxIOPriority, LinuxMemoryPolicy, LinuxNetDevice, LinuxPersonality, LinuxTimeOffset,
    Scheduler,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The field at fault and serde's complaint about it, or `None` when none of these fields
/// is the one that failed to parse.
pub fn explain(text: &str) -> Option<String> {
    let config: Value = serde_json::from_str(text).ok()?;
    let process = config.get("process");
    let linux = config.get("linux");
    let get = |parent: Option<&Value>, key: &str| parent.and_then(|p| p.get(key)).cloned();
    bad::<Scheduler>(get(process, "scheduler"), "process.scheduler")
        .or_else(|| bad::<LinuxIOPriority>(get(process, "ioPriority"), "process.ioPriority"))
        .or_else(|| bad::<LinuxPersonality>(get(linux, "personality"), "linux.personality"))
        .or_else(|| bad::<LinuxMemoryPolicy>(get(linux, "memoryPolicy"), "linux.memoryPolicy"))
        .or_else(|| each::<LinuxTimeOffset>(get(linux, "timeOffsets"), "linux.timeOffsets"))
        .or_else(|| each::<LinuxNetDevice>(get(linux, "netDevices"), "linux.netDevices"))
        .or_else(|| {
            let mounts = config.get("mounts")?.as_array()?;
            mounts.iter().enumerate().find_map(|(index, mount)| {
                bad::<oci_spec::runtime::Mount>(Some(mount.clone()), &format!("mounts[{index}]"))
            })
        })
}

fn bad<T: DeserializeOwned>(value: Option<Value>, field: &str) -> Option<String> {
    let error = serde_json::from_value::<T>(value?).err()?;
    Some(format!("{field}: {error}"))
}

/// For a map of settings: the first entry that does not parse, by its key.
fn each<T: DeserializeOwned>(value: Option<Value>, field: &str) -> Option<String> {
    let value = value?;
    let Some(map) = value.as_object() else {
        return Some(format!("{field}: must be an object"));
    };
    map.iter()
        .find_map(|(key, entry)| bad::<T>(Some(entry.clone()), &format!("{field}.{key}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_that_does_not_parse() {
        for (config, field) in [
            (
                r#"{"process": {"scheduler": {"policy": "SCHED_BOGUS"}}}"#,
                "process.scheduler",
            ),
            (
                r#"{"process": {"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": "x"}}}"#,
                "process.ioPriority",
            ),
            (
                r#"{"linux": {"personality": {"domain": "LINUX64"}}}"#,
                "linux.personality",
            ),
            (
                r#"{"linux": {"memoryPolicy": {"mode": "MPOL_NOPE"}}}"#,
                "linux.memoryPolicy",
            ),
            (
                r#"{"linux": {"timeOffsets": {"boottime": {"secs": "many"}}}}"#,
                "linux.timeOffsets.boottime",
            ),
            (
                r#"{"linux": {"timeOffsets": {"boottime": {"nanosecs": -1}}}}"#,
                "linux.timeOffsets.boottime",
            ),
        ] {
            let message = explain(config).unwrap_or_default();
            assert!(message.starts_with(field), "{config}: {message}");
        }
        assert_eq!(explain(r#"{"process": {}}"#), None);
    }
}
