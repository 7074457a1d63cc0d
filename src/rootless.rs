//! Rootless mode: skiff run by an unprivileged user (or told to act as one with
//! `--rootless true`). What changes, as in runc: the default state root moves to
//! `$XDG_RUNTIME_DIR/skiff`, the container gets a cgroup only where the caller may write
//! one (a delegated subtree), and a config asking for limits that need a cgroup it cannot
//! have is refused with the field named. An unprivileged caller also needs a new (or
//! joined) user namespace: without one the container could do nothing it needs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The value of `--rootless`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Setting {
    True,
    False,
    /// Rootless when not root, or when in a user namespace other than the host's.
    Auto,
}

/// Whether skiff acts rootless.
pub fn enabled(setting: Setting) -> bool {
    match setting {
        Setting::True => true,
        Setting::False => false,
        Setting::Auto => !nix::unistd::geteuid().is_root() || in_user_namespace(),
    }
}

/// Whether this process is in a user namespace other than the initial one, which alone
/// maps every ID onto itself.
pub fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|map| !is_identity_map(&map))
}

fn is_identity_map(map: &str) -> bool {
    let lines: Vec<Vec<&str>> = map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    lines == [vec!["0", "0", "4294967295"]]
}

/// The state root when `--root` is not given: runc's rule, with skiff's names. An
/// unprivileged caller (or root inside a user namespace, unless `$USER` says root) keeps
/// its containers under `$XDG_RUNTIME_DIR/skiff`; real root under /run/skiff.
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let honour_xdg = !nix::unistd::geteuid().is_root()
        || (in_user_namespace() && std::env::var("USER").map_or(true, |user| user != "root"));
    match xdg {
        Some(dir) if honour_xdg => Path::new(&dir).join("skiff"),
        _ => PathBuf::from("/run/skiff"),
    }
}

/// What an unprivileged caller can never run: a container without a user namespace
/// (every mount, every namespace but a user one, needs privilege it does not have).
pub fn validate_unprivileged(spec: &Spec) -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let has_user_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    if !has_user_ns {
        bail!(
            "linux.namespaces has no user namespace, which a container run by uid {} (not \
             root) needs: see `skiff spec --rootless`",
            nix::unistd::geteuid()
        );
    }
    Ok(())
}

/// Refuses the config's resource limits when the container gets no cgroup: every
/// `linux.resources` setting except the device rules is written to a cgroup. The device
/// rules are accepted, as runc accepts them rootless: an unprivileged container cannot
/// make device nodes at all, and can open only the host nodes bound into it, with the
/// caller's own access to them.
pub fn refuse_limits_without_cgroup(spec: &Spec, cgroup: &Path) -> Result<()> {
    let Some(resources) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) else {
        return Ok(());
    };
    let mut value = serde_json::to_value(resources)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("devices");
    }
    if let Some(field) = first_set_field(&value, "linux.resources") {
        bail!(
            "{field}: skiff runs rootless and cgroup {} is not writable by uid {} (not \
             delegated), so the container gets no cgroup and this limit cannot be applied",
            cgroup.display(),
            nix::unistd::geteuid()
        );
    }
    Ok(())
}

/// The path of the first setting in `value` that is not null or empty.
fn first_set_field(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::Null => None,
        Value::Object(fields) => fields
            .iter()
            .find_map(|(name, v)| first_set_field(v, &format!("{path}.{name}"))),
        Value::Array(items) if items.is_empty() => None,
        _ => Some(path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_full_identity_map_is_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1000          1\n"));
        assert!(!is_identity_map("0 0 4294967295\n1 1 1\n"));
    }

    fn spec_with_resources(resources: serde_json::Value) -> Spec {
        let mut config = crate::spec::template(true);
        config["linux"]["resources"] = resources;
        serde_json::from_value(config).unwrap()
    }

    #[test]
    fn limits_are_refused_by_name_and_device_rules_accepted() {
        let cgroup = Path::new("/c");
        let spec = spec_with_resources(serde_json::json!({"memory": {"limit": 1048576}}));
        let error = refuse_limits_without_cgroup(&spec, cgroup).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("linux.resources.memory.limit:"),
            "{error}"
        );
        let spec = spec_with_resources(serde_json::json!({"pids": {"limit": 10}}));
        let error = refuse_limits_without_cgroup(&spec, cgroup).unwrap_err();
        assert!(
            error.to_string().starts_with("linux.resources.pids.limit:"),
            "{error}"
        );
        let spec = spec_with_resources(
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}),
        );
        refuse_limits_without_cgroup(&spec, cgroup).unwrap();
        let template: Spec = serde_json::from_value(crate::spec::template(true)).unwrap();
        refuse_limits_without_cgroup(&template, cgroup).unwrap();
    }
}
