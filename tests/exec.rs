//! `exec`: a new process inside a running (or created) container, in its namespaces and
//! cgroup, with the container's process settings unless told otherwise.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A bundle whose init sleeps, so the container stays up for exec.
fn sleeper_bundle(tag: &str) -> Bundle {
    let mut b = Bundle::new(tag);
    b.args(&["sleep", "1000"]);
    b
}

/// Creates and starts `c`, returning the init's host PID.
#[track_caller]
fn start(c: &Container) -> i32 {
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    init_pid(c)
}

#[track_caller]
fn init_pid(c: &Container) -> i32 {
    c.state()["pid"].as_i64().expect("state.pid") as i32
}

/// `exec [flags] ID [command]`, given as one list with `ID` where the id goes.
#[track_caller]
fn exec(c: &Container, args: &[&str]) -> Out {
    let args = with_id(c, args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.rt.exec(&args)
}

fn with_id(c: &Container, args: &[&str]) -> Vec<String> {
    let mut full = vec!["exec".to_string()];
    full.extend(args.iter().map(|a| {
        if *a == "ID" {
            c.id.clone()
        } else {
            a.to_string()
        }
    }));
    full
}

/// The processes in the container's cgroup, as the host's pids hierarchy lists them.
fn cgroup_procs(c: &Container) -> Vec<i32> {
    let path = format!("/sys/fs/cgroup/pids{}/cgroup.procs", c.cgroup);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut pids: Vec<i32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    pids.sort();
    pids
}

/// Polls until the container's cgroup holds only `expected` (the init): what a failed or
/// finished exec must leave.
#[track_caller]
fn assert_only_in_cgroup(c: &Container, expected: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let procs = cgroup_procs(c);
        if procs == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the container's cgroup holds {procs:?}, expected only {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ns_link(pid: &str, kind: &str) -> String {
    let path = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn exec_returns_the_status_and_passes_stdio_through() {
    let rt = Runtime::new("exstatus");
    let b = sleeper_bundle("exstatus");
    let c = rt.container(&b);
    let init = start(&c);

    let out = exec(
        &c,
        &["ID", "sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
    );
    out.assert_code(7);
    assert_eq!(out.stdout, "to-out\n");
    assert_eq!(out.stderr, "to-err\n");
    exec(&c, &["ID", "true"]).assert_ok();
    // Killed by a signal: 128+N.
    exec(&c, &["ID", "sh", "-c", "kill -KILL $$"]).assert_code(137);
    exec(&c, &["ID", "sh", "-c", "kill -TERM $$"]).assert_code(143);

    // stdin reaches the process.
    let mut child = Command::new(runtime_bin())
        .args(["--root", rt.root.to_str().unwrap(), "exec", &c.id])
        .args(["sh", "-c", "read line; echo got-$line"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got-typed\n");
    assert_only_in_cgroup(&c, &[init]);
}

#[test]
fn exec_is_really_inside_the_container() {
    let rt = Runtime::new("exinside");
    let mut b = sleeper_bundle("exinside");
    b.add_namespace("cgroup");
    b.set("/hostname", json!("exec-box"));
    fs::write(b.rootfs.join("etc/only-in-rootfs"), "rootfs-marker\n").unwrap();
    let c = rt.container(&b);
    let init = start(&c);

    let kinds = ["pid", "mnt", "net", "uts", "ipc", "cgroup", "user"];
    let script = format!(
        "for k in {}; do readlink /proc/self/ns/$k; done; echo pid=$$; hostname; \
         cat /etc/only-in-rootfs; cat /proc/self/cgroup; echo ---; cat /proc/1/cgroup",
        kinds.join(" ")
    );
    let out = exec(&c, &["ID", "sh", "-c", &script]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    for (index, kind) in kinds.iter().enumerate() {
        assert_eq!(
            lines[index],
            ns_link(&init.to_string(), kind),
            "{kind} namespace differs from the init's: {}",
            out.stdout
        );
    }
    // The template has no user namespace: that one is the host's, and was not joined.
    assert_eq!(lines[6], ns_link("self", "user"));
    assert_ne!(
        lines[0],
        ns_link("self", "pid"),
        "exec stayed in the host pid namespace"
    );
    let pid: i32 = lines[7].strip_prefix("pid=").unwrap().parse().unwrap();
    assert!(
        pid < 10,
        "PID {pid} is not a PID of the container's namespace"
    );
    assert_eq!(lines[8], "exec-box");
    assert_eq!(lines[9], "rootfs-marker");
    // The same cgroups as the init, seen through the container's cgroup namespace.
    let rest = lines[10..].join("\n");
    let (own, init_view) = rest.split_once("---").unwrap();
    assert_eq!(own.trim(), init_view.trim(), "{}", out.stdout);
    assert!(own.lines().any(|l| l.ends_with(":pids:/")), "{own}");

    // The host sees it in the container's cgroup.
    let pid_file = rt.scratch().join("in-cgroup.pid");
    exec(
        &c,
        &[
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "ID",
            "sleep",
            "100",
        ],
    )
    .assert_ok();
    let exec_pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(
        cgroup_procs(&c).contains(&exec_pid),
        "{:?}",
        cgroup_procs(&c)
    );
    assert_eq!(
        fs::read_to_string(format!("/proc/{exec_pid}/cgroup")).unwrap(),
        fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap()
    );
}

#[test]
fn exec_inherits_the_containers_process_settings() {
    let rt = Runtime::new("exinherit");
    let mut b = sleeper_bundle("exinherit");
    b.set(
        "/process/env",
        json!(["PATH=/usr/bin:/bin", "KEEP=kept", "CHANGE=old"]),
    );
    b.set("/process/cwd", json!("/tmp"));
    b.set("/process/noNewPrivileges", json!(true));
    b.set(
        "/process/rlimits",
        json!([{ "type": "RLIMIT_NOFILE", "soft": 555, "hard": 666 }]),
    );
    let c = rt.container(&b);
    let init = start(&c);

    let out = exec(
        &c,
        &[
            "-e",
            "CHANGE=new",
            "--env",
            "ADDED=yes",
            "ID",
            "sh",
            "-c",
            "env; pwd",
        ],
    );
    out.assert_ok();
    let env: Vec<&str> = out.stdout.lines().collect();
    for expected in [
        "PATH=/usr/bin:/bin",
        "KEEP=kept",
        "CHANGE=new",
        "ADDED=yes",
        "/tmp",
    ] {
        assert!(env.contains(&expected), "no {expected:?} in {env:?}");
    }
    assert!(!env.contains(&"CHANGE=old"), "{env:?}");

    let out = exec(&c, &["--cwd", "/etc", "ID", "pwd"]);
    out.assert_ok();
    assert_eq!(out.stdout, "/etc\n");
    // `..` and symlinks in --cwd stay inside the container's root.
    std::os::unix::fs::symlink("../../../../../../etc", b.rootfs.join("escape")).unwrap();
    for (cwd, expected) in [("/../../..", "/\n"), ("/escape", "/etc\n")] {
        let out = exec(
            &c,
            &["--cwd", cwd, "ID", "sh", "-c", "pwd; ls /etc/hostname-file"],
        );
        out.assert_ok();
        assert_eq!(
            out.stdout,
            format!("{expected}/etc/hostname-file\n"),
            "{cwd}"
        );
    }

    let out = exec(
        &c,
        &["--user", "1000:1001", "-g", "20", "-g", "30", "ID", "id"],
    );
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "uid=1000 gid=1001 groups=20,30");

    // Capabilities, no_new_privs and rlimits are the init's.
    let init_status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    let out = exec(&c, &["ID", "cat", "/proc/self/status", "/proc/self/limits"]);
    out.assert_ok();
    for key in [
        "CapEff",
        "CapPrm",
        "CapBnd",
        "CapInh",
        "CapAmb",
        "NoNewPrivs",
    ] {
        assert_eq!(
            status_field(&out.stdout, key),
            status_field(&init_status, key),
            "{key}"
        );
    }
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), Some("1"));
    let limits = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        limits.split_whitespace().collect::<Vec<_>>()[3..5],
        ["555", "666"],
        "{limits}"
    );

    // --cap adds to the sets (CAP_SYS_ADMIN is bit 21; the template does not have it).
    let init_eff = u64::from_str_radix(status_field(&init_status, "CapEff").unwrap(), 16).unwrap();
    assert_eq!(init_eff & (1 << 21), 0);
    let out = exec(
        &c,
        &["--cap", "CAP_SYS_ADMIN", "ID", "cat", "/proc/self/status"],
    );
    out.assert_ok();
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        let value = u64::from_str_radix(status_field(&out.stdout, key).unwrap(), 16).unwrap();
        assert_eq!(value, init_eff | (1 << 21), "{key}");
    }
}

#[test]
fn no_new_privs_flag_turns_it_on() {
    let rt = Runtime::new("exnnp");
    let mut b = sleeper_bundle("exnnp");
    b.set("/process/noNewPrivileges", json!(false));
    let c = rt.container(&b);
    start(&c);
    let out = exec(&c, &["ID", "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&out.assert_ok().stdout, "NoNewPrivs"),
        Some("0")
    );
    let out = exec(&c, &["--no-new-privs", "ID", "cat", "/proc/self/status"]);
    assert_eq!(
        status_field(&out.assert_ok().stdout, "NoNewPrivs"),
        Some("1")
    );
}

#[test]
fn exec_with_a_process_file() {
    let rt = Runtime::new("exprocess");
    let b = sleeper_bundle("exprocess");
    let c = rt.container(&b);
    let init = start(&c);
    let file = rt.scratch().join("process.json");
    fs::write(
        &file,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "id; pwd; echo $ONLY"],
            "env": ["ONLY=from-file"],
            "cwd": "/etc",
            "user": { "uid": 1234, "gid": 5678 },
        }))
        .unwrap(),
    )
    .unwrap();
    let out = exec(&c, &["--process", file.to_str().unwrap(), "ID"]);
    out.assert_ok();
    assert_eq!(out.stdout, "uid=1234 gid=5678\n/etc\nfrom-file\n");
    // Used as it is: a flag that would change it is refused, naming the flag.
    exec(&c, &["-p", file.to_str().unwrap(), "--cwd", "/", "ID"]).assert_error("--cwd");
    exec(&c, &["-p", file.to_str().unwrap(), "ID", "true"]).assert_error("--process");

    // Validated as the config's process is.
    for (process, needle) in [
        (
            json!({"args": ["true"], "cwd": "tmp", "user": {"uid": 0, "gid": 0}}),
            "process.cwd",
        ),
        (
            json!({"args": [], "cwd": "/", "user": {"uid": 0, "gid": 0}}),
            "process.args",
        ),
        (
            json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                   "apparmorProfile": "confined"}),
            "process.apparmorProfile",
        ),
    ] {
        fs::write(&file, serde_json::to_vec(&process).unwrap()).unwrap();
        exec(&c, &["--process", file.to_str().unwrap(), "ID"]).assert_error(needle);
    }
    fs::write(&file, "{not json").unwrap();
    exec(&c, &["--process", file.to_str().unwrap(), "ID"]).assert_error("--process");
    // Hostile files: endless, or not there.
    exec(&c, &["--process", "/dev/zero", "ID"]).assert_error("larger than");
    exec(&c, &["--process", "/nonexistent/p.json", "ID"]).assert_error("--process");
    assert_only_in_cgroup(&c, &[init]);
}

