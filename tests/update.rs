//! `update`: new limits reach the container's cgroup files, given as runc's flags or as
//! LinuxResources JSON (from a file or stdin, as containerd and docker send it), stay in
//! the saved configuration, and bad or unsupported values fail by name and change
//! nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::time::Duration;

fn cgroup_file(b: &Bundle, controller: &str, file: &str) -> String {
    fs::read_to_string(format!("/sys/fs/cgroup/{controller}{}/{file}", b.cgroup))
        .unwrap_or_else(|e| panic!("{controller}/{file}: {e}"))
        .trim()
        .to_string()
}

fn saved_resources(rt: &Runtime, id: &str) -> Value {
    let text = fs::read_to_string(rt.root.join(id).join("config.json")).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    config["linux"]["resources"].clone()
}

/// `update -r - ID` with `json` on stdin.
fn update_stdin(rt: &Runtime, b: &Bundle, id: &str, json: &str) -> Out {
    let input = b.scratch().join("resources.json");
    fs::write(&input, json).unwrap();
    rt.spawn_cmd(true, &["update", "-r", "-", id], Stdio3::Capture, |cmd| {
        cmd.stdin(fs::File::open(&input).unwrap());
    })
    .wait(Duration::from_secs(20))
}

/// A `sleep 1000` bundle with memory, pids and cpu limits to change.
fn limited(tag: &str) -> Bundle {
    let mut b = Bundle::new(tag);
    b.args(&["sleep", "1000"]);
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 256 << 20}, "pids": {"limit": 200}, "cpu": {"shares": 1024}}),
    );
    b
}

