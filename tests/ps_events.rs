//! `ps` lists every process in the container's cgroup (also one that left the init's
//! process tree), as host PIDs or as the host `ps`'s rows; `events` reports the cgroup's
//! numbers in runc's JSON, and an `oom` event when the container meets its memory limit.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::time::{Duration, Instant};

/// Polls until `find` gives a PID (10 s).
fn wait_pid(what: &str, find: impl Fn() -> Option<i32>) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = find() {
            return pid;
        }
        assert!(Instant::now() < deadline, "{what} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ps_json(rt: &Runtime, id: &str) -> Vec<i32> {
    let out = rt.exec(&["ps", "--format", "json", id]);
    out.assert_ok();
    let pids: Vec<i32> = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps json: not an array of PIDs ({e}): {:?}", out.stdout));
    pids
}

fn ppid_of(pid: i32) -> i32 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn ps_lists_the_init_a_child_and_a_process_that_left_the_tree() {
    let rt = Runtime::new("ps");
    let mut b = Bundle::new("ps");
    // Without a PID namespace, the double-forked sleep is reparented outside the
    // container's process tree, yet stays in its cgroup.
    b.remove_namespace("pid");
    b.sh("sleep 7301 & (sleep 7302 &); exec sleep 7303");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let init = c.state()["pid"].as_i64().unwrap() as i32;
    let child = wait_pid("sleep 7301", || {
        processes_mentioning("sleep 7301").first().copied()
    });
    let orphan = wait_pid("sleep 7302", || {
        processes_mentioning("sleep 7302").first().copied()
    });
    wait_pid("the init's exec", || {
        processes_mentioning("sleep 7303")
            .contains(&init)
            .then_some(init)
    });
    assert_ne!(
        ppid_of(orphan),
        init,
        "the double fork did not leave the tree"
    );

    let pids = ps_json(&rt, &c.id);
    for (what, pid) in [("init", init), ("child", child), ("orphan", orphan)] {
        assert!(
            pids.contains(&pid),
            "ps json lacks the {what} {pid}: {pids:?}"
        );
    }
    let mut in_cgroup: Vec<i32> =
        fs::read_to_string(format!("/sys/fs/cgroup/pids{}/cgroup.procs", b.cgroup))
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
    in_cgroup.sort();
    assert_eq!(pids, in_cgroup, "ps json is not the cgroup's processes");

    // Table: the host's ps header and exactly the container's rows.
    let out = rt.exec(&["ps", &c.id]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let header = lines.next().unwrap();
    assert!(
        header.contains("PID") && header.contains("CMD"),
        "header: {header}"
    );
    let rows: Vec<i32> = lines
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(sorted, pids, "table rows: {}", out.stdout);
    assert!(out.stdout.contains("sleep 7303"), "{}", out.stdout);

    // ps arguments are passed on; one without a PID column is refused.
    let out = rt.exec(&["ps", &c.id, "-o", "pid,comm"]);
    out.assert_ok();
    assert!(
        out.stdout.starts_with("    PID COMMAND") || out.stdout.contains("PID"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), pids.len() + 1, "{}", out.stdout);
    rt.exec(&["ps", &c.id, "-o", "comm"])
        .assert_error("PID column");
    rt.exec(&["ps", "--format", "json", &c.id, "-ef"])
        .assert_error("no ps arguments");
    rt.exec(&["ps", "--format", "yaml", &c.id]).assert_code(1);
    rt.exec(&["ps", "no-such-container"])
        .assert_error("does not exist");

    c.delete(true).assert_ok();
    c.assert_nothing_left();
    assert!(pid_gone(orphan), "delete --force left the orphan {orphan}");
}

fn cgroup_file(b: &Bundle, controller: &str, file: &str) -> String {
    fs::read_to_string(format!("/sys/fs/cgroup/{controller}{}/{file}", b.cgroup))
        .unwrap_or_else(|e| panic!("{controller}/{file}: {e}"))
        .trim()
        .to_string()
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn events_stats_match_the_cgroup_files() {
    let rt = Runtime::new("events");
    let mut b = Bundle::new("events");
    b.sh("sleep 7311 & exec sleep 7312");
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 100}, "cpu": {"shares": 512}}),
    );
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    wait_pid("sleep 7311", || {
        processes_mentioning("sleep 7311").first().copied()
    });

    let out = rt.exec(&["events", "--stats", &c.id]);
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "one event: {}", out.stdout);
    let event: Value = serde_json::from_str(out.stdout.trim()).expect("events: JSON");
    assert_eq!(event["type"], "stats");
    assert_eq!(event["id"], c.id.as_str());
    let data = &event["data"];
    for section in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(data.get(section).is_some(), "no {section}: {data}");
    }
    let memory = &data["memory"];
    assert_eq!(as_u64(&memory["usage"]["limit"]), 64 << 20);
    assert_eq!(
        memory["usage"]["limit"].to_string(),
        cgroup_file(&b, "memory", "memory.limit_in_bytes")
    );
    assert!(as_u64(&memory["usage"]["usage"]) > 0, "{memory}");
    assert!(as_u64(&memory["usage"]["max"]) >= as_u64(&memory["usage"]["usage"]));
    for entry in ["swap", "kernel", "kernelTCP"] {
        for field in ["limit", "usage", "max", "failcnt"] {
            assert!(
                memory[entry][field].is_u64(),
                "memory.{entry}.{field}: {memory}"
            );
        }
    }
    let raw = memory["raw"].as_object().expect("memory.raw");
    let stat = cgroup_file(&b, "memory", "memory.stat");
    let rss_line = stat.lines().find(|l| l.starts_with("total_rss ")).unwrap();
    assert!(
        raw.contains_key("total_rss") && raw.contains_key("cache"),
        "{raw:?}"
    );
    assert_eq!(rss_line, format!("total_rss {}", raw["total_rss"]));

    let pids = &data["pids"];
    assert_eq!(as_u64(&pids["limit"]), 100);
    assert_eq!(
        pids["current"].to_string(),
        cgroup_file(&b, "pids", "pids.current")
    );
    assert!(as_u64(&pids["current"]) >= 2, "{pids}");

    let cpu = &data["cpu"];
    let total = as_u64(&cpu["usage"]["total"]);
    let file: u64 = cgroup_file(&b, "cpuacct", "cpuacct.usage").parse().unwrap();
    assert!(
        total > 0 && total <= file,
        "cpu.usage.total {total}, cpuacct.usage {file}"
    );
    assert!(
        cpu["usage"]["percpu"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{cpu}"
    );
    // user and kernel are nanoseconds (cpuacct.stat counts clock ticks of 10 ms here).
    let ticks: u64 = cgroup_file(&b, "cpuacct", "cpuacct.stat")
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    let (kernel, user) = (
        as_u64(&cpu["usage"]["kernel"]),
        as_u64(&cpu["usage"]["user"]),
    );
    assert!(
        kernel + user <= ticks * 10_000_000,
        "{cpu}: more than cpuacct.stat's {ticks} ticks"
    );
    assert_eq!(
        (kernel + user) % 10_000_000,
        0,
        "{cpu}: not whole ticks in nanoseconds"
    );
    for field in ["periods", "throttledPeriods", "throttledTime"] {
        assert!(
            cpu["throttling"][field].is_u64(),
            "cpu.throttling.{field}: {cpu}"
        );
    }

    // Streaming: a stats event each interval, and the stream ends when the container
    // stops.
    let mut follow = rt.spawn(&["events", "--interval", "100ms", &c.id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(follow.stdout_path())
        .unwrap_or_default()
        .lines()
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "fewer than 3 stats events in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !follow.has_exited(),
        "events exited while the container runs"
    );
    c.kill(Some("KILL")).assert_ok();
    let out = follow.wait(Duration::from_secs(10));
    out.assert_ok();
    for line in out.stdout.lines() {
        let event: Value = serde_json::from_str(line).expect("each event is one JSON line");
        assert_eq!(event["type"], "stats", "{line}");
    }

    rt.exec(&["events", "--stats", &c.id])
        .assert_error("not running");
    rt.exec(&["events", "--interval", "5", &c.id])
        .assert_error("--interval");
    rt.exec(&["events", "--interval", "0s", &c.id])
        .assert_error("--interval");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn events_reports_an_oom() {
    let rt = Runtime::new("events-oom");
    let mut b = Bundle::new("events-oom");
    // Filling a tmpfs past the limit, with no swap to push it to, makes the kernel's
    // OOM killer act inside the container's memory cgroup.
    b.sh("while [ ! -e /go ]; do sleep 0.05; done; head -c 64m /dev/zero > /dev/shm/fill; exec sleep 7321");
    b.set(
        "/linux/resources",
        json!({"memory": {"limit": 8 << 20, "swap": 8 << 20}}),
    );
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();

    let follow = rt.spawn(&["events", "--interval", "1s", &c.id]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::read_to_string(follow.stdout_path())
        .unwrap_or_default()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "no first stats event");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::write(b.rootfs.join("go"), "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let oom = loop {
        let text = fs::read_to_string(follow.stdout_path()).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("\"oom\"")) {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "no oom event in: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let event: Value = serde_json::from_str(&oom).unwrap();
    assert_eq!(event, json!({"type": "oom", "id": c.id}));
    let control = cgroup_file(&b, "memory", "memory.oom_control");
    assert!(
        control
            .lines()
            .any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"),
        "{control}"
    );
    drop(follow);
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}
