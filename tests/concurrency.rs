//! Concurrent commands on one id and on one state root.
//!
//! SKIFF-SPECIFIC (fail or flake against runc 1.1.5 by design):
//! - `concurrent_create_same_id`: exactly one of 8 racing creates wins and
//!   the others fail with "container with id exists" and one stderr line; runc does
//!   not lock the id and its losers sometimes print a dozen lines (and try
//!   to rmdir the winner's cgroups).
//! - `concurrent_create_list_delete`: `list` must not fail while containers
//!   are deleted; runc's list sometimes fails with "stat <root>/<id>: no
//!   such file or directory".
//!
//! The other tests pass against runc.

mod common;

use common::*;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Duration;

/// Runs `command` on `n` threads released together, and returns every result.
fn race(n: usize, command: impl Fn() -> Out + Sync) -> Vec<Out> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    command()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn concurrent_create_same_id() {
    let rt = Runtime::new("samecreate");
    let mut b = Bundle::new("samecreate");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    const N: usize = 8;
    let results = race(N, || rt.exec(&["create", "--bundle", &bundle, &c.id]));
    let winners = results.iter().filter(|o| o.ok()).count();
    assert_eq!(
        winners,
        1,
        "exactly one create must win: {:#?}",
        results
            .iter()
            .map(|o| (o.code(), o.stderr.clone()))
            .collect::<Vec<_>>()
    );
    for o in results.iter().filter(|o| !o.ok()) {
        o.assert_error("container with id exists");
    }
    let st = c.state();
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(!pid_gone(pid));
    // Only one init was left behind: the cgroup holds exactly one process.
    let procs = std::fs::read_to_string(format!("/sys/fs/cgroup/pids{}/cgroup.procs", c.cgroup))
        .unwrap_or_default();
    assert_eq!(
        procs.split_whitespace().collect::<Vec<_>>(),
        vec![pid.to_string()],
        "stray processes in the container's cgroup"
    );
    c.start().assert_ok();
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

/// Checks one `state` result taken while the container changes: a clean
/// success with a valid status, or a clean "does not exist" error.
#[track_caller]
fn check_racy_state(o: &Out, id: &str) {
    match o.code() {
        0 => {
            let v: Value = serde_json::from_str(&o.stdout)
                .unwrap_or_else(|e| panic!("state printed invalid JSON ({e}): {:?}", o.stdout));
            assert_eq!(v["id"], id);
            let st = v["status"].as_str().unwrap_or_default();
            assert!(
                ["creating", "created", "running", "stopped", "paused"].contains(&st),
                "bad status {st:?}"
            );
        }
        1 => assert!(
            o.stderr.contains("does not exist"),
            "state failed with an unexpected error: {:?}",
            o.stderr
        ),
        c => panic!("state exited with {c} (crash?): {:?}", o.stderr),
    }
}

#[test]
fn parallel_state_during_start_kill_delete() {
    let rt = Runtime::new("racystate");
    let mut b = Bundle::new("racystate");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.state();
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) || n < 3 {
                    let o = rt.exec(&["state", &c.id]);
                    check_racy_state(&o, &c.id);
                    if o.ok() {
                        let v: Value = serde_json::from_str(&o.stdout).unwrap();
                        seen.lock()
                            .unwrap()
                            .push(v["status"].as_str().unwrap().to_string());
                    }
                    n += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        c.start().assert_ok();
        std::thread::sleep(Duration::from_millis(50));
        c.kill(Some("KILL")).assert_ok();
        c.wait_status("stopped");
        c.delete(false).assert_ok();
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::SeqCst);
    });
    let seen = seen.into_inner().unwrap();
    assert!(seen.iter().any(|s| s == "created"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "running"), "{seen:?}");
    c.assert_nothing_left();
}

#[test]
fn concurrent_force_delete_same_id() {
    let rt = Runtime::new("racydelete");
    let mut b = Bundle::new("racydelete");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    c.state();
    const N: usize = 4;
    let results = race(N, || rt.exec(&["delete", "--force", &c.id]));
    assert!(
        results.iter().any(|o| o.ok()),
        "no delete --force succeeded"
    );
    for o in &results {
        assert!(
            o.code() == 0 || (o.code() == 1 && o.stderr.contains("does not exist")),
            "racing delete --force: exit {} stderr {:?}",
            o.code(),
            o.stderr
        );
    }
    c.assert_nothing_left();
}

#[test]
fn concurrent_containers_in_one_root() {
    let rt = Runtime::new("parallelroot");
    const N: usize = 6;
    let bundles: Vec<Bundle> = (0..N)
        .map(|i| {
            let mut b = Bundle::new(&format!("parallelroot{i}"));
            b.sh(&format!("echo hello-from-{i}; hostname"));
            b.set("/hostname", serde_json::json!(format!("host-{i}")));
            b
        })
        .collect();
    let containers: Vec<Container> = bundles.iter().map(|b| rt.container(b)).collect();
    let barrier = Barrier::new(N);
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = containers
            .iter()
            .map(|c| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    c.run(&[])
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, out) in outs.iter().enumerate() {
        out.assert_ok();
        assert_eq!(out.stdout, format!("hello-from-{i}\nhost-{i}\n"));
    }
    for c in &containers {
        c.assert_nothing_left();
    }
    assert!(rt.list().is_empty());
}

#[test]
fn concurrent_create_list_delete() {
    let rt = Runtime::new("parallellist");
    const N: usize = 4;
    let bundles: Vec<Bundle> = (0..N)
        .map(|i| {
            let mut b = Bundle::new(&format!("parallellist{i}"));
            b.args(&["sleep", "1000"]);
            b
        })
        .collect();
    let containers: Vec<Container> = bundles.iter().map(|b| rt.container(b)).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                // list must never fail or print garbage while containers
                // are being created and deleted.
                let _ = rt.list();
            }
        });
        let hs: Vec<_> = containers
            .iter()
            .map(|c| {
                s.spawn(move || {
                    c.create(&[]).assert_ok();
                    c.state();
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let mut ids = rt.list_ids();
        ids.sort();
        let mut want: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
        want.sort();
        assert_eq!(ids, want);
        let hs: Vec<_> = containers
            .iter()
            .map(|c| s.spawn(move || c.delete(false).assert_ok().code()))
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
    });
    for c in &containers {
        c.assert_nothing_left();
    }
}