#[test]
fn detach_returns_at_once_and_writes_the_pid_file() {
    let rt = Runtime::new("exdetach");
    let b = sleeper_bundle("exdetach");
    let c = rt.container(&b);
    let init = start(&c);
    let pid_file = rt.scratch().join("exec.pid");
    let started = Instant::now();
    exec(
        &c,
        &[
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "ID",
            "sleep",
            "300",
        ],
    )
    .assert_ok();
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!pid_gone(pid), "the exec'd process {pid} is not alive");
    assert!(cgroup_procs(&c).contains(&pid));
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x00300\x00");
    assert_eq!(
        ns_link(&pid.to_string(), "pid"),
        ns_link(&init.to_string(), "pid")
    );
    // skiff's child outlived skiff: it was reparented, as it is to a subreaper shim.
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status_field(&status, "PPid").unwrap();
    let parent = fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
    assert_ne!(parent.trim(), "skiff", "its parent {ppid} is still a skiff");
    // A pid file that is not a regular file is refused, and nothing is left running.
    exec(&c, &["-d", "--pid-file", "/dev/null", "ID", "sleep", "300"]).assert_error("--pid-file");
    assert_host_dev_null_intact();
    assert_only_in_cgroup(&c, &{
        let mut v = vec![init, pid];
        v.sort();
        v
    });
}

