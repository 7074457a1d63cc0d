//! What the container process sees: pid 1, hostname, capabilities, rlimits,
//! user/groups, umask, cwd, env, no_new_privs, oom_score_adj, sysctl, exit
//! codes, preserved fds and user namespaces.
//!
//! All tests here are runtime-neutral and pass against runc too.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[test]
fn pid_1_in_pid_namespace() {
    let rt = Runtime::new("pid1");
    let mut b = Bundle::new("pid1");
    b.sh("echo $$; cut -d' ' -f1 /proc/self/stat; readlink /proc/self; ls /proc | grep -c '^[0-9]*$'");
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1", "shell must be pid 1: {out}");
    // cut and readlink are children: small pids, and only a handful of
    // processes are visible in the namespace.
    let n: i32 = lines[3].parse().unwrap();
    assert!(n <= 5, "pid namespace shows {n} processes: {out}");
}

#[test]
fn hostname_is_set() {
    let rt = Runtime::new("hostname");
    let mut b = Bundle::new("hostname");
    b.set("/hostname", json!("skiff-host-test"));
    b.sh("hostname; cat /proc/sys/kernel/hostname");
    assert_eq!(run_ok(&rt, &b), "skiff-host-test\nskiff-host-test\n");
}

#[test]
fn default_capabilities() {
    let rt = Runtime::new("capsdef");
    let mut b = Bundle::new("capsdef");
    // The default spec: bounding/effective/permitted/ambient =
    // AUDIT_WRITE, KILL, NET_BIND_SERVICE; no inheritable.
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        }),
    );
    b.args(&["cat", "/proc/self/status"]);
    let out = run_ok(&rt, &b);
    for k in ["CapBnd", "CapEff", "CapPrm"] {
        assert_eq!(
            status_field(&out, k),
            Some("0000000020000420"),
            "{k} wrong:\n{out}"
        );
    }
    assert_eq!(status_field(&out, "CapInh"), Some("0000000000000000"));
    // Ambient capabilities need the inheritable bit; without it they are
    // silently not raised.
    assert_eq!(status_field(&out, "CapAmb"), Some("0000000000000000"));
}

