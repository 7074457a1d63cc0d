//! `skiff features` claims only what skiff does: each namespace, seccomp action and mount
//! option it lists works in a real container, and each setting it leaves out (or marks
//! disabled) is refused by name when a config asks for it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

fn features(rt: &Runtime) -> Value {
    let out = rt.exec(&["features"]);
    out.assert_ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("features is not JSON: {e}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The /proc/PID/ns link names, which differ from the config's type names for two.
fn proc_ns_name(kind: &str) -> &str {
    match kind {
        "mount" => "mnt",
        "network" => "net",
        other => other,
    }
}

#[test]
fn the_document_has_the_specs_shape() {
    let rt = Runtime::new("skeng-feat");
    let doc = features(&rt);
    assert_eq!(doc["ociVersionMin"], "1.0.0");
    assert!(doc["ociVersionMax"].as_str().unwrap().starts_with("1."));
    for key in ["hooks", "mountOptions"] {
        assert!(!strings(&doc[key]).is_empty(), "{key}");
    }
    let linux = &doc["linux"];
    for key in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
        assert!(
            linux["cgroup"][key].is_boolean(),
            "linux.cgroup.{key}: {doc}"
        );
    }
    assert_eq!(linux["seccomp"]["enabled"], true);
    for key in [
        "actions",
        "operators",
        "archs",
        "knownFlags",
        "supportedFlags",
    ] {
        assert!(!strings(&linux["seccomp"][key]).is_empty(), "{key}");
    }
    assert!(strings(&linux["capabilities"]).contains(&"CAP_SYS_ADMIN".to_owned()));
}

#[test]
fn each_listed_namespace_is_created() {
    let rt = Runtime::new("skeng-featns");
    let doc = features(&rt);
    for kind in strings(&doc["linux"]["namespaces"]) {
        let ns = proc_ns_name(&kind);
        let mut b = Bundle::new("skeng-featns");
        b.add_namespace(&kind);
        if kind == "user" {
            b.userns();
        }
        b.sh(&format!("readlink /proc/self/ns/{ns}"));
        let out = rt.container(&b).run(&[]);
        out.assert_ok();
        let host = fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        let inside = out.stdout.trim();
        assert!(inside.starts_with(&format!("{ns}:[")), "{kind}: {inside:?}");
        assert_ne!(
            inside,
            host.to_str().unwrap(),
            "{kind}: not a new namespace"
        );
    }
}

#[test]
fn each_listed_seccomp_action_and_operator_loads() {
    let rt = Runtime::new("skeng-featsc");
    let doc = features(&rt);
    let seccomp = &doc["linux"]["seccomp"];
    let operators = strings(&seccomp["operators"]);
    for action in strings(&seccomp["actions"]) {
        // A notify rule needs a listener (tests/seccomp.rs runs one); the unit tests
        // compile it with every operator.
        if action == "SCMP_ACT_NOTIFY" {
            continue;
        }
        let rules: Vec<Value> = operators
            .iter()
            .map(|op| {
                let mut arg = json!({"index": 2, "value": 7, "op": op});
                if op == "SCMP_CMP_MASKED_EQ" {
                    arg["valueTwo"] = json!(7);
                }
                json!({"names": ["getcpu"], "action": action, "args": [arg]})
            })
            .collect();
        let mut b = Bundle::new("skeng-featsc");
        b.set(
            "/linux/seccomp",
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": seccomp["archs"],
                "flags": strings(&seccomp["supportedFlags"]).into_iter()
                    .filter(|f| f != "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV").collect::<Vec<_>>(),
                "syscalls": rules,
            }),
        );
        b.sh("grep Seccomp: /proc/self/status");
        let out = rt.container(&b).run(&[]);
        out.assert_ok();
        assert!(
            out.stdout.contains("Seccomp:\t2"),
            "{action}: {}",
            out.stdout
        );
    }
}

#[test]
fn each_listed_mount_option_is_accepted_on_a_tmpfs() {
    let rt = Runtime::new("skeng-featmo");
    let doc = features(&rt);
    for option in strings(&doc["mountOptions"]) {
        // Binds need a source; remount needs an existing mount; these are covered by
        // tests/mount_options.rs. idmap and ridmap apply to binds only (tests/spec_settings.rs).
        if matches!(
            option.as_str(),
            "bind" | "rbind" | "remount" | "idmap" | "ridmap"
        ) {
            continue;
        }
        let mut b = Bundle::new("skeng-featmo");
        b.add_mount(
            json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                           "options": [option]}),
        );
        let out = rt.container(&b).run(&[]);
        assert_eq!(out.code(), 0, "mount option {option}: {}", out.stderr);
    }
}

#[test]
fn what_features_leaves_out_is_refused() {
    let rt = Runtime::new("skeng-featno");
    let doc = features(&rt);
    let linux = &doc["linux"];
    let refused = |edit: &dyn Fn(&mut Bundle), needle: &str| {
        let mut b = Bundle::new("skeng-featno");
        edit(&mut b);
        let c = rt.container(&b);
        c.run(&[]).assert_error(needle);
        c.assert_nothing_left();
    };
    if !strings(&linux["namespaces"]).contains(&"time".to_owned()) {
        refused(
            &|b| {
                b.add_namespace("time");
            },
            "time namespaces are not supported",
        );
    }
    if linux["mountExtensions"]["idmap"]["enabled"] == false {
        assert!(!strings(&doc["mountOptions"]).contains(&"idmap".to_owned()));
        refused(
            &|b| {
                b.add_mount(
                    json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
                );
            },
            "idmapped mounts",
        );
        refused(
            &|b| {
                b.add_mount(
                    json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                    "options": ["idmap"]}),
                );
            },
            "idmap",
        );
    }
    if linux["apparmor"]["enabled"] == false {
        refused(
            &|b| {
                b.set("/process/apparmorProfile", json!("docker-default"));
            },
            "process.apparmorProfile",
        );
    }
    if linux["selinux"]["enabled"] == false {
        refused(
            &|b| {
                b.set(
                    "/process/selinuxLabel",
                    json!("system_u:system_r:container_t:s0"),
                );
            },
            "process.selinuxLabel",
        );
        refused(
            &|b| {
                b.set(
                    "/linux/mountLabel",
                    json!("system_u:object_r:container_file_t:s0"),
                );
            },
            "linux.mountLabel",
        );
    }
    if linux["intelRdt"]["enabled"] == false {
        refused(
            &|b| {
                b.set("/linux/intelRdt", json!({"closID": "skeng"}));
            },
            "linux.intelRdt",
        );
    }
    if linux["cgroup"]["rdma"] == false {
        refused(
            &|b| {
                b.set(
                    "/linux/resources/rdma",
                    json!({"mlx4_0": {"hcaHandles": 3, "hcaObjects": 100}}),
                );
            },
            "linux.resources.rdma",
        );
    }
    if linux["cgroup"]["systemd"] == false {
        let b = Bundle::new("skeng-featno");
        let c = rt.container(&b);
        rt.exec(&["--systemd-cgroup", "run", "--bundle", b.dir_str(), &c.id])
            .assert_error("--systemd-cgroup");
        c.assert_nothing_left();
    }
}
