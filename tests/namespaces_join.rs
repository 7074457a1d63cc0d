//! Namespaces given by `path`: the container is born inside them, also together with a new
//! user namespace.

mod common;

use common::*;

/// Creates and starts a container running `sleep 1000` from `bundle` and returns its host PID.
fn start_sleeper(c: &Container, bundle: &mut Bundle) -> i32 {
    bundle.args(&["sleep", "1000"]);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    c.wait_status("running");
    c.state()["pid"].as_i64().expect("pid") as i32
}

#[test]
fn a_pid_namespace_joined_by_path_contains_the_container() {
    let rt = Runtime::new("join-pid");
    let mut sleeper = Bundle::new("join-pid-a");
    let a = rt.container(&sleeper);
    let a_pid = start_sleeper(&a, &mut sleeper);

    let mut joiner = Bundle::new("join-pid-b");
    joiner.join_namespace("pid", &format!("/proc/{a_pid}/ns/pid"));
    joiner.sh("tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$; readlink /proc/self/ns/pid");
    let out = run_ok(&rt, &joiner);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().map(|l| l.trim()),
        Some("sleep 1000"),
        "PID 1 inside must be the joined namespace's init (A's sleep); got {out:?}"
    );
    assert_ne!(
        lines.get(1).copied(),
        Some("1"),
        "the joining container must not be PID 1 itself: {out:?}"
    );
    let host_view = std::fs::read_link(format!("/proc/{a_pid}/ns/pid")).unwrap();
    assert_eq!(
        lines.get(2).copied(),
        Some(host_view.to_str().unwrap()),
        "the container's own pid namespace must be A's: {out:?}"
    );
    a.kill(Some("KILL")).assert_ok();
}

#[test]
fn a_new_user_namespace_can_join_a_network_namespace_by_path() {
    let rt = Runtime::new("join-net-userns");
    let mut sandbox = Bundle::new("join-net-sandbox");
    let a = rt.container(&sandbox);
    let a_pid = start_sleeper(&a, &mut sandbox);
    let sandbox_net = std::fs::read_link(format!("/proc/{a_pid}/ns/net")).unwrap();

    let mut member = Bundle::new("join-net-member");
    member.userns();
    member.join_namespace("network", &format!("/proc/{a_pid}/ns/net"));
    // sysfs can only be mounted by the owner of the network namespace (the host here);
    // this test is about the namespace, so the container goes without /sys and the
    // cgroup mount below it.
    member.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .expect("mounts")
            .retain(|m| !m["destination"].as_str().unwrap_or("").starts_with("/sys"))
    });
    member.sh("readlink /proc/self/ns/net; id -u");
    let out = run_ok(&rt, &member);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(sandbox_net.to_str().unwrap()),
        "the container must be in the joined network namespace: {out:?}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some("0"),
        "root in its user ns: {out:?}"
    );
    a.kill(Some("KILL")).assert_ok();
}

#[test]
fn joining_a_mount_namespace_by_path_leaves_nothing_behind() {
    let rt = Runtime::new("join-mnt");
    let mut sleeper = Bundle::new("join-mnt-a");
    let a = rt.container(&sleeper);
    let a_pid = start_sleeper(&a, &mut sleeper);

    let mut joiner = Bundle::new("join-mnt-b");
    // Once in A's mount namespace, /proc is A's: the parent's way back into its own
    // namespaces must not depend on it.
    joiner.remove("/hostname");
    // (mount listed before uts, so uts is joined after the mount namespace).
    joiner.join_namespace("mount", &format!("/proc/{a_pid}/ns/mnt"));
    joiner.join_namespace("uts", &format!("/proc/{a_pid}/ns/uts"));
    let b = rt.container(&joiner);
    let out = b.run(&[]);
    // The bundle's rootfs is not in A's mount namespace, so the init cannot bind it: the
    // run fails, and must undo everything on the host's side.
    out.assert_code(1);
    assert!(
        !out.stderr.contains("/proc/self/ns"),
        "the parent lost its way back: {}",
        out.stderr
    );
    b.assert_nothing_left();
    a.kill(Some("KILL")).assert_ok();
}

#[test]
fn a_hostname_is_set_in_a_uts_namespace_joined_by_path_but_never_in_the_hosts() {
    let rt = Runtime::new("skconf-join-uts");
    let mut sleeper = Bundle::new("skconf-join-uts-a");
    let a = rt.container(&sleeper);
    let a_pid = start_sleeper(&a, &mut sleeper);
    let a_uts = std::fs::read_link(format!("/proc/{a_pid}/ns/uts")).unwrap();

    let mut joiner = Bundle::new("skconf-join-uts-b");
    joiner.join_namespace("uts", &format!("/proc/{a_pid}/ns/uts"));
    joiner.set("/hostname", serde_json::json!("joined-uts"));
    joiner.sh("hostname; readlink /proc/self/ns/uts");
    let out = run_ok(&rt, &joiner);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["joined-uts", a_uts.to_str().unwrap()],
        "the hostname must be set in A's uts namespace: {out:?}"
    );
    let seen_by_a = rt.exec(&["exec", &a.id, "hostname"]);
    seen_by_a.assert_ok();
    assert_eq!(
        seen_by_a.stdout.trim(),
        "joined-uts",
        "A shares the namespace"
    );
    a.kill(Some("KILL")).assert_ok();

    // The host's own uts namespace, named by path: setting a hostname there would rename
    // the machine.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut host = Bundle::new("skconf-join-uts-host");
    host.join_namespace("uts", &format!("/proc/{}/ns/uts", std::process::id()));
    host.set("/hostname", serde_json::json!("not-the-host"));
    let c = rt.container(&host);
    c.run(&[])
        .assert_error("hostname is set but the container has no uts namespace of its own");
    c.assert_nothing_left();
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name,
        "the host's hostname changed"
    );
}