#[test]
fn capabilities_with_inheritable_and_ambient() {
    let rt = Runtime::new("capsamb");
    let mut b = Bundle::new("capsamb");
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]
        }),
    );
    b.args(&["cat", "/proc/self/status"]);
    // With no_new_privs, exec cannot raise uid 0's permitted set above what
    // it had, so the sets are exactly the configured ones.
    b.set("/process/noNewPrivileges", json!(true));
    let out = run_ok(&rt, &b);
    // CHOWN=0 KILL=5 NET_RAW=13 SYS_ADMIN=21
    assert_eq!(
        status_field(&out, "CapBnd"),
        Some("0000000000202021"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapInh"),
        Some("0000000000000020"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapAmb"),
        Some("0000000000000020"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapPrm"),
        Some("0000000000000021"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapEff"),
        Some("0000000000000021"),
        "{out}"
    );

    // Without it, uid 0 exec (no file caps) gets inheritable | bounding.
    b.set("/process/noNewPrivileges", json!(false));
    let out = run_ok(&rt, &b);
    assert_eq!(
        status_field(&out, "CapPrm"),
        Some("0000000000202021"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapEff"),
        Some("0000000000202021"),
        "{out}"
    );
}

#[test]
fn capabilities_for_non_root_user_come_from_ambient() {
    let rt = Runtime::new("capsuser");
    let mut b = Bundle::new("capsuser");
    b.set("/process/user", json!({ "uid": 1000, "gid": 1000 }));
    b.set(
        "/process/capabilities",
        json!({
            "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        }),
    );
    b.args(&["cat", "/proc/self/status"]);
    let out = run_ok(&rt, &b);
    assert_eq!(
        status_field(&out, "CapBnd"),
        Some("0000000000000420"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapAmb"),
        Some("0000000000000400"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapPrm"),
        Some("0000000000000400"),
        "{out}"
    );
    assert_eq!(
        status_field(&out, "CapEff"),
        Some("0000000000000400"),
        "{out}"
    );
}

#[test]
fn rlimit_nofile() {
    let rt = Runtime::new("rlimit");
    let mut b = Bundle::new("rlimit");
    b.set(
        "/process/rlimits",
        json!([
            { "type": "RLIMIT_NOFILE", "hard": 1000, "soft": 1000 },
            { "type": "RLIMIT_NPROC", "hard": 700, "soft": 500 }
        ]),
    );
    b.sh("ulimit -n; grep -E '^Max (open files|processes)' /proc/self/limits");
    let out = run_ok(&rt, &b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1000"), "{out}");
    let rest: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(
        rest.iter()
            .any(|w| w[..3] == ["Max", "open", "files"] && w[3] == "1000" && w[4] == "1000"),
        "{out}"
    );
    assert!(
        rest.iter()
            .any(|w| w[..2] == ["Max", "processes"] && w[2] == "500" && w[3] == "700"),
        "{out}"
    );
}

#[test]
fn user_group_and_additional_gids() {
    let rt = Runtime::new("user");
    let mut b = Bundle::new("user");
    b.set(
        "/process/user",
        json!({ "uid": 1000, "gid": 1000, "additionalGids": [10, 20] }),
    );
    b.sh("id; grep -E '^(Uid|Gid|Groups):' /proc/self/status");
    let out = run_ok(&rt, &b);
    let first = out.lines().next().unwrap();
    assert!(first.starts_with("uid=1000 gid=1000"), "{out}");
    assert!(first.contains("groups=10,20"), "{out}");
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        status_field(&out, "Uid").map(norm).as_deref(),
        Some("1000 1000 1000 1000")
    );
    assert_eq!(
        status_field(&out, "Gid").map(norm).as_deref(),
        Some("1000 1000 1000 1000")
    );
    assert_eq!(
        status_field(&out, "Groups").map(norm).as_deref(),
        Some("10 20")
    );
}

#[test]
fn root_user_has_no_supplementary_groups_by_default() {
    let rt = Runtime::new("rootgroups");
    let mut b = Bundle::new("rootgroups");
    b.set("/process/user", json!({ "uid": 0, "gid": 0 }));
    b.args(&["cat", "/proc/self/status"]);
    let out = run_ok(&rt, &b);
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        status_field(&out, "Uid").map(norm).as_deref(),
        Some("0 0 0 0")
    );
    // The host's groups of the test process must not leak in.
    let groups = status_field(&out, "Groups").unwrap_or("");
    assert!(
        groups.split_whitespace().all(|g| g == "0"),
        "unexpected groups {groups:?}"
    );
}

#[test]
fn umask() {
    let rt = Runtime::new("umask");
    let mut b = Bundle::new("umask");
    b.set("/process/user/umask", json!(0o077));
    b.sh("umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(run_ok(&rt, &b), "0077\n600\n");
}

#[test]
fn cwd_is_created_when_missing() {
    let rt = Runtime::new("cwd");
    let mut b = Bundle::new("cwd");
    b.set("/process/cwd", json!("/work/deep/dir"));
    b.sh("pwd; echo $PWD");
    assert!(!b.rootfs.join("work").exists());
    assert_eq!(run_ok(&rt, &b), "/work/deep/dir\n/work/deep/dir\n");
}

#[test]
fn cwd_existing() {
    let rt = Runtime::new("cwdexist");
    let mut b = Bundle::new("cwdexist");
    b.set("/process/cwd", json!("/etc"));
    b.args(&["pwd"]);
    assert_eq!(run_ok(&rt, &b), "/etc\n");
}

#[test]
fn env_is_exact() {
    let rt = Runtime::new("env");
    let mut b = Bundle::new("env");
    b.set(
        "/process/env",
        json!([
            "PATH=/usr/bin:/bin",
            "FOO=bar baz",
            "EMPTY=",
            "WITH_EQ=a=b=c"
        ]),
    );
    b.args(&["env"]);
    let out = run_ok(&rt, &b);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    // busybox env prints exactly the environment it got (HOME may be added by
    // the runtime when not set, as runc does).
    got.retain(|l| !l.starts_with("HOME="));
    assert_eq!(
        got,
        vec![
            "EMPTY=",
            "FOO=bar baz",
            "PATH=/usr/bin:/bin",
            "WITH_EQ=a=b=c"
        ]
    );
}

#[test]
fn args_are_passed_verbatim() {
    let rt = Runtime::new("args");
    let mut b = Bundle::new("args");
    b.args(&[
        "sh",
        "-c",
        "for a in \"$@\"; do echo \"[$a]\"; done",
        "zero",
        "a b",
        "",
        "*",
        "$HOME",
    ]);
    assert_eq!(run_ok(&rt, &b), "[a b]\n[]\n[*]\n[$HOME]\n");
}

#[test]
fn path_lookup_uses_container_path() {
    let rt = Runtime::new("pathlookup");
    let mut b = Bundle::new("pathlookup");
    // A program only present in /usr/bin of the rootfs, found via PATH.
    let script = b.rootfs.join("usr/bin/only-here");
    std::fs::write(&script, "#!/bin/sh\necho found-$1\n").unwrap();
    set_mode(&script, 0o755);
    b.set("/process/env", json!(["PATH=/usr/bin:/bin"]));
    b.args(&["only-here", "x"]);
    assert_eq!(run_ok(&rt, &b), "found-x\n");
}

#[test]
fn no_new_privileges() {
    let rt = Runtime::new("nnp");
    let mut b = Bundle::new("nnp");
    b.set("/process/noNewPrivileges", json!(true));
    b.args(&["grep", "^NoNewPrivs:", "/proc/self/status"]);
    assert_eq!(
        run_ok(&rt, &b).split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
    b.set("/process/noNewPrivileges", json!(false));
    assert_eq!(
        run_ok(&rt, &b).split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0"]
    );
}

#[test]
fn oom_score_adj() {
    let rt = Runtime::new("oom");
    let mut b = Bundle::new("oom");
    b.set("/process/oomScoreAdj", json!(500));
    b.args(&["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(run_ok(&rt, &b), "500\n");
}

#[test]
fn sysctl_in_new_namespaces() {
    let rt = Runtime::new("sysctl");
    let mut b = Bundle::new("sysctl");
    b.set(
        "/linux/sysctl",
        json!({ "net.ipv4.ip_forward": "1", "kernel.domainname": "skiff.example" }),
    );
    b.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname");
    assert_eq!(run_ok(&rt, &b), "1\nskiff.example\n");
    // The host is unaffected.
    let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    assert_ne!(host.trim(), "skiff.example");
}

#[test]
fn exit_code_is_propagated() {
    let rt = Runtime::new("exit3");
    let mut b = Bundle::new("exit3");
    for code in [0, 3, 42, 255] {
        b.sh(&format!("exit {code}"));
        let c = rt.container(&b);
        c.run(&[]).assert_code(code);
        c.assert_nothing_left();
    }
    b.args(&["false"]);
    let c = rt.container(&b);
    c.run(&[]).assert_code(1);
    c.assert_nothing_left();
}

#[test]
fn exit_by_own_signal_is_128_plus_n() {
    // PID 1 of a pid namespace cannot SIGKILL itself, so use no pid ns here.
    let rt = Runtime::new("selfkill");
    let mut b = Bundle::new("selfkill");
    b.remove_namespace("pid");
    b.sh("kill -9 $$");
    let c = rt.container(&b);
    c.run(&[]).assert_code(137);
    c.assert_nothing_left();
    b.sh("kill -15 $$");
    let c = rt.container(&b);
    c.run(&[]).assert_code(143);
    c.assert_nothing_left();
}

#[test]
fn run_killed_from_outside_exits_137() {
    let rt = Runtime::new("killrun");
    let mut b = Bundle::new("killrun");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    let run = c.spawn_run(&[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = rt.try_state(&c.id) {
            if st["status"] == "running" {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run never got running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.state();
    c.kill(Some("KILL")).assert_ok();
    run.wait(TIMEOUT).assert_code(137);
    c.assert_nothing_left();
}

#[test]
fn preserve_fds() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new("preservefds");
    let mut b = Bundle::new("preservefds");
    b.sh("cat <&3; cat <&4");
    let f3 = rt.scratch().join("fd3.txt");
    let f4 = rt.scratch().join("fd4.txt");
    std::fs::write(&f3, "from-fd-3\n").unwrap();
    std::fs::write(&f4, "from-fd-4\n").unwrap();
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    let file3 = std::fs::File::open(&f3).unwrap();
    let file4 = std::fs::File::open(&f4).unwrap();
    let (r3, r4) = (file3.as_raw_fd(), file4.as_raw_fd());
    let out = rt
        .spawn_cmd(
            true,
            &["run", "--preserve-fds", "2", "--bundle", &bundle, &c.id],
            Stdio3::Capture,
            move |cmd| unsafe {
                cmd.pre_exec(move || {
                    // Move both out of the way first (either may already
                    // be 3 or 4), then dup2, which clears FD_CLOEXEC.
                    let a = libc::fcntl(r3, libc::F_DUPFD, 10);
                    let b = libc::fcntl(r4, libc::F_DUPFD, 10);
                    if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    libc::close(a);
                    libc::close(b);
                    Ok(())
                });
            },
        )
        .wait(TIMEOUT);
    drop((file3, file4));
    out.assert_ok();
    assert_eq!(out.stdout, "from-fd-3\nfrom-fd-4\n");
    c.assert_nothing_left();
}

/// `create` and `run` keep the descriptor of the read-only mount of skiff's binary open
/// until the init is ready (closing it costs a wait for the kernel): it must never count as
/// one the caller passed, nor reach the container, however many descriptors are asked for.
/// A container holding it could make that mount writable and reach the binary through it.
#[test]
fn preserve_fds_beyond_the_callers_hands_over_none_of_skiffs_own() {
    let rt = Runtime::new("preservenone");
    let mut b = Bundle::new("preservenone");
    // The shell's own descriptors, with no pipe or redirection of its own.
    b.sh("ls /proc/$$/fd; exit 0");
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    let out = rt
        .spawn_cmd(
            true,
            &["run", "--preserve-fds", "20", "--bundle", &bundle, &c.id],
            Stdio3::Capture,
            |cmd| {
                use std::os::unix::process::CommandExt;
                // The caller passes nothing beyond stdio (cargo's jobserver pipe would
                // otherwise be passed, and rightly preserved).
                // SAFETY: close_range is async-signal-safe and touches no memory.
                unsafe {
                    cmd.pre_exec(|| {
                        if libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            },
        )
        .wait(TIMEOUT);
    out.assert_ok();
    let fds: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2"], "{}", out.stdout);
    c.assert_nothing_left();
}

#[test]
fn user_namespace_mapping() {
    let rt = Runtime::new("userns");
    let mut b = Bundle::new("userns");
    b.userns();
    b.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; echo ok > /tmp/w && cat /tmp/w");
    // Container root (host 100000) must own something writable.
    nix::unistd::chown(
        &b.rootfs.join("tmp"),
        Some(nix::unistd::Uid::from_raw(100000)),
        Some(nix::unistd::Gid::from_raw(100000)),
    )
    .unwrap();
    let out = run_ok(&rt, &b);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "uid_map: {out}");
    assert_eq!(lines[1], ["0", "100000", "65536"], "gid_map: {out}");
    assert_eq!(lines[2], ["0"], "id -u: {out}");
    assert_eq!(lines[3], ["0"], "id -g: {out}");
    assert_eq!(lines[4], ["ok"], "{out}");
    // Files created by container root belong to host uid 100000.
    let meta = std::fs::metadata(b.rootfs.join("tmp/w")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
    assert_host_dev_null_intact();
}

#[test]
fn user_namespace_with_null_stdio_leaves_host_dev_null_alone() {
    assert_host_dev_null_intact();
    let rt = Runtime::new("usernsnull");
    let mut b = Bundle::new("usernsnull");
    b.userns();
    b.sh("echo hidden; exit 7");
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    let out = rt
        .spawn_with(true, &["run", "--bundle", &bundle, &c.id], Stdio3::Null)
        .wait(TIMEOUT);
    out.assert_code(7);
    c.assert_nothing_left();
    assert_host_dev_null_intact();

    // Same with create/start (the runtime keeps the fds across two calls).
    let c = rt.container(&b);
    rt.spawn_with(true, &["create", "--bundle", &bundle, &c.id], Stdio3::Null)
        .wait(TIMEOUT)
        .assert_ok();
    assert_host_dev_null_intact();
    c.state();
    c.start().assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
    assert_host_dev_null_intact();
}