#[test]
fn flags_reach_the_cgroup_files_and_the_saved_config() {
    let rt = Runtime::new("update");
    let b = limited("update");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();

    rt.exec(&["update", "--memory", "64M", &c.id]).assert_ok();
    assert_eq!(
        cgroup_file(&b, "memory", "memory.limit_in_bytes"),
        "67108864"
    );
    rt.exec(&[
        "update",
        "--memory-reservation",
        "32m",
        "--memory-swap",
        "128M",
        &c.id,
    ])
    .assert_ok();
    assert_eq!(
        cgroup_file(&b, "memory", "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(
        cgroup_file(&b, "memory", "memory.memsw.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(
        cgroup_file(&b, "memory", "memory.limit_in_bytes"),
        "67108864"
    );

    rt.exec(&["update", "--pids-limit", "50", &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&b, "pids", "pids.max"), "50");
    rt.exec(&["update", "--pids-limit", "-1", &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&b, "pids", "pids.max"), "max");

    rt.exec(&[
        "update",
        "--cpu-shares",
        "256",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        &c.id,
    ])
    .assert_ok();
    assert_eq!(cgroup_file(&b, "cpu", "cpu.shares"), "256");
    assert_eq!(cgroup_file(&b, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file(&b, "cpu", "cpu.cfs_period_us"), "100000");
    rt.exec(&["update", "--cpuset-cpus", "0", &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&b, "cpuset", "cpuset.cpus"), "0");

    let saved = saved_resources(&rt, &c.id);
    assert_eq!(saved["memory"]["limit"], 64 << 20, "{saved}");
    assert_eq!(saved["memory"]["reservation"], 32 << 20, "{saved}");
    assert_eq!(saved["memory"]["swap"], 128 << 20, "{saved}");
    assert_eq!(saved["pids"]["limit"], -1, "{saved}");
    assert_eq!(saved["cpu"]["shares"], 256, "{saved}");
    assert_eq!(saved["cpu"]["quota"], 50000, "{saved}");
    assert_eq!(saved["cpu"]["cpus"], "0", "{saved}");

    // Later commands see the new limits.
    let out = rt.exec(&["events", "--stats", &c.id]);
    out.assert_ok();
    let event: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(event["data"]["memory"]["usage"]["limit"], 64 << 20);

    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    rt.exec(&["update", "--memory", "32M", &c.id])
        .assert_error("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn resources_json_from_stdin_and_file() {
    let rt = Runtime::new("update-json");
    let b = limited("update-json");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();

    // What docker sends for `docker update --memory 96m --pids-limit 77`: every field,
    // zero where the user gave nothing.
    let docker = json!({
        "memory": {"limit": 96 << 20, "reservation": 0, "swap": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "cpus": "", "mems": ""},
        "pids": {"limit": 77},
        "blockIO": {"weight": 0}
    });
    update_stdin(&rt, &b, &c.id, &docker.to_string()).assert_ok();
    assert_eq!(
        cgroup_file(&b, "memory", "memory.limit_in_bytes"),
        (96 << 20).to_string()
    );
    assert_eq!(cgroup_file(&b, "pids", "pids.max"), "77");
    assert_eq!(
        cgroup_file(&b, "cpu", "cpu.shares"),
        "1024",
        "a 0 share changed cpu.shares"
    );

    let file = b.scratch().join("res.json");
    fs::write(&file, json!({"cpu": {"shares": 600}}).to_string()).unwrap();
    rt.exec(&["update", "--resources", file.to_str().unwrap(), &c.id])
        .assert_ok();
    assert_eq!(cgroup_file(&b, "cpu", "cpu.shares"), "600");
    let saved = saved_resources(&rt, &c.id);
    assert_eq!(saved["cpu"]["shares"], 600, "{saved}");
    assert_eq!(saved["pids"]["limit"], 77, "{saved}");

    // The device rules the container has may be resent; different ones are refused.
    let devices = saved["devices"].clone();
    let same = json!({"devices": devices, "pids": {"limit": 78}});
    update_stdin(&rt, &b, &c.id, &same.to_string()).assert_ok();
    assert_eq!(cgroup_file(&b, "pids", "pids.max"), "78");
    let other = json!({"devices": [{"allow": true, "access": "rwm"}], "pids": {"limit": 79}});
    update_stdin(&rt, &b, &c.id, &other.to_string()).assert_error("linux.resources.devices");
    assert_eq!(cgroup_file(&b, "pids", "pids.max"), "78");

    update_stdin(&rt, &b, &c.id, "{not json").assert_error("--resources");
    update_stdin(&rt, &b, &c.id, r#"{"memory": {"limit": "big"}}"#).assert_error("--resources");
    update_stdin(&rt, &b, &c.id, r#"{"memory": {"kernel": 1048576}}"#)
        .assert_error("memory.kernel");
    update_stdin(
        &rt,
        &b,
        &c.id,
        r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}"#,
    )
    .assert_error("hugepageLimits");
    rt.exec(&[
        "update",
        "-r",
        file.to_str().unwrap(),
        "--memory",
        "1M",
        &c.id,
    ])
    .assert_error("cannot be combined");

    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn bad_values_fail_by_name_and_change_nothing() {
    let rt = Runtime::new("update-bad");
    let b = limited("update-bad");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let before = |b: &Bundle| {
        (
            cgroup_file(b, "memory", "memory.limit_in_bytes"),
            cgroup_file(b, "cpu", "cpu.shares"),
            cgroup_file(b, "pids", "pids.max"),
        )
    };
    let original = before(&b);
    let saved = saved_resources(&rt, &c.id);
    for (args, needle) in [
        (vec!["--memory", "12Q"], "--memory"),
        (vec!["--memory", ""], "--memory"),
        (vec!["--memory", "-5"], "--memory"),
        (vec!["--memory-swap", "1x"], "--memory-swap"),
        (vec!["--cpu-shares", "x"], "--cpu-shares"),
        (vec!["--cpu-shares", "1"], "--cpu-shares"),
        (vec!["--cpu-shares", "99999999"], "--cpu-shares"),
        (vec!["--cpu-quota", "10"], "--cpu-quota"),
        (vec!["--cpu-period", "5"], "--cpu-period"),
        (vec!["--pids-limit", "many"], "--pids-limit"),
        (vec!["--pids-limit", "-7"], "--pids-limit"),
        (vec!["--blkio-weight", "5"], "--blkio-weight"),
        (vec!["--kernel-memory", "1M"], "--kernel-memory"),
        (vec!["--kernel-memory-tcp", "1M"], "--kernel-memory-tcp"),
        (vec!["--l3-cache-schema", "L3:0=f"], "--l3-cache-schema"),
        (vec!["--mem-bw-schema", "MB:0=50"], "--mem-bw-schema"),
        (vec!["--cpuset-cpus", ""], "--cpuset-cpus"),
        (vec!["--cpuset-cpus", "999"], "--cpuset-cpus"),
        (vec!["--memory", "64M", "--cpu-shares", "x"], "--cpu-shares"),
        // The kernel takes the memory limit, then refuses the CPU list: both are undone.
        (
            vec!["--memory", "64M", "--cpuset-cpus", "999"],
            "--cpuset-cpus",
        ),
        // Memory plus swap below the memory limit: the kernel refuses it.
        (vec!["--memory-swap", "1M"], "memory.memsw.limit_in_bytes"),
        (vec![], "nothing to update"),
    ] {
        let mut full = vec!["update"];
        full.extend(&args);
        full.push(&c.id);
        let out = rt.exec(&full);
        out.assert_code(1);
        out.assert_error(needle);
        assert_eq!(before(&b), original, "{args:?} changed a cgroup file");
        assert_eq!(
            saved_resources(&rt, &c.id),
            saved,
            "{args:?} changed the saved config"
        );
    }
    rt.exec(&["update", "--memory", "1M", "no-such-container"])
        .assert_error("does not exist");
    rt.exec(&["update", "--memory", "1M", "../escape"])
        .assert_code(1);

    c.delete(true).assert_ok();
    c.assert_nothing_left();
}
