//! `update`: changing a running container's cgroup limits. The change arrives as a
//! partial `LinuxResources` (from runc's flags or from `--resources` JSON), is merged over
//! the resources the container has, applied through the same cgroup code `create` uses,
//! checked against what the kernel then reports, and kept in the saved configuration so
//! later commands see it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value};

use super::state::Status;
use super::store::{self, ContainerDir};

/// The sections of `linux.resources` an update applies; others must be left as they are.
const APPLIED: &[&str] = &["memory", "cpu", "pids", "blockIO"];

/// A requested change: the JSON of a partial `LinuxResources`, and for each leaf set the
/// name to show in errors (the flag, or the JSON field).
pub struct Patch {
    pub resources: Value,
    pub names: Vec<(&'static str, String)>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.resources.as_object().is_none_or(Map::is_empty)
    }

    /// How `section.field` is called in this request.
    fn name_of(&self, section: &str, field: &str) -> String {
        let key = format!("{section}.{field}");
        self.names
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| format!("linux.resources.{key}"))
    }

    /// A patch from `--resources` JSON. Unset-meaning values are dropped as runc drops
    /// them: a 0 limit, share or weight and an empty CPU list mean "leave as is" (docker
    /// and containerd send every field, zero when the user did not give it).
    pub fn from_json(text: &str, source: &str) -> Result<Patch> {
        // Parsed as the spec type first, so a wrongly typed field is refused by name.
        let typed: LinuxResources = serde_json::from_str(text)
            .with_context(|| format!("--resources {source}: not a valid LinuxResources JSON"))?;
        let mut resources = serde_json::to_value(typed)?;
        if let Some(object) = resources.as_object_mut() {
            for section in ["memory", "cpu", "pids", "blockIO"] {
                if let Some(Value::Object(fields)) = object.get_mut(section) {
                    fields.retain(|key, value| !means_unset(section, key, value));
                    if fields.is_empty() {
                        object.remove(section);
                    }
                }
            }
        }
        Ok(Patch {
            resources,
            names: Vec::new(),
        })
    }
}

fn means_unset(section: &str, key: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Number(number) => {
            number.as_i64() == Some(0) && !(section == "memory" && matches!(key, "swappiness"))
        }
        _ => false,
    }
}

pub fn update(root: &Path, id: &str, patch: &Patch) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    match super::status_of(root, &record) {
        Status::Stopped => {
            return Err(super::errors::not_running_because(
                id,
                "a stopped container cannot be updated",
            ))
        }
        Status::Creating => bail!("container {id:?} is still being created"),
        Status::Created | Status::Running | Status::Paused => {}
    }
    let cgroup = super::pause::cgroup_of(&record)?;
    let mut spec = store::load_config(root, id)
        .with_context(|| format!("container {id:?}: its saved configuration"))?;
    let saved = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let saved_json = serde_json::to_value(&saved)?;
    let Some(requested) = patch.resources.as_object() else {
        bail!("--resources: the JSON must be an object (a LinuxResources)");
    };
    check_unchanged_sections(requested, &saved_json)?;
    check_values(patch)?;

    let mut merged = saved_json.clone();
    merge(&mut merged, &patch.resources);
    let merged_resources: LinuxResources = serde_json::from_value(merged.clone())
        .context("combining the update with the container's resources")?;

    // Only the sections asked about are written, each whole (so that memory and swap,
    // which the kernel orders against each other, are written together).
    let mut delta = Map::new();
    for section in APPLIED {
        if requested.contains_key(*section) {
            if let Some(value) = merged.get(*section) {
                delta.insert(section.to_string(), value.clone());
            }
        }
    }
    if delta.is_empty() {
        bail!("nothing to update: give at least one limit (see --help)");
    }
    let delta: LinuxResources = serde_json::from_value(Value::Object(delta))?;
    let asked: Vec<String> = leaves(requested)
        .into_iter()
        .filter(|(section, _)| APPLIED.contains(&section.as_str()))
        .map(|(section, field)| patch.name_of(&section, &field))
        .collect();
    let written = cgroup
        .update(&delta)
        .and_then(|()| verify(&cgroup, patch, &delta));
    if let Err(error) = written {
        // The kernel may have taken some of the sections before refusing one: put back
        // what the container had, so a refused update changes nothing.
        let mut before = Map::new();
        for section in APPLIED.iter().filter(|s| requested.contains_key(**s)) {
            if let Some(value) = saved_json.get(*section) {
                before.insert(section.to_string(), value.clone());
            }
        }
        if let Ok(before) = serde_json::from_value::<LinuxResources>(Value::Object(before)) {
            let _ = cgroup.update(&before);
        }
        return Err(error).with_context(|| format!("updating {}", asked.join(", ")));
    }

    if let Some(linux) = spec.linux_mut() {
        linux.set_resources(Some(merged_resources));
    }
    dir.save_config(&spec)
        .context("keeping the updated resources in the container's saved configuration")
}

