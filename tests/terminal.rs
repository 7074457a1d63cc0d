//! `run` in the foreground with `process.terminal` and no console socket: skiff relays the
//! container's pty to its own stdio, which here is a pty the test holds the master of.

mod common;

use common::*;
use serde_json::json;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Reads from `master` until `needle` has been seen, or panics after the deadline.
fn read_until(master: &OwnedFd, needle: &str, seen: &mut String) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buffer = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in {seen:?}");
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        match nix::unistd::read(master, &mut buffer) {
            Ok(0) | Err(_) => panic!("the terminal closed before {needle:?}: {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
}

#[test]
fn foreground_run_relays_the_terminal() {
    let rt = Runtime::new("fgtty");
    let mut b = Bundle::new("fgtty");
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    let c = rt.container(&b);
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = std::process::Command::new(runtime_bin())
        .args(["--root", rt.root.to_str().unwrap()])
        .args(["run", "--bundle", b.dir_str(), &c.id])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .expect("spawning skiff run");
    let mut seen = String::new();
    nix::unistd::write(&pty.master, b"tty; echo hello-$((6*7))\n").unwrap();
    read_until(&pty.master, "hello-42", &mut seen);
    assert!(seen.contains("/dev/pts/"), "the shell has no tty: {seen:?}");
    nix::unistd::write(&pty.master, b"exit 3\n").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("skiff run did not exit: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(3),
        "{status:?} signal {:?}",
        status.signal()
    );
    c.assert_nothing_left();
}

#[test]
fn systemd_cgroup_driver_without_systemd_is_a_clear_error() {
    // SKIFF-SPECIFIC error text. This machine has no systemd: the driver must be refused
    // up front, leaving nothing behind.
    assert!(
        !std::path::Path::new("/run/systemd/system").exists(),
        "this test expects a host without systemd"
    );
    let rt = Runtime::new("systemdcg");
    let b = Bundle::new("systemdcg");
    let c = rt.container(&b);
    let out = rt.exec(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &c.id]);
    out.assert_error("systemd is not running");
    c.assert_nothing_left();
}

/// An init that fails before it has made the terminal reports why: `run` waits on the
/// terminal and the init's report together, so the report is not lost behind a missing pty.
#[test]
fn foreground_terminal_run_reports_the_inits_own_error() {
    let rt = Runtime::new("fgttyfail");
    let mut b = Bundle::new("fgttyfail");
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    // Enough work before the failing mount that the parent is past configuring the init
    // and waiting for the terminal when the failure comes.
    b.edit(|c| {
        let mounts = c["mounts"].as_array_mut().expect("mounts");
        for n in 0..1500 {
            mounts.push(json!({
                "destination": format!("/mnt/slow-{n}"),
                "type": "tmpfs",
                "source": "tmpfs",
            }));
        }
    });
    b.add_mount(json!({
        "destination": "/mnt/missing-source",
        "type": "bind",
        "source": "/nonexistent-skiff-bind-source",
        "options": ["bind"]
    }));
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_error("/mnt/missing-source");
    assert!(
        !out.stderr.contains("terminal"),
        "the terminal hid the init's error: {}",
        out.stderr
    );
    c.assert_nothing_left();
}
