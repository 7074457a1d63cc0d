//! `linux.rootfsPropagation` and propagation options on config mounts, seen from inside
//! the container's mountinfo (the optional fields "shared:N" / "master:N").

mod common;

use common::*;
use serde_json::json;

/// The optional propagation fields of the mountinfo line whose mount point is `target`.
fn propagation_of(mountinfo: &str, target: &str) -> String {
    let line = mountinfo
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some(target))
        .unwrap_or_else(|| panic!("no mount on {target} in:\n{mountinfo}"));
    let (before, _) = line.split_once(" - ").expect("mountinfo separator");
    before
        .split_whitespace()
        .skip(6)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn rootfs_propagation_modes() {
    let rt = Runtime::new("rootprop");
    for (mode, expect_shared) in [("shared", true), ("rshared", true), ("private", false)] {
        let mut b = Bundle::new(&format!("rootprop-{mode}"));
        b.set("/linux/rootfsPropagation", json!(mode));
        b.args(&["cat", "/proc/self/mountinfo"]);
        let out = run_ok(&rt, &b);
        let fields = propagation_of(&out, "/");
        assert_eq!(
            fields.contains("shared:"),
            expect_shared,
            "{mode}: the root's propagation is {fields:?}"
        );
        if mode == "private" {
            assert!(fields.is_empty(), "private root has {fields:?}");
        }
    }
}

#[test]
fn mount_propagation_options() {
    let rt = Runtime::new("mountprop");
    let mut b = Bundle::new("mountprop");
    for (dest, option) in [("/mnt/shared", "shared"), ("/mnt/private", "private")] {
        b.add_mount(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", option]
        }));
    }
    b.args(&["cat", "/proc/self/mountinfo"]);
    let out = run_ok(&rt, &b);
    assert!(
        propagation_of(&out, "/mnt/shared").contains("shared:"),
        "{out}"
    );
    assert_eq!(propagation_of(&out, "/mnt/private"), "", "{out}");
}

#[test]
fn invalid_rootfs_propagation_is_refused() {
    let rt = Runtime::new("badprop");
    let mut b = Bundle::new("badprop");
    b.set("/linux/rootfsPropagation", json!("sideways"));
    let c = rt.container(&b);
    c.create(&[]).assert_error("linux.rootfsPropagation");
    c.assert_nothing_left();
}