/// Every (section, field) a patch sets.
fn leaves(requested: &Map<String, Value>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (section, value) in requested {
        match value {
            Value::Object(fields) => {
                found.extend(fields.keys().map(|f| (section.clone(), f.clone())));
            }
            _ => found.push((section.clone(), String::new())),
        }
    }
    found
}

/// Sections an update does not apply (devices, hugepages, network, rdma, unified) are
/// accepted only when they are what the container already has: engines resend the whole
/// resources, and a change there would otherwise be silently ignored.
fn check_unchanged_sections(requested: &Map<String, Value>, saved: &Value) -> Result<()> {
    for (section, value) in requested {
        if APPLIED.contains(&section.as_str()) {
            continue;
        }
        let empty = value.is_null()
            || value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(Map::is_empty);
        let same = saved.get(section).is_some_and(|s| s == value);
        if !(same || empty && saved.get(section).is_none()) {
            bail!(
                "linux.resources.{section}: update cannot change it on a created container \
                 (only memory, cpu, pids and blockIO can be updated)"
            );
        }
    }
    if let Some(memory) = requested.get("memory") {
        for (field, flag) in [
            ("kernel", "--kernel-memory"),
            ("kernelTCP", "--kernel-memory-tcp"),
        ] {
            if memory.get(field).is_some_and(|v| !v.is_null())
                && memory.get(field) != saved.get("memory").and_then(|m| m.get(field))
            {
                bail!(
                    "{flag} (linux.resources.memory.{field}): kernel memory limits are not \
                     supported (deprecated in the kernel, and absent from cgroup v2)"
                );
            }
        }
    }
    Ok(())
}

/// Values the kernel would silently clamp or that make no sense, refused before anything
/// is written.
fn check_values(patch: &Patch) -> Result<()> {
    let get = |section: &str, field: &str| patch.resources.get(section).and_then(|s| s.get(field));
    for field in ["limit", "reservation", "swap"] {
        if let Some(value) = get("memory", field).and_then(Value::as_i64) {
            if value < -1 {
                bail!(
                    "{}: {value} is not a size (-1 means unlimited)",
                    patch.name_of("memory", field)
                );
            }
        }
    }
    if let Some(shares) = get("cpu", "shares").and_then(Value::as_u64) {
        if !(2..=262_144).contains(&shares) {
            bail!(
                "{}: {shares} is out of the kernel's range 2..262144",
                patch.name_of("cpu", "shares")
            );
        }
    }
    if let Some(quota) = get("cpu", "quota").and_then(Value::as_i64) {
        if quota < -1 || (0..1000).contains(&quota) {
            bail!(
                "{}: {quota} is not a quota (at least 1000 microseconds, or -1 for none)",
                patch.name_of("cpu", "quota")
            );
        }
    }
    if let Some(period) = get("cpu", "period").and_then(Value::as_u64) {
        if !(1000..=1_000_000).contains(&period) {
            bail!(
                "{}: {period} is out of the kernel's range 1000..1000000 microseconds",
                patch.name_of("cpu", "period")
            );
        }
    }
    if let Some(weight) = get("blockIO", "weight").and_then(Value::as_u64) {
        if !(10..=1000).contains(&weight) {
            bail!(
                "{}: {weight} is out of the kernel's range 10..1000",
                patch.name_of("blockIO", "weight")
            );
        }
    }
    if let Some(limit) = get("pids", "limit").and_then(Value::as_i64) {
        if limit < -1 {
            bail!(
                "{}: {limit} is not a limit (-1 means unlimited)",
                patch.name_of("pids", "limit")
            );
        }
    }
    Ok(())
}

