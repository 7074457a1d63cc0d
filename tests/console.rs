//! process.terminal=true with --console-socket: the runtime sends the pty
//! master over a unix socket (SCM_RIGHTS) and the container's stdio is the
//! pty slave.
//!
//! Runtime-neutral: passes against runc too.

mod common;

use common::*;
use serde_json::json;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Reads the pty master in a thread; chunks arrive on the channel.
fn reader(master: &OwnedFd) -> mpsc::Receiver<Vec<u8>> {
    let mut f = File::from(master.try_clone().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => return, // EIO once the slave side is gone
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Collects output until `needle` appears (panics after 20 s).
fn expect_output(rx: &mpsc::Receiver<Vec<u8>>, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "never saw {needle:?} on the pty; got {seen:?}"
        );
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => panic!("pty closed/timed out before {needle:?}; got {seen:?}"),
        }
    }
}

/// Runs `<command> --bundle B --console-socket S ID` with a listener on S, and returns the
/// pty master the container's init sent there, with the command's result.
fn with_console_socket(rt: &Runtime, b: &Bundle, id: &str, command: &[&str]) -> (OwnedFd, Out) {
    let sock = rt.scratch().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut args = command.to_vec();
    args.extend([
        "--bundle",
        b.dir_str(),
        "--console-socket",
        sock.to_str().unwrap(),
        id,
    ]);
    let running = rt.spawn(&args);
    let master = receive_console(&listener);
    (master, running.wait(TIMEOUT))
}

#[test]
fn console_socket_interactive_shell() {
    let rt = Runtime::new("console");
    let mut b = Bundle::new("console");
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    let c = rt.container(&b);
    let (master, out) = with_console_socket(&rt, &b, &c.id, &["create"]);
    out.assert_ok();
    assert_eq!(c.status(), "created");

    // The fd really is a pty master.
    let mut pts_num: libc::c_uint = 0;
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut pts_num) };
    assert_eq!(r, 0, "received fd is not a pty master");

    let rx = reader(&master);
    let mut w = File::from(master.try_clone().unwrap());
    c.start().assert_ok();
    assert_eq!(c.status(), "running");

    let mut seen = String::new();
    w.write_all(b"echo hello-$((6*7))\n").unwrap();
    expect_output(&rx, &mut seen, "hello-42");

    // stdin/stdout are the pty slave inside the container's own devpts.
    w.write_all(b"test -t 0 && test -t 1 && echo tty-$((1+1)); tty\n")
        .unwrap();
    expect_output(&rx, &mut seen, "tty-2");
    expect_output(&rx, &mut seen, "/dev/pts/0");

    // /dev/console is the container's pty (devpts major 136 = 0x88).
    w.write_all(b"stat -c 'console-%t:%T' /dev/console\n")
        .unwrap();
    expect_output(&rx, &mut seen, "console-88:0");

    // The terminal has a sane size setting and is the controlling tty.
    w.write_all(b"stty size >/dev/null && echo stty-$((2+1))\n")
        .unwrap();
    expect_output(&rx, &mut seen, "stty-3");

    w.write_all(b"exit 0\n").unwrap();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
    // No output goes to the runtime's own stdout with a terminal.
    assert!(!out.stdout_now().contains("hello-42"));
}

#[test]
fn console_socket_with_run_detach() {
    let rt = Runtime::new("consoledetach");
    let mut b = Bundle::new("consoledetach");
    b.set("/process/terminal", json!(true));
    b.sh("echo detached-$((40+2)); read line; echo got-$line");
    let c = rt.container(&b);
    let (master, out) = with_console_socket(&rt, &b, &c.id, &["run", "--detach"]);
    out.assert_ok();
    let rx = reader(&master);
    let mut w = File::from(master.try_clone().unwrap());
    let mut seen = String::new();
    expect_output(&rx, &mut seen, "detached-42");
    w.write_all(b"abc\n").unwrap();
    expect_output(&rx, &mut seen, "got-abc");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}
