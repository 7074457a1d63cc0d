//! The runtime-spec features document (`skiff features`): what this build of skiff
//! honours, read from the tables the validator and the create path use themselves, so a
//! setting is listed exactly when a config asking for it runs.

use serde_json::{json, Value};

use crate::security::seccomp;
use crate::spec::support;

/// The oldest spec version whose configs skiff runs (it accepts every 1.x.y).
pub const OCI_VERSION_MIN: &str = "1.0.0";

pub fn document() -> Value {
    let mut capabilities: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    capabilities.sort();
    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": crate::SPEC_VERSION,
        "hooks": crate::hooks::Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "mountOptions": crate::rootfs::options::named_options(),
        "linux": {
            "namespaces": support::NAMESPACES
                .iter()
                .map(|&k| support::namespace_name(k))
                .collect::<Vec<_>>(),
            "capabilities": capabilities,
            "cgroup": {
                "v1": true,
                "v2": true,
                // Only where systemd runs: skiff refuses --systemd-cgroup elsewhere.
                "systemd": crate::cgroups::systemd_available(),
                "systemdUser": false,
                "rdma": support::RDMA,
            },
            "seccomp": {
                "enabled": true,
                "actions": list(seccomp::ACTIONS),
                "operators": list(seccomp::OPERATORS),
                "archs": list(seccomp::ARCHS),
                "knownFlags": list(seccomp::FLAGS),
                "supportedFlags": list(seccomp::FLAGS),
            },
            "apparmor": { "enabled": support::apparmor() },
            "selinux": { "enabled": support::selinux() },
            "intelRdt": { "enabled": support::INTEL_RDT },
            "mountExtensions": { "idmap": { "enabled": support::IDMAPPED_MOUNTS } },
        },
        "annotations": {
            "org.opencontainers.skiff.version": env!("CARGO_PKG_VERSION"),
            "org.opencontainers.skiff.commit": env!("SKIFF_COMMIT"),
        },
    })
}

fn list<T: serde::Serialize>(items: &[T]) -> Vec<Value> {
    items.iter().map(to_json).collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_reads_as_the_specs_features_type() {
        let doc = document();
        let parsed: oci_spec::runtime::Features = serde_json::from_value(doc.clone()).unwrap();
        assert_eq!(parsed.oci_version_max(), crate::SPEC_VERSION);
        let linux = parsed.linux().as_ref().unwrap();
        assert!(!linux.namespaces().as_ref().unwrap().is_empty());
        assert!(doc["mountOptions"]
            .as_array()
            .unwrap()
            .contains(&json!("tmpcopyup")));
        // Time namespaces (with linux.timeOffsets) and idmapped mounts are implemented.
        assert!(doc["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("time")));
        assert_eq!(doc["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    }

    #[test]
    fn every_listed_mount_option_is_one_skiff_knows() {
        for option in crate::rootfs::options::named_options() {
            let parsed = crate::rootfs::options::MountOptions::parse(&[option.to_string()], false)
                .unwrap_or_else(|e| panic!("{option}: {e}"));
            assert!(
                parsed.data().is_none(),
                "{option} is passed to the filesystem as data"
            );
        }
    }

    /// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is refused without a notify rule.
    fn flags_for(action: oci_spec::runtime::LinuxSeccompAction) -> Vec<Value> {
        let notify = action == oci_spec::runtime::LinuxSeccompAction::ScmpActNotify;
        list(seccomp::FLAGS)
            .into_iter()
            .filter(|f| notify || f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
            .collect()
    }

    #[test]
    fn every_listed_seccomp_action_operator_and_flag_compiles() {
        use crate::security::seccomp::compile::compile;
        for action in seccomp::ACTIONS {
            for op in seccomp::OPERATORS {
                let mut arg = json!({"index": 0, "value": 1, "op": op});
                if *op == oci_spec::runtime::LinuxSeccompOperator::ScmpCmpMaskedEq {
                    arg["valueTwo"] = json!(1);
                }
                let profile = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": seccomp::ARCHS,
                    "flags": flags_for(*action),
                    "syscalls": [{"names": ["getcpu"], "action": action, "args": [arg]}],
                });
                let config = serde_json::from_value(profile).unwrap();
                compile(&config).unwrap_or_else(|e| panic!("{action:?} {op:?}: {e:#}"));
            }
        }
    }
}