/// What the kernel reports after the update, for the limits it may round or refuse
/// without an error: each must be what was asked.
fn verify(cgroup: &crate::cgroups::Cgroup, patch: &Patch, applied: &LinuxResources) -> Result<()> {
    let page = 4096;
    let mut checks: Vec<(&str, &str, &str, Option<String>)> = Vec::new();
    let is_v1 = cgroup.record().driver == crate::cgroups::Driver::CgroupfsV1;
    let size = |value: i64, v1: bool| -> String {
        if value == -1 {
            if v1 {
                "9223372036854771712".into()
            } else {
                "max".into()
            }
        } else {
            // Both versions count whole pages, rounding down.
            (value / page * page).to_string()
        }
    };
    if let Some(memory) = applied.memory() {
        let (limit_file, swap_file, soft_file) = if is_v1 {
            (
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "memory.soft_limit_in_bytes",
            )
        } else {
            ("memory.max", "memory.swap.max", "memory.low")
        };
        checks.push((
            "memory",
            "limit",
            limit_file,
            memory.limit().map(|v| size(v, is_v1)),
        ));
        if is_v1 {
            // cgroup2's swap.max is swap alone, not memory+swap: libcgroups converts it.
            checks.push((
                "memory",
                "swap",
                swap_file,
                memory.swap().map(|v| size(v, true)),
            ));
        }
        checks.push((
            "memory",
            "reservation",
            soft_file,
            memory.reservation().map(|v| size(v, is_v1)),
        ));
    }
    if let Some(pids) = applied.pids() {
        let limit = pids.limit();
        let expected = if limit <= 0 {
            "max".to_string()
        } else {
            limit.to_string()
        };
        checks.push(("pids", "limit", "pids.max", Some(expected)));
    }
    if is_v1 {
        if let Some(cpu) = applied.cpu() {
            checks.push((
                "cpu",
                "shares",
                "cpu.shares",
                cpu.shares().map(|v| v.to_string()),
            ));
            checks.push((
                "cpu",
                "quota",
                "cpu.cfs_quota_us",
                cpu.quota().map(|v| v.to_string()),
            ));
            checks.push((
                "cpu",
                "period",
                "cpu.cfs_period_us",
                cpu.period().map(|v| v.to_string()),
            ));
        }
    }
    for (section, field, file, expected) in checks {
        let Some(expected) = expected else { continue };
        // Only what this request set: the rest was checked when it was set.
        if patch
            .resources
            .get(section)
            .and_then(|s| s.get(field))
            .is_none()
        {
            continue;
        }
        let Some(dir) = cgroup.record().dirs.iter().find(|d| d.join(file).is_file()) else {
            bail!(
                "{}: the container's cgroup has no {file}, so the limit cannot be set",
                patch.name_of(section, field)
            );
        };
        let path = dir.join(file);
        let actual = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if actual.trim() != expected {
            bail!(
                "{}: the kernel reports {} in {} after the update, not {expected}",
                patch.name_of(section, field),
                actual.trim(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Overlays `patch` on `base`: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// A size as runc's flags take it: plain bytes or a number with a binary suffix (`k`, `m`,
/// `g`, `t`, `p`, either case, optionally followed by `b` or `ib`), or -1 for unlimited.
pub fn parse_size(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, suffix) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 128M, 1g, 512k or bytes)"))?;
    let suffix = suffix.trim_start();
    let unit = suffix.trim_end_matches('b').trim_end_matches('i');
    let shift = match unit {
        "" if suffix.is_empty() || suffix == "b" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => {
            return Err(format!(
                "{text:?} is not a size (like 128M, 1g, 512k or bytes)"
            ))
        }
    };
    let bytes = number * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes < i64::MAX as f64) {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_runc_suffixes() {
        assert_eq!(parse_size("128M").unwrap(), 128 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("64mb").unwrap(), 64 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["", "12Q", "M", "-2", "1..2M", "1mm", "99999999999P", "1 kq"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_values_mean_unset_in_json() {
        let patch = Patch::from_json(
            r#"{"memory":{"limit":0,"swap":0},"cpu":{"shares":512,"cpus":""},"pids":{"limit":0}}"#,
            "-",
        )
        .unwrap();
        assert_eq!(patch.resources, serde_json::json!({"cpu": {"shares": 512}}));
    }

    #[test]
    fn merge_overlays_fields() {
        let mut base = serde_json::json!({"memory": {"limit": 1, "swap": 2}, "devices": [1]});
        merge(&mut base, &serde_json::json!({"memory": {"limit": 3}}));
        assert_eq!(
            base,
            serde_json::json!({"memory": {"limit": 3, "swap": 2}, "devices": [1]})
        );
    }
}
