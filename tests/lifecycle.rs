//! Container lifecycle: create/start/state/kill/delete, run (foreground,
//! --detach, --keep, signal forwarding), list, pid files, cgroup resources.
//!
//! All tests here are runtime-neutral and pass against runc 1.1.5 too.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::time::{Duration, Instant};

/// A process that sleeps as PID 1 but still exits promptly on SIGTERM.
const SLEEPER: &str = "trap 'exit 0' TERM; sleep 1000 & wait";

#[test]
fn create_start_state_kill_delete() {
    let rt = Runtime::new("lifecycle");
    let mut b = Bundle::new("lifecycle");
    b.sh("echo started; exec sleep 1000");
    let c = rt.container(&b);

    let created = c.create(&[]);
    created.assert_ok();
    let st = c.state();
    assert_eq!(st["status"], "created", "state after create: {st}");
    assert_eq!(st["id"], c.id.as_str());
    let pid = st["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0, "created container must have an init pid: {st}");
    assert!(!pid_gone(pid), "init {pid} should exist while created");
    // The program must not have run yet.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(created.stdout_now(), "", "program ran before start");
    assert!(rt.list_ids().contains(&c.id));

    c.start().assert_ok();
    let st = c.state();
    assert_eq!(st["status"], "running", "state after start: {st}");
    assert_eq!(st["pid"].as_i64(), Some(pid as i64), "pid changed at start");
    let deadline = Instant::now() + Duration::from_secs(10);
    while created.stdout_now() != "started\n" {
        assert!(Instant::now() < deadline, "program output never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }

    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    assert!(rt.try_state(&c.id).is_none(), "state works after delete");
    c.assert_nothing_left();
}

#[test]
fn state_json_shape() {
    let rt = Runtime::new("stateshape");
    let mut b = Bundle::new("stateshape");
    b.args(&["sleep", "1000"]);
    b.set("/annotations", json!({ "org.skiff.test": "yes" }));
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let st = c.state();
    for key in ["ociVersion", "id", "pid", "status", "bundle", "created"] {
        assert!(st.get(key).is_some(), "state lacks {key:?}: {st}");
    }
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."), "{st}");
    assert_eq!(st["bundle"], b.dir_str(), "bundle must be absolute: {st}");
    assert_eq!(
        st["rootfs"],
        b.rootfs.to_str().unwrap(),
        "rootfs must be the absolute rootfs path: {st}"
    );
    assert!(st["owner"].is_string(), "owner must be a string: {st}");
    assert_eq!(st["annotations"]["org.skiff.test"], "yes", "{st}");
    // created is an RFC 3339 timestamp
    let created = st["created"].as_str().unwrap();
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'),
        "created is not RFC 3339: {created}"
    );
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn delete_created_without_force() {
    let rt = Runtime::new("delcreated");
    let mut b = Bundle::new("delcreated");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    c.delete(false).assert_ok();
    assert!(wait_pid_gone(pid, Duration::from_secs(5)), "init survived");
    assert_eq!(out.stdout_now(), "", "the program must never have run");
    c.assert_nothing_left();
}

#[test]
fn delete_force_running() {
    let rt = Runtime::new("delforce");
    let mut b = Bundle::new("delforce");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    assert_eq!(c.status(), "running");
    let out = c.delete(false);
    assert_eq!(out.code(), 1, "delete of a running container must fail");
    assert_eq!(c.status(), "running", "failed delete changed the container");
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn delete_force_created() {
    let rt = Runtime::new("delforcecr");
    let mut b = Bundle::new("delforcecr");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.state();
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn pid_file_matches_state() {
    let rt = Runtime::new("pidfile");
    let mut b = Bundle::new("pidfile");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    let pid_file = rt.scratch().join("init.pid");
    c.create(&["--pid-file", pid_file.to_str().unwrap()])
        .assert_ok();
    let text = fs::read_to_string(&pid_file).expect("pid file not written");
    let pid: i64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pid file: {text:?}"));
    assert_eq!(c.state()["pid"].as_i64(), Some(pid));
    // It is the init's host pid: the process exists.
    assert!(!pid_gone(pid as i32));
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn pid_file_relative_path_and_run_detach() {
    // run -d with a pid file given relative to the runtime's cwd
    let rt = Runtime::new("piddetach");
    let mut b = Bundle::new("piddetach");
    b.sh(SLEEPER);
    let c = rt.container(&b);
    let cwd = rt.scratch().to_path_buf();
    let bundle = b.dir_str().to_string();
    let out = rt
        .spawn_cmd(
            true,
            &[
                "run",
                "--detach",
                "--pid-file",
                "rel.pid",
                "--bundle",
                &bundle,
                &c.id,
            ],
            Stdio3::Capture,
            |cmd| {
                cmd.current_dir(&cwd);
            },
        )
        .wait(TIMEOUT);
    out.assert_ok();
    let st = c.state();
    assert_eq!(
        st["status"], "running",
        "run -d must leave it running: {st}"
    );
    let text = fs::read_to_string(cwd.join("rel.pid")).expect("relative pid file");
    assert_eq!(text.trim().parse::<i64>().ok(), st["pid"].as_i64());
    c.kill(None).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn run_foreground_deletes_after() {
    let rt = Runtime::new("runfg");
    let mut b = Bundle::new("runfg");
    b.sh("echo out-line; echo err-line >&2; exit 0");
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_ok();
    assert_eq!(out.stdout, "out-line\n");
    assert!(out.stderr.contains("err-line"), "stderr: {}", out.stderr);
    c.assert_nothing_left();
}

#[test]
fn run_keep_leaves_stopped_container() {
    let rt = Runtime::new("runkeep");
    let mut b = Bundle::new("runkeep");
    b.sh("exit 5");
    let c = rt.container(&b);
    c.run(&["--keep"]).assert_code(5);
    let st = c.state();
    assert_eq!(st["status"], "stopped", "{st}");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn run_stdin_is_passed_through() {
    let rt = Runtime::new("runstdin");
    let mut b = Bundle::new("runstdin");
    b.args(&["cat"]);
    let c = rt.container(&b);
    let input = rt.scratch().join("input.txt");
    fs::write(&input, "piped-through-stdin\n").unwrap();
    let bundle = b.dir_str().to_string();
    let id = c.id.clone();
    let f = fs::File::open(&input).unwrap();
    let out = rt
        .spawn_cmd(
            true,
            &["run", "--bundle", &bundle, &id],
            Stdio3::Capture,
            move |cmd| {
                cmd.stdin(f);
            },
        )
        .wait(TIMEOUT);
    out.assert_ok();
    assert_eq!(out.stdout, "piped-through-stdin\n");
    c.assert_nothing_left();
}

#[test]
fn start_runs_program_and_stopped_after_exit() {
    let rt = Runtime::new("stopafter");
    let mut b = Bundle::new("stopafter");
    b.sh("echo done");
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_ok();
    c.state();
    c.start().assert_ok();
    c.wait_status("stopped");
    assert_eq!(out.stdout_now(), "done\n");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn list_formats() {
    let rt = Runtime::new("list");
    assert!(rt.list().is_empty(), "fresh root must list nothing");
    let mut b1 = Bundle::new("list-a");
    b1.args(&["sleep", "1000"]);
    let mut b2 = Bundle::new("list-b");
    b2.args(&["sleep", "1000"]);
    let c1 = rt.container(&b1);
    let c2 = rt.container(&b2);
    c1.create(&[]).assert_ok();
    c2.create(&[]).assert_ok();
    c2.start().assert_ok();
    let pid1 = c1.state()["pid"].as_i64().unwrap();

    let list = rt.list();
    assert_eq!(list.len(), 2, "{list:?}");
    let find = |id: &str| -> Value {
        list.iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from list: {list:?}"))
    };
    let e1 = find(&c1.id);
    assert_eq!(e1["status"], "created");
    assert_eq!(e1["pid"].as_i64(), Some(pid1));
    assert_eq!(e1["bundle"], b1.dir_str());
    assert!(e1["created"].is_string(), "{e1}");
    let e2 = find(&c2.id);
    assert_eq!(e2["status"], "running");

    let q = rt.exec(&["list", "--quiet"]);
    q.assert_ok();
    let mut ids: Vec<&str> = q.stdout.lines().collect();
    ids.sort();
    let mut want = vec![c1.id.as_str(), c2.id.as_str()];
    want.sort();
    assert_eq!(ids, want, "list -q must print one id per line");

    let t = rt.exec(&["list"]);
    t.assert_ok();
    let first = t.stdout.lines().next().unwrap_or_default();
    for col in ["ID", "PID", "STATUS", "BUNDLE", "CREATED"] {
        assert!(first.contains(col), "table header lacks {col}: {first:?}");
    }
    assert!(t.stdout.contains(&c1.id) && t.stdout.contains(&c2.id));

    c1.delete(true).assert_ok();
    c2.delete(true).assert_ok();
    c1.assert_nothing_left();
    c2.assert_nothing_left();
    assert!(rt.list().is_empty());
}

#[test]
fn kill_signal_by_name_number_and_sig_name() {
    let rt = Runtime::new("killsig");
    let mut b = Bundle::new("killsig");
    b.sh(
        "trap 'echo got-USR1' USR1; trap 'echo got-HUP' HUP; trap 'echo got-USR2' USR2; \
         trap 'echo got-TERM; exit 0' TERM; echo ready; \
         while :; do sleep 0.05; done",
    );
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_ok();
    c.start().assert_ok();
    let wait_for = |line: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.stdout_now().lines().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "container never printed {line:?}; output: {:?}",
                out.stdout_now()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("ready");
    c.kill(Some("USR1")).assert_ok();
    wait_for("got-USR1");
    c.kill(Some("1")).assert_ok();
    wait_for("got-HUP");
    c.kill(Some("SIGUSR2")).assert_ok();
    wait_for("got-USR2");
    assert_eq!(c.status(), "running");
    c.kill(None).assert_ok(); // default SIGTERM
    wait_for("got-TERM");
    c.wait_status("stopped");
    assert_eq!(
        out.stdout_now(),
        "ready\ngot-USR1\ngot-HUP\ngot-USR2\ngot-TERM\n"
    );
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn kill_numeric_9_and_sigkill() {
    let rt = Runtime::new("kill9");
    for sig in ["9", "SIGKILL", "KILL"] {
        let mut b = Bundle::new(&format!("kill9-{sig}"));
        b.args(&["sleep", "1000"]);
        let c = rt.container(&b);
        c.create(&[]).assert_ok();
        c.start().assert_ok();
        c.state();
        c.kill(Some(sig)).assert_ok();
        c.wait_status("stopped");
        c.delete(false).assert_ok();
        c.assert_nothing_left();
    }
}

#[test]
fn kill_all_without_pid_namespace() {
    // Without a pid namespace, killing init leaves its children alive;
    // `kill --all` must reach every process of the container's cgroup.
    let rt = Runtime::new("killall");
    let mut b = Bundle::new("killall");
    b.remove_namespace("pid");
    b.sh("sleep 1000 & echo $!; sleep 1000 & echo $!; trap '' TERM; wait");
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_ok();
    c.start().assert_ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids: Vec<i32> = loop {
        let pids: Vec<i32> = out
            .stdout_now()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.len() == 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "children never reported");
        std::thread::sleep(Duration::from_millis(10));
    };
    let init = c.state()["pid"].as_i64().unwrap() as i32;
    for p in &pids {
        assert!(!pid_gone(*p), "child {p} should be alive");
    }
    c.kill(Some("TERM")).assert_ok(); // ignored by init: trap '' TERM
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.status(), "running");

    rt.exec(&["kill", "--all", &c.id, "KILL"]).assert_ok();
    for p in pids.iter().chain(std::iter::once(&init)) {
        assert!(
            wait_pid_gone(*p, Duration::from_secs(10)),
            "process {p} survived kill --all"
        );
    }
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn kill_all_short_flag() {
    let rt = Runtime::new("killalla");
    let mut b = Bundle::new("killalla");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    c.state();
    rt.exec(&["kill", "-a", &c.id, "9"]).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn delete_force_without_pid_namespace_kills_everything() {
    let rt = Runtime::new("delforcenopid");
    let mut b = Bundle::new("delforcenopid");
    b.remove_namespace("pid");
    b.sh("sleep 1000 & echo $!; wait");
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_ok();
    c.start().assert_ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    let child: i32 = loop {
        if let Ok(p) = out.stdout_now().trim().parse() {
            break p;
        }
        assert!(Instant::now() < deadline, "child never reported");
        std::thread::sleep(Duration::from_millis(10));
    };
    c.state();
    c.delete(true).assert_ok();
    assert!(
        wait_pid_gone(child, Duration::from_secs(5)),
        "delete --force left child {child} running"
    );
    c.assert_nothing_left();
}

#[test]
fn many_containers_one_root() {
    let rt = Runtime::new("manyroot");
    let mut bundles = Vec::new();
    for i in 0..4 {
        let mut b = Bundle::new(&format!("manyroot{i}"));
        b.sh(&format!("echo container-{i}"));
        bundles.push(b);
    }
    for (i, b) in bundles.iter().enumerate() {
        let c = rt.container(b);
        let out = c.run(&[]);
        out.assert_ok();
        assert_eq!(out.stdout, format!("container-{i}\n"));
        c.assert_nothing_left();
    }
    assert!(rt.list().is_empty());
}

#[test]
fn stopped_state_has_pid_zero_and_kill_fails() {
    let rt = Runtime::new("stoppedpid");
    let mut b = Bundle::new("stoppedpid");
    b.args(&["true"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.state();
    c.start().assert_ok();
    c.wait_status("stopped");
    let st = c.state();
    assert_eq!(
        st["pid"].as_i64(),
        Some(0),
        "a stopped container has pid 0: {st}"
    );
    // Signalling a stopped container is an error (runc: "container not running").
    c.kill(Some("KILL")).assert_code(1);
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Runtime::new("fwdsig");
    let mut b = Bundle::new("fwdsig");
    b.sh(
        "trap 'echo got-HUP' HUP; trap 'echo got-TERM; exit 4' TERM; echo ready; \
         while :; do sleep 0.05; done",
    );
    let c = rt.container(&b);
    let run = c.spawn_run(&[]);
    let out_path = run.stdout_path().to_path_buf();
    let wait_for = |line: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(&out_path).unwrap_or_default();
            if text.lines().any(|l| l == line) {
                return;
            }
            assert!(Instant::now() < deadline, "never saw {line:?}: {text:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("ready");
    c.state();
    let pid = nix::unistd::Pid::from_raw(run.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_for("got-HUP");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = run.wait(TIMEOUT);
    out.assert_code(4);
    assert_eq!(out.stdout, "ready\ngot-HUP\ngot-TERM\n");
    c.assert_nothing_left();
}

#[test]
fn cgroup_resources_are_applied() {
    let rt = Runtime::new("resources");
    let mut b = Bundle::new("resources");
    b.args(&["sleep", "1000"]);
    b.set(
        "/linux/resources/memory",
        json!({ "limit": 64 * 1024 * 1024 }),
    );
    b.set("/linux/resources/pids", json!({ "limit": 50 }));
    b.set("/linux/resources/cpu", json!({ "shares": 512 }));
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap().to_string();
    let read = |ctrl: &str, file: &str| {
        let p = format!("/sys/fs/cgroup/{ctrl}{}/{file}", c.cgroup);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids", "pids.max"), "50");
    assert_eq!(read("cpu", "cpu.shares"), "512");
    for ctrl in CGROUP_CONTROLLERS {
        let procs = read(ctrl, "cgroup.procs");
        assert!(
            procs.split_whitespace().any(|p| p == pid),
            "init {pid} not in the {ctrl} cgroup: {procs:?}"
        );
    }
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

/// A stopped container whose init left a process behind in a child cgroup it made: a plain
/// `delete` kills that process and removes the child cgroup with the container's own (the
/// quick removal of an empty cgroup must notice it is not empty).
#[test]
fn delete_of_a_stopped_container_kills_what_it_left_in_a_child_cgroup() {
    let rt = Runtime::new("del-left");
    let mut b = Bundle::new("del-left");
    // No pid namespace: the sleep outlives the init. The cgroup mount is writable so the
    // container can make a cgroup below its own (its view of the pids hierarchy).
    b.remove_namespace("pid");
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().expect("mounts") {
            if m["type"] == "cgroup" {
                m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
            }
        }
    });
    b.sh("mkdir /sys/fs/cgroup/pids/left && \
         (sh -c 'echo $$ > /sys/fs/cgroup/pids/left/cgroup.procs && exec sleep 7321' &) ; \
         sleep 0.3; cat /sys/fs/cgroup/pids/left/cgroup.procs");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    c.wait_status("stopped");
    let child_cgroup = format!("/sys/fs/cgroup/pids{}/left", b.cgroup);
    let left = fs::read_to_string(format!("{child_cgroup}/cgroup.procs"))
        .unwrap_or_else(|e| panic!("{child_cgroup}: {e}"));
    let pid: i32 = left
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no process in {child_cgroup}: {left:?}"));
    c.delete(false).assert_ok();
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "delete left {pid} running"
    );
    assert!(!std::path::Path::new(&child_cgroup).exists());
    c.assert_nothing_left();
}
