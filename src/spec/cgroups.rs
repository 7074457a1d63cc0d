//! Checks of `linux.cgroupsPath` and `linux.resources` that need only the config (and, for
//! `unified`, which cgroup version the host runs): a bad value is refused before any cgroup
//! is touched.

use std::path::{Component, Path};

use anyhow::{bail, Result};
use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceType};

pub fn validate(linux: &Linux) -> Result<()> {
    if let Some(path) = linux.cgroups_path() {
        check_path(path)?;
    }
    let Some(resources) = linux.resources() else {
        return Ok(());
    };
    if resources.unified().as_ref().is_some_and(|u| !u.is_empty()) && !crate::cgroups::is_unified()
    {
        bail!(
            "linux.resources.unified sets cgroup v2 files, but this host's controllers are \
             on cgroup v1: use the v1 fields of linux.resources"
        );
    }
    // Not applied by skiff's cgroup code on either version: refused, never dropped.
    if !super::support::RDMA && resources.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        bail!("linux.resources.rdma is not supported: skiff sets no rdma cgroup limits");
    }
    for (index, rule) in resources.devices().iter().flatten().enumerate() {
        check_device_rule(rule)
            .map_err(|e| anyhow::anyhow!("linux.resources.devices[{index}]: {e}"))?;
    }
    Ok(())
}

/// `""` means unset and is handled by the caller. A path with a `..` component is refused
/// (it could climb out of wherever it is placed), and so is one that names a hierarchy's
/// root: that cgroup holds the whole host, and skiff kills what is in its container's
/// cgroup when it deletes it.
pub fn check_path(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    if path.components().any(|c| c == Component::ParentDir) {
        bail!(
            "linux.cgroupsPath {:?}: \"..\" components are not allowed",
            path.display()
        );
    }
    if !path.components().any(|c| matches!(c, Component::Normal(_))) {
        bail!(
            "linux.cgroupsPath {:?} names the root cgroup, which holds the whole host",
            path.display()
        );
    }
    Ok(())
}

/// A rule the kernel's device controller understands: type a, b or c, a major and minor
/// that are numbers or the -1 wildcard, and access a non-empty set of r, w and m.
fn check_device_rule(rule: &LinuxDeviceCgroup) -> Result<()> {
    if let Some(kind) = rule.typ() {
        if !matches!(
            kind,
            LinuxDeviceType::A | LinuxDeviceType::B | LinuxDeviceType::C
        ) {
            bail!("type {:?} is not one of a, b, c", kind.as_str());
        }
    }
    for (field, number) in [("major", rule.major()), ("minor", rule.minor())] {
        if number.is_some_and(|n| n < -1) {
            bail!(
                "{field} {} is not a device number",
                number.unwrap_or_default()
            );
        }
    }
    if let Some(access) = rule.access() {
        let mut seen = String::new();
        for c in access.chars() {
            if !"rwm".contains(c) || seen.contains(c) {
                bail!("access {access:?} is not a set of r, w and m");
            }
            seen.push(c);
        }
        if seen.is_empty() {
            bail!("access is empty: give a set of r, w and m");
        }
    }
    Ok(())
}

/// The rule as the v1 devices controller takes it; missing fields are wildcards and a
/// missing access is all of "rwm", as the runtime spec's defaults read.
pub fn device_rule_line(rule: &LinuxDeviceCgroup) -> String {
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    format!(
        "{} {}:{} {}",
        rule.typ().unwrap_or_default().as_str(),
        number(rule.major()),
        number(rule.minor()),
        rule.access().as_deref().unwrap_or("rwm")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_naming_a_root_are_refused() {
        for path in ["/", "//", "/.", ".", "./", "/./."] {
            let err = check_path(Path::new(path)).unwrap_err().to_string();
            assert!(err.contains("linux.cgroupsPath"), "{path}: {err}");
            assert!(err.contains("root cgroup"), "{path}: {err}");
        }
    }

    #[test]
    fn parent_components_are_refused() {
        for path in ["a/..", "/a/../b", "..", "/..", "a/b/../../..", "../x"] {
            let err = check_path(Path::new(path)).unwrap_err().to_string();
            assert!(err.contains("\"..\""), "{path}: {err}");
        }
    }

    #[test]
    fn ordinary_paths_and_unset_pass() {
        for path in [
            "",
            "/a",
            "a/b",
            "/a/./b",
            "/skiff-test-1",
            "system.slice:skiff:x",
        ] {
            check_path(Path::new(path)).unwrap();
        }
    }

    fn rule(value: serde_json::Value) -> LinuxDeviceCgroup {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn device_rules_are_checked() {
        use serde_json::json;
        for good in [
            json!({"allow": false, "access": "rwm"}),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}),
            json!({"allow": true, "type": "b", "major": -1, "minor": -1, "access": "m"}),
            json!({"allow": false}),
        ] {
            check_device_rule(&rule(good.clone())).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            json!({"allow": true, "access": ""}),
            json!({"allow": true, "access": "rwx"}),
            json!({"allow": true, "access": "rr"}),
            json!({"allow": true, "access": "r w"}),
            json!({"allow": true, "type": "p", "access": "r"}),
            json!({"allow": true, "type": "u", "access": "r"}),
            json!({"allow": true, "type": "c", "major": -2, "access": "r"}),
        ] {
            assert!(check_device_rule(&rule(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_rules_render_with_wildcards_and_full_access() {
        use serde_json::json;
        assert_eq!(
            device_rule_line(&rule(json!({"allow": false}))),
            "a *:* rwm"
        );
        assert_eq!(
            device_rule_line(&rule(
                json!({"allow": true, "type": "c", "major": 1, "minor": -1, "access": "rw"})
            )),
            "c 1:* rw"
        );
    }
}
