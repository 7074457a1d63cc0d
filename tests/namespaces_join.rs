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
fn a_user_namespace_joined_by_path_owns_the_namespaces_the_container_creates() {
    let rt = Runtime::new("spx-join-user");
    let mut owner = Bundle::new("spx-join-user-a");
    owner.userns();
    let a = rt.container(&owner);
    let a_pid = start_sleeper(&a, &mut owner);
    let a_user = std::fs::read_link(format!("/proc/{a_pid}/ns/user")).unwrap();

    let mut member = Bundle::new("spx-join-user-b");
    member.join_namespace("user", &format!("/proc/{a_pid}/ns/user"));
    member.args(&["sleep", "1000"]);
    // A's root (host uid 100000) owns one directory of B's image, to write in.
    let shared = member.rootfs.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::os::unix::fs::chown(&shared, Some(100000), Some(100000)).unwrap();
    let b = rt.container(&member);
    b.create(&[]).assert_ok();
    b.start().assert_ok();
    let b_pid = b.state()["pid"].as_i64().unwrap();
    let out = rt.exec(&[
        "exec",
        &member.name,
        "sh",
        "-c",
        "readlink /proc/self/ns/user; tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/self/uid_map | tr -s ' '; id -u; touch /shared/made-here; stat -c %u /shared/made-here",
    ]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        [
            a_user.to_str().unwrap(),
            "sleep 1000",
            "0 100000 65536",
            "0",
            "0"
        ],
        "B runs in A's user namespace, as its root, with its own pid namespace"
    );
    // Its new namespaces are its own, not A's, and belong to A's user namespace: a file
    // its root made is owned by host uid 100000.
    for ns in ["pid", "mnt", "net", "ipc", "uts"] {
        let of = |pid: i64| std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_ne!(of(b_pid), of(a_pid as i64), "{ns} must be B's own");
    }
    let made = std::fs::metadata(shared.join("made-here")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&made), 100000);
    b.kill(Some("KILL")).assert_ok();
    a.kill(Some("KILL")).assert_ok();
}
