//! Signals around `run`, `create` and `kill`: one that comes while the container is being
//! made leaves nothing behind, forwarding lasts as long as the container (also after it
//! hangs up its terminal), and `kill` signals through a pidfd.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{
    accept4, bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
};
use nix::unistd::Pid;

/// Polls `check` every 10 ms until it holds, or panics with `what` after 10 s.
#[track_caller]
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A unix listener whose backlog (0) is already full with a connection of our own, so the
/// next connect blocks until we accept: a way to hold the runtime inside `create`.
fn full_listener(path: &Path) -> (OwnedFd, UnixStream) {
    let listener = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(listener.as_raw_fd(), &UnixAddr::new(path).unwrap()).unwrap();
    listen(&listener, Backlog::new(0).unwrap()).unwrap();
    nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let filler = UnixStream::connect(path).unwrap();
    (listener, filler)
}

/// The next connection on `listener`, or None after `timeout`.
fn accept_within(listener: &OwnedFd, timeout: Duration) -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    let deadline = Instant::now() + timeout;
    loop {
        match accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC) {
            // SAFETY: accept4 just returned this descriptor to us alone.
            Ok(fd) => return Some(unsafe { OwnedFd::from_raw_fd(fd) }),
            Err(nix::errno::Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn sigterm_while_creating_leaves_nothing() {
    for command in ["run", "create"] {
        sigterm_while_creating(command);
    }
}

/// SIGTERM to `skiff <command>` (run in the foreground, or create) while it is making the
/// container: it ends, 128+SIGTERM, and removes what it had made.
fn sigterm_while_creating(command: &str) {
    let rt = Runtime::new("termcreate");
    let mut b = Bundle::new("termcreate");
    b.set("/process/terminal", json!(true));
    // PID 1 of its namespace ignores a SIGTERM it has no handler for: a run that only
    // forwarded the early signal would never end.
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    let socket = rt.scratch().join("console.sock");
    let (listener, filler) = full_listener(&socket);
    let running = rt.spawn(&[
        command,
        "--bundle",
        b.dir_str(),
        "--console-socket",
        socket.to_str().unwrap(),
        &c.id,
    ]);
    let pid = running.pid();
    // The state directory is made, and skiff waits in connect() on the full backlog.
    wait_for("skiff to block connecting to the console socket", || {
        rt.root.join(&c.id).exists()
            && fs::read_to_string(format!("/proc/{pid}/wchan"))
                .is_ok_and(|w| w.contains("unix_wait_for_peer"))
    });
    kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Let the create go on: skiff's connection is accepted and held open, so the init can
    // send its pty and the container is fully made before skiff looks at the signal.
    drop(accept_within(&listener, Duration::from_secs(5)));
    drop(filler);
    // None if the signal ended skiff on the spot.
    let held = accept_within(&listener, Duration::from_secs(5));
    let out = running.wait(TIMEOUT);
    drop(held);
    c.assert_nothing_left();
    out.assert_code(128 + libc::SIGTERM);
    assert!(out.stderr.contains("SIGTERM"), "{command}: {}", out.stderr);
}

#[test]
fn signals_reach_a_container_that_closed_its_terminal() {
    let rt = Runtime::new("hungup");
    let mut b = Bundle::new("hungup");
    b.set("/process/terminal", json!(true));
    // Closing its only descriptors of the pty hangs the terminal up for skiff's relay; the
    // container lives on and reports the signal it then gets through its exit status.
    b.sh("trap 'echo got-term > /tmp/report; exit 7' TERM; \
         exec 0<&- 1>&- 2>&-; echo closed > /tmp/closed; \
         while :; do sleep 0.05; done");
    let c = rt.container(&b);
    let running = c.spawn_run(&[]);
    let closed = b.rootfs.join("tmp/closed");
    wait_for("the container to close its terminal", || closed.exists());
    // Time for skiff to see the hang-up and leave its relay.
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(running.pid()), Signal::SIGTERM).unwrap();
    let out = running.wait(Duration::from_secs(10));
    out.assert_code(7);
    assert_eq!(
        fs::read_to_string(b.rootfs.join("tmp/report")).unwrap(),
        "got-term\n"
    );
    c.assert_nothing_left();
}

/// The `strace` binary, installed with apt-get if it is missing.
fn strace() -> &'static str {
    let present = || Command::new("strace").arg("-V").output().is_ok();
    if !present() {
        for args in [
            &["update", "-q"][..],
            &["install", "-y", "-q", "strace"][..],
        ] {
            let _ = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        assert!(present(), "strace is needed and could not be installed");
    }
    "strace"
}

#[test]
fn kill_signals_the_init_through_a_pidfd() {
    // A reused PID cannot be produced on demand, so this checks the order of the calls that
    // rules it out: a pidfd for the init, then its start time read, then the signal through
    // the pidfd, never kill(2) on the bare PID.
    let rt = Runtime::new("pidfdkill");
    let mut b = Bundle::new("pidfdkill");
    b.sh("trap 'echo got-usr1 > /tmp/report; exit 0' USR1; while :; do sleep 0.05; done");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap();
    let trace = rt.scratch().join("kill.trace");
    let out = Command::new(strace())
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args(["-e", "trace=kill,pidfd_open,pidfd_send_signal,openat"])
        .arg(runtime_bin())
        .arg("--root")
        .arg(&rt.root)
        .args(["kill", &c.id, "USR1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = fs::read_to_string(&trace).unwrap();
    let position = |needle: &str| {
        calls
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the trace:\n{calls}"))
    };
    let opened = position(&format!("pidfd_open({pid}, 0)"));
    let signalled = position("pidfd_send_signal(");
    // /proc/<pid>/stat, opened as a whole path or relative to /proc/<pid>.
    let between = calls.get(opened..signalled).unwrap_or_default();
    let checked = between
        .find(&format!("\"/proc/{pid}"))
        .is_some_and(|at| between[at..].contains("stat\""));
    assert!(
        checked,
        "start time not checked between pidfd_open and the signal:\n{calls}"
    );
    assert!(calls[signalled..].contains("SIGUSR1"), "{calls}");
    assert!(
        !calls.contains(&format!("kill({pid},")),
        "kill(2) on the bare PID:\n{calls}"
    );
    let report = b.rootfs.join("tmp/report");
    wait_for("the container to get SIGUSR1", || report.exists());
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}
