//! Crash and race safety: `skiff create` and `skiff run` killed with SIGKILL at any instant
//! leave nothing that `delete --force` cannot remove, and the ID is usable again; a
//! `delete --force` racing creates of the same ID never leaves half a container.

mod common;

use common::*;
use std::fs;
use std::time::{Duration, Instant};

/// Everything a container with this ID, cgroup and bundle could have left on the host,
/// waiting a little for processes that are still dying on their own.
fn leftovers(rt: &Runtime, id: &str, cgroup: &str, bundle: &str) -> Vec<String> {
    let root = rt.root.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&root).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut left = Vec::new();
    if rt.root.join(id).exists() {
        left.push(format!("state directory {}", rt.root.join(id).display()));
    }
    for entry in fs::read_dir(&rt.root).into_iter().flatten().flatten() {
        left.push(format!("state root entry {}", entry.path().display()));
    }
    left.extend(
        cgroup_dirs_left(cgroup)
            .into_iter()
            .map(|d| format!("cgroup {d}")),
    );
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(
        mountinfo
            .lines()
            .filter(|l| l.contains(bundle))
            .map(|l| format!("mount {l}")),
    );
    left.extend(
        processes_mentioning(&root)
            .into_iter()
            .map(|p| format!("process {p} mentioning {root}")),
    );
    left
}

/// Runs `command` (create or run) and SIGKILLs it after each of many delays spread over
/// how long an uninterrupted one takes; after each, `delete --force` must leave nothing.
fn killed_at_every_instant(command: &str) {
    let rt = Runtime::new(&format!("crash-{command}"));
    let b = Bundle::new(&format!("crash-{command}"));
    let _cleanup = CgroupCleanup(b.cgroup.clone());
    let id = b.name.clone();
    let args = [command, "--bundle", b.dir_str(), &id];

    let started = Instant::now();
    rt.exec(&args).assert_ok();
    let full = started.elapsed();
    rt.exec(&["delete", "--force", &id]).assert_ok();

    let steps = 60u32;
    for step in 0..=steps {
        // Up to 1.3 times the full duration, so the very end is covered too.
        let delay = full * 13 * step / (10 * steps);
        let mut running = rt.spawn_with(true, &args, Stdio3::Null);
        std::thread::sleep(delay);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(running.pid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let deadline = Instant::now() + TIMEOUT;
        while !running.has_exited() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(running);
        if let Some(state) = rt.try_state(&id) {
            let status = state["status"].as_str().unwrap_or_default().to_string();
            assert!(
                ["stopped", "created", "running"].contains(&status.as_str()),
                "{command} killed after {delay:?}: status {status:?} (a dead creator's \
                 leftovers must read as stopped)"
            );
        }
        rt.exec(&["delete", "--force", &id]).assert_ok();
        let left = leftovers(&rt, &id, &b.cgroup, b.dir_str());
        assert!(
            left.is_empty(),
            "{command} killed after {delay:?} of {full:?}, then delete --force, left: {left:#?}"
        );
    }
    // The ID is usable again.
    rt.exec(&args).assert_ok();
    rt.exec(&["delete", "--force", &id]).assert_ok();
    let left = leftovers(&rt, &id, &b.cgroup, b.dir_str());
    assert!(left.is_empty(), "left: {left:#?}");
}

#[test]
fn create_killed_at_any_instant_leaves_nothing_delete_cannot_remove() {
    killed_at_every_instant("create");
}

#[test]
fn run_killed_at_any_instant_leaves_nothing_delete_cannot_remove() {
    killed_at_every_instant("run");
}

/// A created container is whole: state, its cgroup in every hierarchy, a live init.
fn is_whole(rt: &Runtime, id: &str, cgroup: &str) -> Result<(), String> {
    let state = rt.try_state(id).ok_or_else(|| "no state".to_string())?;
    if state["status"] != "created" {
        return Err(format!("status {}", state["status"]));
    }
    let pid = state["pid"].as_i64().unwrap_or_default() as i32;
    for hierarchy in CGROUP_CONTROLLERS.iter().chain(["unified"].iter()) {
        let procs = fs::read_to_string(format!("/sys/fs/cgroup/{hierarchy}{cgroup}/cgroup.procs"))
            .map_err(|e| format!("{hierarchy}{cgroup}: {e}"))?;
        if procs.trim() != pid.to_string() {
            return Err(format!(
                "{hierarchy}{cgroup} holds {procs:?}, not the init {pid}"
            ));
        }
    }
    Ok(())
}

#[test]
fn delete_force_racing_creates_never_leaves_half_a_container() {
    let rt = Runtime::new("race-delete");
    let b = Bundle::new("race-delete");
    let _cleanup = CgroupCleanup(b.cgroup.clone());
    let id = b.name.clone();
    for round in 0..80u64 {
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| rt.exec(&["create", "--bundle", b.dir_str(), &id]));
            }
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(round % 10));
                rt.exec(&["delete", "--force", &id])
            });
        });
        if rt.root.join(&id).exists() {
            if let Err(why) = is_whole(&rt, &id, &b.cgroup) {
                panic!("round {round}: the container that won is not whole: {why}");
            }
        } else {
            let left = leftovers(&rt, &id, &b.cgroup, b.dir_str());
            assert!(
                left.is_empty(),
                "round {round}: no state, yet left: {left:#?}"
            );
        }
        rt.exec(&["delete", "--force", &id]).assert_ok();
        let left = leftovers(&rt, &id, &b.cgroup, b.dir_str());
        assert!(
            left.is_empty(),
            "round {round}: after delete --force: {left:#?}"
        );
    }
}

#[test]
fn state_reports_creating_while_the_creator_lives_and_stopped_once_it_is_dead() {
    let rt = Runtime::new("creating");
    let b = Bundle::new("creating");
    let _cleanup = CgroupCleanup(b.cgroup.clone());
    let id = b.name.clone();
    let state_file = rt.root.join(&id).join("state.json");
    let signal = |pid: i32, signal| {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    };
    use nix::sys::signal::Signal::{SIGKILL, SIGSTOP};
    // Stop the create as soon as its record appears; retry if it finished first.
    let mut caught = false;
    for _ in 0..50 {
        let mut create = rt.spawn_with(
            true,
            &["create", "--bundle", b.dir_str(), &id],
            Stdio3::Null,
        );
        while !state_file.exists() && !create.has_exited() {
            std::hint::spin_loop();
        }
        signal(create.pid(), SIGSTOP);
        let status = rt
            .try_state(&id)
            .map(|s| s["status"].as_str().unwrap_or_default().to_string());
        if status.as_deref() == Some("creating") {
            let listed = rt.list();
            let entry = listed
                .iter()
                .find(|c| c["id"] == id.as_str())
                .expect("listed");
            assert_eq!(entry["status"], "creating");
            signal(create.pid(), SIGKILL);
            while !create.has_exited() {
                std::thread::sleep(Duration::from_millis(5));
            }
            let state = rt.try_state(&id).expect("the record outlives its creator");
            assert_eq!(
                state["status"], "stopped",
                "a dead creator's leftovers are stopped"
            );
            // Being stopped, a plain delete removes them.
            rt.exec(&["delete", &id]).assert_ok();
            let left = leftovers(&rt, &id, &b.cgroup, b.dir_str());
            assert!(left.is_empty(), "left: {left:#?}");
            caught = true;
            break;
        }
        signal(create.pid(), SIGKILL);
        drop(create);
        rt.exec(&["delete", "--force", &id]).assert_ok();
    }
    assert!(
        caught,
        "never caught the create between publishing its record and finishing"
    );
}