#[test]
fn console_socket_gets_the_terminal_of_a_detached_exec() {
    let rt = Runtime::new("exconsole");
    let b = sleeper_bundle("exconsole");
    let c = rt.container(&b);
    let init = start(&c);
    let sock = rt.scratch().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let args = with_id(
        &c,
        &[
            "--tty",
            "--detach",
            "--console-socket",
            sock.to_str().unwrap(),
            "ID",
            "sh",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let running = rt.spawn(&args);
    let master = receive_console(&listener);
    running.wait(TIMEOUT).assert_ok();
    let mut seen = String::new();
    nix::unistd::write(&master, b"tty; echo hello-$((6*7)); echo pid-$$\n").unwrap();
    read_until(&master, "hello-42", &mut seen);
    assert!(seen.contains("/dev/pts/"), "no tty: {seen:?}");
    read_until(&master, "pid-", &mut seen);
    nix::unistd::write(&master, b"exit\n").unwrap();
    assert_only_in_cgroup(&c, &[init]);

    // A terminal with --detach and nowhere to send it is refused.
    exec(&c, &["-t", "-d", "ID", "sh"]).assert_error("--console-socket");
    // A console socket without a terminal too.
    exec(
        &c,
        &["--console-socket", sock.to_str().unwrap(), "ID", "true"],
    )
    .assert_error("--console-socket");
}

#[test]
fn foreground_tty_relays_the_callers_terminal() {
    let rt = Runtime::new("exfgtty");
    let b = sleeper_bundle("exfgtty");
    let c = rt.container(&b);
    let init = start(&c);
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = Command::new(runtime_bin())
        .args([
            "--root",
            rt.root.to_str().unwrap(),
            "exec",
            "-t",
            &c.id,
            "sh",
        ])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .expect("spawning skiff exec");
    let mut seen = String::new();
    nix::unistd::write(&pty.master, b"tty; echo hi-$((1+1)); exit 3\n").unwrap();
    read_until(&pty.master, "hi-2", &mut seen);
    assert!(seen.contains("/dev/pts/"), "the shell has no tty: {seen:?}");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("skiff exec did not exit: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3), "{status:?}: {seen:?}");
    assert_only_in_cgroup(&c, &[init]);
}

#[test]
fn only_stdio_and_preserved_descriptors_reach_the_process() {
    let rt = Runtime::new("exfds");
    let b = sleeper_bundle("exfds");
    let c = rt.container(&b);
    start(&c);
    // The shell's own descriptors (not those of an `ls` that lists its directory), with
    // no pipe or redirection, for which the shell would hold descriptors of its own.
    let list = "ls /proc/$$/fd; exit 0";
    let fds = |out: &Out| {
        out.assert_ok()
            .stdout
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(fds(&exec(&c, &["ID", "sh", "-c", list])), "0 1 2");

    let fd3 = rt.scratch().join("fd3.txt");
    fs::write(&fd3, "through-fd-3\n").unwrap();
    let out = rt.exec_with_fd3(
        &fd3,
        &[
            "exec",
            "--preserve-fds",
            "1",
            &c.id,
            "sh",
            "-c",
            &format!("cat <&3; {list}"),
        ],
    );
    assert_eq!(fds(&out), "through-fd-3 0 1 2 3");
    // Without --preserve-fds the caller's descriptor 3 stays out.
    let out = rt.exec_with_fd3(&fd3, &["exec", &c.id, "sh", "-c", list]);
    assert_eq!(fds(&out), "0 1 2");
    // Asking for more than the caller passed hands over none of skiff's own.
    let out = rt.exec_with_fd3(
        &fd3,
        &["exec", "--preserve-fds", "20", &c.id, "sh", "-c", list],
    );
    assert_eq!(fds(&out), "0 1 2 3");
}

#[test]
fn exec_into_a_user_namespace_container_has_the_mapped_identity() {
    let rt = Runtime::new("exuserns");
    let mut b = sleeper_bundle("exuserns");
    b.userns();
    let c = rt.container(&b);
    let init = start(&c);
    let out = exec(
        &c,
        &[
            "ID",
            "sh",
            "-c",
            "id -u; id -g; readlink /proc/self/ns/user; cat /proc/self/uid_map",
        ],
    );
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(lines[1], "0");
    assert_eq!(lines[2], ns_link(&init.to_string(), "user"));
    assert_ne!(lines[2], ns_link("self", "user"));
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    // As the host sees it: container uid 1000 is host uid 101000.
    let pid_file = rt.scratch().join("userns.pid");
    exec(
        &c,
        &[
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "-u",
            "1000:1000",
            "ID",
            "sleep",
            "100",
        ],
    )
    .assert_ok();
    let pid = fs::read_to_string(&pid_file).unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids: Vec<&str> = status_field(&status, "Uid")
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(uids, ["101000"; 4]);
}

#[test]
fn exec_into_a_created_container_and_one_whose_bundle_is_gone() {
    let rt = Runtime::new("excreated");
    let mut b = sleeper_bundle("excreated");
    // The root filesystem lives outside the bundle, so the bundle can go without it.
    let rootfs = b.scratch().join("rootfs-elsewhere");
    fs::rename(&b.rootfs, &rootfs).unwrap();
    b.set("/root/path", json!(rootfs.to_str().unwrap()));
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    assert_eq!(c.status(), "created");
    let out = exec(
        &c,
        &["ID", "sh", "-c", "echo in-created; cat /proc/1/cmdline"],
    );
    out.assert_ok();
    assert!(out.stdout.starts_with("in-created\n"), "{}", out.stdout);
    assert_eq!(c.status(), "created");
    c.start().assert_ok();

    // The saved configuration is used: the bundle can be gone.
    fs::remove_dir_all(&b.dir).unwrap();
    let out = exec(&c, &["-e", "X=1", "ID", "sh", "-c", "echo still-$X"]);
    out.assert_ok();
    assert_eq!(out.stdout, "still-1\n");
}

#[test]
fn exec_forwards_signals_in_the_foreground() {
    let rt = Runtime::new("exsignal");
    let b = sleeper_bundle("exsignal");
    let c = rt.container(&b);
    start(&c);
    let args = with_id(
        &c,
        &[
            "ID",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while true; do usleep 20000; done",
        ],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let running = rt.spawn(&args);
    let deadline = Instant::now() + TIMEOUT;
    while !fs::read_to_string(running.stdout_path())
        .unwrap_or_default()
        .contains("ready")
    {
        assert!(Instant::now() < deadline, "the process never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    running.wait(TIMEOUT).assert_code(42);
}

#[test]
fn exec_errors_are_one_line_and_leave_nothing_behind() {
    let rt = Runtime::new("exerrors");
    let b = sleeper_bundle("exerrors");
    let c = rt.container(&b);
    let init = start(&c);
    let pid_file = rt.scratch().join("never.pid");
    let pf = pid_file.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["--pid-file", pf, "ID", "no-such-program"],
            "no-such-program",
        ),
        (
            vec!["--pid-file", pf, "--cwd", "/no/such/dir", "ID", "true"],
            "--cwd /no/such/dir",
        ),
        (vec!["--cwd", "relative", "ID", "true"], "--cwd"),
        // A magic link could lead out of the container's root: refused.
        (
            vec!["--cwd", "/proc/self/cwd", "ID", "true"],
            "--cwd /proc/self/cwd",
        ),
        (
            vec!["--cwd", "/etc/hostname-file", "ID", "true"],
            "not a directory",
        ),
        (vec!["-u", "nobody", "ID", "true"], "/etc/passwd"),
        (vec!["-u", "a/../b", "ID", "true"], "--user"),
        (vec!["-e", "NOEQUALS", "ID", "true"], "--env"),
        (vec!["--cap", "CAP_NOPE", "ID", "true"], "--cap"),
        (
            vec!["--apparmor", "some-profile", "ID", "true"],
            "--apparmor",
        ),
        (
            vec!["--process-label", "system_u:x", "ID", "true"],
            "--process-label",
        ),
        (vec!["ID"], "no command"),
    ] {
        exec(&c, &args).assert_error(needle);
        assert!(!pid_file.exists(), "{args:?} wrote the pid file");
        assert_only_in_cgroup(&c, &[init]);
    }
    rt.exec(&["exec", "no-such-container", "true"])
        .assert_error("does not exist");
    rt.exec(&["exec", "../evil", "true"])
        .assert_error("invalid container id");

    // A stopped container.
    let mut b2 = Bundle::new("exstopped");
    b2.args(&["true"]);
    let stopped = rt.container(&b2);
    stopped.create(&[]).assert_ok();
    stopped.start().assert_ok();
    stopped.wait_status("stopped");
    exec(&stopped, &["ID", "true"]).assert_error("not running");
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    let rt = Runtime::new("expaused");
    let b = sleeper_bundle("expaused");
    let c = rt.container(&b);
    let init = start(&c);
    let freezer = format!("/sys/fs/cgroup/freezer{}/freezer.state", c.cgroup);
    struct Thaw(String);
    impl Drop for Thaw {
        fn drop(&mut self) {
            let _ = fs::write(&self.0, "THAWED");
        }
    }
    fs::write(&freezer, "FROZEN").unwrap();
    let thaw = Thaw(freezer.clone());
    exec(&c, &["ID", "true"]).assert_error("paused");
    assert_only_in_cgroup(&c, &[init]);

    // With --ignore-paused the process joins, frozen with the rest until thawed.
    let args = with_id(&c, &["--ignore-paused", "ID", "echo", "after-thaw"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut running = rt.spawn(&args);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!running.has_exited(), "the exec ran in a frozen container");
    drop(thaw);
    let out = running.wait(TIMEOUT);
    out.assert_ok();
    assert_eq!(out.stdout, "after-thaw\n");
    assert_only_in_cgroup(&c, &[init]);
}

#[test]
fn user_names_are_looked_up_in_the_containers_own_files() {
    let rt = Runtime::new("exusernames");
    let b = sleeper_bundle("exusernames");
    let etc = b.rootfs.join("etc");
    // A passwd that points at the host's: resolved inside the container's root, it only
    // points back at itself, and the host's entries are never read.
    std::os::unix::fs::symlink("/../../../../etc/passwd", etc.join("passwd")).unwrap();
    let c = rt.container(&b);
    let init = start(&c);
    exec(&c, &["-u", "root", "ID", "id"]).assert_error("/etc/passwd");
    assert_only_in_cgroup(&c, &[init]);

    fs::remove_file(etc.join("passwd")).unwrap();
    fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1500:1600::/:/bin/sh\n",
    )
    .unwrap();
    fs::write(etc.join("group"), "root:x:0:\nstaff:x:50:app\n").unwrap();
    for (user, expected) in [
        ("app", "1500 1600"),
        ("app:staff", "1500 50"),
        ("app:7", "1500 7"),
        ("0:staff", "0 50"),
    ] {
        let out = exec(
            &c,
            &["--user", user, "ID", "sh", "-c", "echo $(id -u) $(id -g)"],
        );
        out.assert_ok();
        assert_eq!(out.stdout.trim(), expected, "--user {user}");
    }
    exec(&c, &["-u", "ghost", "ID", "id"]).assert_error("no user \"ghost\"");
    exec(&c, &["-u", "app:ghosts", "ID", "id"]).assert_error("no group \"ghosts\"");
}

/// CVE-2019-5736 through exec: the exec'd process runs `/proc/self/exe`, which is skiff's
/// binary; held by an O_PATH descriptor, it must not be reopened for writing.
#[test]
fn an_exec_running_proc_self_exe_runs_skiff_read_only() {
    let mut rt = Runtime::new("exexe");
    let copy = rt.scratch().join("skiff-copy");
    fs::copy(&rt.bin, &copy).unwrap();
    set_mode(&copy, 0o755);
    rt.bin = copy.clone();
    let original = fs::read(&copy).unwrap();
    let b = sleeper_bundle("exexe");
    // The exec'd skiff blocks opening its log, a fifo nobody reads.
    nix::unistd::mkfifo(
        &b.rootfs.join("log-fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let c = rt.container(&b);
    start(&c);
    let pid_file = rt.scratch().join("exe.pid");
    exec(
        &c,
        &[
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            "ID",
            "/proc/self/exe",
            "--log",
            "/log-fifo",
            "state",
            "nothing",
        ],
    )
    .assert_ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"/proc/self/exe\x00--log"),
        "{cmdline:?}"
    );
    let exe = format!("/proc/{pid}/exe");
    let handle = nix::fcntl::open(
        exe.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("opening {exe} O_PATH: {e}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(wait_pid_gone(pid, TIMEOUT));
    let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let error = fs::OpenOptions::new()
        .append(true)
        .open(&reopened)
        .expect_err("skiff's binary must not be writable");
    assert_eq!(error.raw_os_error(), Some(libc::EROFS), "{error}");
    assert!(
        fs::read(&copy).unwrap() == original,
        "skiff's binary changed"
    );
}

/// The command lines engines send (docs/cli-contract.md): containerd's shim
/// `exec --process F --detach --pid-file P ID`, and podman's
/// `exec --pid-file P --process F --detach --tty --console-socket S ID`.
#[test]
fn engine_command_lines() {
    let rt = Runtime::new("exengines");
    let b = sleeper_bundle("exengines");
    let c = rt.container(&b);
    let init = start(&c);
    let dir = rt.scratch().to_path_buf();
    let process = dir.join("runc-process-1");
    fs::write(
        &process,
        serde_json::to_vec(&json!({
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh", "-c", "echo from-shim-exec > /tmp/shim-mark; sleep 100"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "capabilities": { "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                              "permitted": ["CAP_KILL"] },
            "noNewPrivileges": true,
        }))
        .unwrap(),
    )
    .unwrap();
    let pid_file = dir.join("exec-1.pid");
    let args = [
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &c.id,
    ];
    rt.exec(&args).assert_ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(cgroup_procs(&c).contains(&pid));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&status, "CapEff"), Some("0000000000000020"));
    assert_eq!(status_field(&status, "NoNewPrivs"), Some("1"));
    let deadline = Instant::now() + TIMEOUT;
    while fs::read_to_string(b.rootfs.join("tmp/shim-mark")).unwrap_or_default()
        != "from-shim-exec\n"
    {
        assert!(Instant::now() < deadline, "the shim's exec never ran");
        std::thread::sleep(Duration::from_millis(20));
    }

    // podman, with a terminal in the file and --tty beside it.
    fs::write(
        &process,
        serde_json::to_vec(&json!({
            "terminal": true,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/tmp",
        }))
        .unwrap(),
    )
    .unwrap();
    let sock = dir.join("conmon-term.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let podman_pid = dir.join("exec_pid");
    let args = [
        "exec",
        "--pid-file",
        podman_pid.to_str().unwrap(),
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--tty",
        "--console-socket",
        sock.to_str().unwrap(),
        &c.id,
    ];
    let running = rt.spawn(&args);
    let master = receive_console(&listener);
    running.wait(TIMEOUT).assert_ok();
    let tty_pid: i32 = fs::read_to_string(&podman_pid).unwrap().parse().unwrap();
    assert!(cgroup_procs(&c).contains(&tty_pid));
    let mut seen = String::new();
    nix::unistd::write(&master, b"pwd; echo podman-$((40+2))\n").unwrap();
    read_until(&master, "podman-42", &mut seen);
    assert!(seen.contains("/tmp"), "{seen:?}");
    nix::unistd::write(&master, b"exit\n").unwrap();
    assert!(wait_pid_gone(tty_pid, TIMEOUT));
    let mut expected = vec![init, pid];
    expected.sort();
    assert_only_in_cgroup(&c, &expected);
}
