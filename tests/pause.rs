//! `pause` and `resume`: the container's processes really stop and continue, `state`
//! says `paused`, wrong-state calls fail as runc's do, and a paused container can still
//! be killed and force-deleted without leaving anything behind.

mod common;

use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// The init bumps a counter in /count (in its rootfs) every 20 ms.
const COUNTER: &str = "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.02; done";

fn count(b: &Bundle) -> u64 {
    fs::read_to_string(b.rootfs.join("count"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_counting(b: &Bundle) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = count(b);
        if now > 2 {
            return now;
        }
        assert!(Instant::now() < deadline, "the counter never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn freezer_state(b: &Bundle) -> String {
    fs::read_to_string(format!("/sys/fs/cgroup/freezer{}/freezer.state", b.cgroup))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn pause_stops_the_processes_and_resume_continues_them() {
    let rt = Runtime::new("pause");
    let mut b = Bundle::new("pause");
    b.sh(COUNTER);
    let c = rt.container(&b);
    let id = c.id.clone();
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    wait_counting(&b);

    rt.exec(&["pause", &id]).assert_ok();
    assert_eq!(c.status(), "paused");
    assert_eq!(freezer_state(&b), "FROZEN");
    let listed = rt.list();
    let entry = listed
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("listed");
    assert_eq!(entry["status"], "paused", "list: {entry}");
    let frozen_at = count(&b);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&b), frozen_at, "the counter advanced while paused");

    // The other cgroup commands work on a paused container.
    let out = rt.exec(&["ps", "--format", "json", &id]);
    out.assert_ok();
    let init = c.state()["pid"].as_i64().unwrap();
    assert!(
        out.stdout.contains(&init.to_string()),
        "ps while paused: {}",
        out.stdout
    );
    rt.exec(&["events", "--stats", &id]).assert_ok();
    rt.exec(&["update", "--pids-limit", "90", &id]).assert_ok();
    assert_eq!(c.status(), "paused", "update thawed the container");

    // Wrong-state calls.
    rt.exec(&["pause", &id]).assert_error("already paused");
    // exec refuses a paused container unless told otherwise.
    rt.exec(&["exec", &id, "true"]).assert_error("paused");

    rt.exec(&["resume", &id]).assert_ok();
    assert_eq!(c.status(), "running");
    assert_eq!(freezer_state(&b), "THAWED");
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&b) <= frozen_at {
        assert!(
            Instant::now() < deadline,
            "the counter did not continue after resume"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    rt.exec(&["resume", &id]).assert_error("not paused");

    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    rt.exec(&["pause", &id]).assert_error("not running");
    rt.exec(&["resume", &id]).assert_error("not paused");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn a_created_or_unknown_container_cannot_be_paused() {
    let rt = Runtime::new("pause-created");
    let mut b = Bundle::new("pause-created");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    rt.exec(&["pause", &c.id]).assert_error("not running");
    rt.exec(&["resume", &c.id]).assert_error("not paused");
    assert_eq!(c.status(), "created");
    rt.exec(&["pause", "no-such-container"])
        .assert_error("does not exist");
    rt.exec(&["resume", "no-such-container"])
        .assert_error("does not exist");
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn a_paused_container_can_be_killed() {
    let rt = Runtime::new("pause-kill");
    let mut b = Bundle::new("pause-kill");
    // A child that is not the init, to show the whole container goes.
    b.sh("sleep 1000 & exec sleep 1000");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    rt.exec(&["pause", &c.id]).assert_ok();
    assert_eq!(c.status(), "paused");
    c.kill(Some("9")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn a_paused_container_can_be_force_deleted() {
    let rt = Runtime::new("pause-delete");
    let mut b = Bundle::new("pause-delete");
    b.sh("sleep 1000 & exec sleep 1000");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    rt.exec(&["pause", &c.id]).assert_ok();
    assert_eq!(c.status(), "paused");
    c.delete(false).assert_error("paused");
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn a_state_naming_a_hierarchy_root_is_refused_by_every_cgroup_command() {
    let rt = Runtime::new("pause-hostile");
    let mut b = Bundle::new("pause-hostile");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let state_file = rt.root.join(&c.id).join("state.json");
    let original = fs::read_to_string(&state_file).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&original).unwrap();
    for root in [
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/freezer/a/../..",
    ] {
        state["cgroup"]["dirs"] = serde_json::json!([root]);
        fs::write(&state_file, state.to_string()).unwrap();
        for args in [
            vec!["pause", c.id.as_str()],
            vec!["ps", "--format", "json", &c.id],
            vec!["events", "--stats", &c.id],
            vec!["update", "--pids-limit", "5", &c.id],
        ] {
            rt.exec(&args).assert_error("refusing to touch it");
        }
    }
    fs::write(&state_file, original).unwrap();
    assert_eq!(c.status(), "running");
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}
