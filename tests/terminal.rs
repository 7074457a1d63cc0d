//! `run` in the foreground with `process.terminal` and no console socket: skiff relays the
//! container's pty to its own stdio, which here is a pty the test holds the master of.

mod common;

use common::*;
use serde_json::json;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

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

/// A container that is done before `run` starts waiting for it (here: a poststart hook
/// holds `run` until the container is a zombie) still has its output relayed: it waits in
/// the pty, and the exit seen first must not skip it.
#[test]
fn foreground_run_relays_what_a_container_wrote_before_the_wait() {
    let rt = Runtime::new("fgttyearly");
    let mut b = Bundle::new("fgttyearly");
    b.set("/process/terminal", json!(true));
    b.args(&["sh", "-c", "tty && echo written-early"]);
    let until_exited = r#"pid=$(sed 's/.*"pid": *\([0-9]*\).*/\1/')
for i in $(seq 250); do
  case "$(cut -d' ' -f3 /proc/$pid/stat)" in Z) exit 0;; esac
  sleep 0.02
done
exit 1"#;
    b.set(
        "/hooks",
        json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", until_exited]}]}),
    );
    let c = rt.container(&b);
    let out = rt.exec(&["run", "--bundle", b.dir_str(), &c.id]);
    out.assert_ok();
    assert!(out.stdout.contains("/dev/pts/0"), "{:?}", out.stdout);
    assert!(out.stdout.contains("written-early"), "{:?}", out.stdout);
    assert!(
        !out.stderr.contains("poststart"),
        "the hook did not see the container exit: {:?}",
        out.stderr
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

/// Sets the window size of the terminal `fd` belongs to.
fn set_window_size(fd: &OwnedFd, rows: u16, cols: u16) {
    use std::os::fd::AsRawFd;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY (test): TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

#[test]
fn foreground_run_forwards_window_size_changes_and_restores_the_terminal() {
    use nix::sys::termios::{tcgetattr, LocalFlags};
    let rt = Runtime::new("fgwinch");
    let mut b = Bundle::new("fgwinch");
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    let c = rt.container(&b);
    let pty = nix::pty::openpty(None, None).expect("openpty");
    set_window_size(&pty.master, 24, 80);
    let before = tcgetattr(&pty.slave).expect("tcgetattr");
    assert!(before
        .local_flags
        .contains(LocalFlags::ECHO | LocalFlags::ICANON));
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
    // The container's pty starts with the caller's size.
    nix::unistd::write(&pty.master, b"echo size=$(stty size)=\n").unwrap();
    read_until(&pty.master, "size=24 80=", &mut seen);
    // While it runs, skiff's terminal is raw: no echo, no line editing of its own.
    let during = tcgetattr(&pty.slave).expect("tcgetattr");
    assert!(!during.local_flags.contains(LocalFlags::ECHO));
    assert!(!during.local_flags.contains(LocalFlags::ICANON));
    // A resize of the caller's terminal reaches the container's (SIGWINCH goes to the
    // terminal's foreground group, which skiff, spawned here without it as its
    // controlling terminal, is not: send it the signal as a shell would).
    set_window_size(&pty.master, 50, 132);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGWINCH,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut asked = 0;
    while !seen.contains("size=50 132=") {
        assert!(
            Instant::now() < deadline,
            "the new size never arrived: {seen:?}"
        );
        // The signal may be handled after the shell read the line: ask until it shows.
        nix::unistd::write(&pty.master, b"echo size=$(stty size)=\n").unwrap();
        asked += 1;
        let mark = format!("ask{asked}");
        nix::unistd::write(&pty.master, format!("echo {mark}\n").as_bytes()).unwrap();
        read_until(&pty.master, &format!("\n{mark}"), &mut seen);
    }
    nix::unistd::write(&pty.master, b"exit 0\n").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "skiff run did not exit: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    // The caller's terminal is as it was.
    let after = tcgetattr(&pty.slave).expect("tcgetattr");
    assert_eq!(after.local_flags, before.local_flags);
    assert_eq!(after.input_flags, before.input_flags);
    assert_eq!(after.output_flags, before.output_flags);
    c.assert_nothing_left();
}
