//! The runtime spec's hooks: each of the six kinds runs once, in lifecycle order, in the
//! namespaces the spec names, with the container's state on stdin and exactly its args,
//! env and no other descriptor; create-phase failures fail the command and leave nothing,
//! poststart and poststop failures are warnings; the hooks are those of create time.
//!
//! The hooks are `sh -c` scripts: on the host (/bin/sh, dash) for every kind but
//! startContainer, which resolves in the container (busybox sh) and writes through a bind
//! mount of the test's directory.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where the container sees the test's log directory.
const IN_CONTAINER: &str = "/hooklog";

/// The test's host directory: `log/` (bound into the container at /hooklog) collects what
/// the hooks record; `secret` is a host file outside the container.
struct HostDir {
    tmp: TempDir,
}

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let tmp = TempDir::new(tag);
        fs::create_dir(tmp.path.join("log")).unwrap();
        set_mode(&tmp.path.join("log"), 0o777);
        fs::write(tmp.path.join("secret"), "host-only\n").unwrap();
        HostDir { tmp }
    }

    fn log(&self) -> PathBuf {
        self.tmp.path.join("log")
    }

    fn log_str(&self) -> String {
        self.log().to_string_lossy().into_owned()
    }

    fn secret(&self) -> String {
        self.tmp.path.join("secret").to_string_lossy().into_owned()
    }

    /// Binds `log/` into the container at /hooklog.
    fn bind_into(&self, b: &mut Bundle) {
        b.add_mount(json!({
            "destination": IN_CONTAINER, "type": "bind",
            "source": self.log(), "options": ["rbind", "rw"]
        }));
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.log().join(name)).unwrap_or_default()
    }

    fn order(&self) -> Vec<String> {
        self.read("order").lines().map(String::from).collect()
    }

    fn state(&self, kind: &str) -> Value {
        let text = self.read(&format!("{kind}.json"));
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{kind}'s stdin is not the state JSON ({e}): {text:?}"))
    }
}

/// The log directory as the hook of `kind` sees it.
fn log_for(host: &HostDir, kind: &str) -> String {
    if kind == "startContainer" {
        IN_CONTAINER.to_string()
    } else {
        host.log_str()
    }
}

/// A hook that records under `dir` what it was run with: appends `name` to `order`,
/// saves its stdin, its own argv and environ (read from /proc by pid, so the shell adds
/// nothing), its namespaces, `extra`'s doing, and last the descriptors it was given (as
/// seen by an `ls` it execs into, whose own listing handle is the only one added).
fn recorder(name: &str, dir: &str, extra: &str) -> Value {
    let argv0 = argv0(name);
    let script = format!(
        "echo {name} >> {dir}/order
cat > {dir}/{name}.json
read -r me rest < /proc/self/stat
cat /proc/$me/cmdline > {dir}/{name}.cmdline
cat /proc/$me/environ > {dir}/{name}.environ
for ns in mnt pid uts net; do readlink /proc/$me/ns/$ns; done > {dir}/{name}.ns
while read -r key value; do case $key in SigBlk:|SigIgn:) echo $key $value;; esac; done < /proc/self/status > {dir}/{name}.signals
{extra}
exec ls -l /proc/self/fd > {dir}/{name}.fds"
    );
    json!({
        "path": "/bin/sh",
        "args": [argv0, "-c", script, "extra1", "extra 2"],
        "env": [format!("HOOK={name}"), "SPACED=a b", "EMPTY=", "HOOK=again", "NO-EQUALS-SIGN"]
    })
}

/// The argv[0] a recorder is given: busybox (the container's sh) picks its applet by it.
fn argv0(kind: &str) -> String {
    if kind == "startContainer" {
        "sh".to_string()
    } else {
        format!("{kind}-argv0")
    }
}

/// A hook that only appends `name` to `<dir>/order`.
fn appender(name: &str, dir: &str) -> Value {
    sh_hook(&format!("echo {name} >> {dir}/order"))
}

fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn namespaces_of(pid: &str) -> Vec<String> {
    ["mnt", "pid", "uts", "net"]
        .iter()
        .map(|ns| {
            fs::read_link(format!("/proc/{pid}/ns/{ns}"))
                .unwrap_or_else(|e| panic!("reading /proc/{pid}/ns/{ns}: {e}"))
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The descriptor numbers in an `ls -l /proc/self/fd` listing, with their targets (empty
/// for ls's own, already closed when it reads the link).
fn descriptors(listing: &str) -> Vec<(u32, String)> {
    listing
        .lines()
        .filter(|line| !line.starts_with("total"))
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ").unwrap_or((line, ""));
            let fd = left.split_whitespace().last()?.parse::<u32>().ok()?;
            Some((fd, target.trim().to_string()))
        })
        .collect()
}

/// The `SigIgn:` line of a shell this test starts the way it starts skiff.
fn ignored_signals() -> String {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", "while read -r key value; do case $key in SigIgn:) echo $key $value;; esac; done < /proc/self/status"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// What every recorder must have seen: exactly its args and env, stdin the state, stdout
/// and stderr pipes (stdout is the record file itself at the time of the listing), and
/// no descriptor beyond those but the listing's own.
#[track_caller]
fn assert_ran_as_configured(host: &HostDir, kind: &str) {
    let cmdline = host.read(&format!("{kind}.cmdline"));
    let args: Vec<&str> = cmdline.trim_end_matches('\0').split('\0').collect();
    assert_eq!(args[0], argv0(kind), "{kind}: argv[0]: {args:?}");
    assert_eq!(args[1], "-c", "{kind}: {args:?}");
    assert_eq!(&args[3..], ["extra1", "extra 2"], "{kind}: {args:?}");
    let environ = host.read(&format!("{kind}.environ"));
    // Exactly these strings, in order, repeated name and all: execve's envp.
    let env: Vec<&str> = environ.trim_end_matches('\0').split('\0').collect();
    assert_eq!(
        env,
        [
            format!("HOOK={kind}").as_str(),
            "SPACED=a b",
            "EMPTY=",
            "HOOK=again",
            "NO-EQUALS-SIGN"
        ],
        "{kind}: environment"
    );
    // Nothing of skiff's signal set-up (it blocks every signal while it creates): none
    // blocked, and none ignored but what skiff itself was started with (this test's
    // std::process::Command starts it with glibc's two internal signals ignored).
    // Read by the shell itself (a child would see it mid-wait, with all blocked), so
    // busybox's sh has SIGQUIT ignored, as it always does.
    let signals = host.read(&format!("{kind}.signals"));
    let mask = |line: Option<&str>| {
        let hex = line
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("x");
        u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{kind}: {signals:?}"))
    };
    let mut lines = signals.lines();
    assert_eq!(mask(lines.next()), 0, "{kind}: blocked signals: {signals}");
    let mut ignored = mask(lines.next());
    if kind == "startContainer" {
        ignored &= !(1 << (libc::SIGQUIT - 1));
    }
    assert_eq!(
        ignored,
        mask(Some(&ignored_signals())),
        "{kind}: ignored signals"
    );
    let listing = host.read(&format!("{kind}.fds"));
    let fds = descriptors(&listing);
    let numbers: BTreeSet<u32> = fds.iter().map(|(fd, _)| *fd).collect();
    assert_eq!(
        numbers,
        BTreeSet::from([0, 1, 2, 3]),
        "{kind}: descriptors beyond stdio and ls's own:\n{listing}"
    );
    for (fd, target) in &fds {
        if *fd == 0 || *fd == 2 {
            assert!(
                target.starts_with("pipe:"),
                "{kind}: fd {fd} should be a pipe from skiff:\n{listing}"
            );
        }
    }
}

#[track_caller]
fn assert_state(host: &HostDir, kind: &str, status: &str, pid: i64, id: &str, bundle: &Path) {
    let state = host.state(kind);
    assert_eq!(state["status"], status, "{kind}: {state}");
    assert_eq!(state["id"], id, "{kind}: {state}");
    assert_eq!(state["pid"].as_i64(), Some(pid), "{kind}: {state}");
    assert_eq!(
        state["bundle"].as_str().map(PathBuf::from),
        Some(fs::canonicalize(bundle).unwrap()),
        "{kind}: {state}"
    );
    assert!(
        state["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{kind}: {state}"
    );
    assert_eq!(
        state["annotations"],
        json!({"org.skiff.hooks": "yes"}),
        "{kind}"
    );
}

#[track_caller]
fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every kind of hook with a recorder, in a bundle whose program notes that it ran.
fn bundle_with_every_kind(tag: &str, host: &HostDir, rt: &Runtime) -> Bundle {
    let mut b = Bundle::new(tag);
    host.bind_into(&mut b);
    b.set("/annotations", json!({"org.skiff.hooks": "yes"}));
    b.sh(&format!(
        "readlink /proc/1/fd/3 > {IN_CONTAINER}/program.fd3; echo ran > {IN_CONTAINER}/program; exec sleep 1000"
    ));
    let log = host.log_str();
    let secret = host.secret();
    let state_dir = rt.root.join(&b.name).to_string_lossy().into_owned();
    let pid_from_state =
        |kind: &str| format!("pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' {log}/{kind}.json)");
    let extras = [
        (
            "prestart",
            format!(
                "{}\ncat /proc/$pid/cgroup > {log}/prestart.cgroup",
                pid_from_state("prestart")
            ),
        ),
        (
            "createContainer",
            format!(
                "cat {secret} > {log}/createContainer.secret
cat /proc/$me/cgroup > {log}/createContainer.cgroup"
            ),
        ),
        (
            "startContainer",
            format!(
                "if test -e {secret}; then echo yes; else echo no; fi > {IN_CONTAINER}/startContainer.secret
cat /etc/hostname-file > {IN_CONTAINER}/startContainer.rootfs"
            ),
        ),
        (
            "poststart",
            format!(
                "{}\nreadlink /proc/$pid/exe > {log}/poststart.exe",
                pid_from_state("poststart")
            ),
        ),
        (
            "poststop",
            format!(
                "if test -e {state_dir}; then echo present; else echo gone; fi > {log}/poststop.dir
if test -e /sys/fs/cgroup/pids{cgroup}; then echo present; else echo gone; fi > {log}/poststop.cgroup",
                cgroup = b.cgroup
            ),
        ),
    ];
    let mut hooks = serde_json::Map::new();
    for kind in KINDS {
        let extra = extras
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, e)| e.as_str())
            .unwrap_or("");
        hooks.insert(
            kind.into(),
            json!([recorder(kind, &log_for(host, kind), extra)]),
        );
    }
    b.set("/hooks", Value::Object(hooks));
    b
}

#[test]
fn every_kind_runs_once_in_order_in_its_namespaces_with_its_state() {
    let rt = Runtime::new("hooks-all");
    let host = HostDir::new("hooks-all");
    let b = bundle_with_every_kind("hooks-all", &host, &rt);
    let c = rt.container(&b);
    let fd3 = host.tmp.path.join("fd3-file");
    fs::write(&fd3, "for the program").unwrap();
    // One descriptor passed on to the container: no hook may get it, the program must.
    rt.exec_with_fd3(
        &fd3,
        &[
            "create",
            "--preserve-fds",
            "1",
            "--bundle",
            b.dir_str(),
            &c.id,
        ],
    )
    .assert_ok();
    assert_eq!(
        host.order(),
        ["prestart", "createRuntime", "createContainer"]
    );
    let pid = c.state()["pid"].as_i64().unwrap();
    let host_ns = namespaces_of("self");
    let container_ns = namespaces_of(&pid.to_string());
    for (i, ns) in ["mnt", "pid", "uts", "net"].iter().enumerate() {
        assert_ne!(
            host_ns[i], container_ns[i],
            "the container has its own {ns} namespace"
        );
    }
    assert!(
        !host.log().join("program").exists(),
        "the program ran at create"
    );
    // The create hooks run with the init (and createContainer's own process, its child)
    // already in the container's cgroup.
    for kind in ["prestart", "createContainer"] {
        let cgroups = host.read(&format!("{kind}.cgroup"));
        assert!(
            cgroups
                .lines()
                .any(|l| l.ends_with(&format!(":{}", b.cgroup))),
            "{kind}: not in {}:
{cgroups}",
            b.cgroup
        );
    }

    c.start().assert_ok();
    assert_eq!(
        host.order(),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart"
        ]
    );
    assert_eq!(wait_for_file(&host.log().join("program")), "ran\n");
    assert!(
        wait_for_file(&host.log().join("program.fd3")).contains("fd3-file"),
        "the program lost its preserved descriptor to the hooks"
    );
    // poststart came after the exec: the init was the container's program by then.
    let exe = host.read("poststart.exe");
    assert!(
        exe.trim_end().ends_with("bin/busybox"),
        "poststart saw the init as {exe:?}"
    );

    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    assert_eq!(host.order(), KINDS, "each kind once, in lifecycle order");
    assert_eq!(
        host.read("poststop.dir"),
        "gone\n",
        "poststop ran before the state went"
    );
    assert_eq!(
        host.read("poststop.cgroup"),
        "gone\n",
        "poststop ran before the cgroup went"
    );
    c.assert_nothing_left();

    for (kind, status, state_pid) in [
        ("prestart", "creating", pid),
        ("createRuntime", "creating", pid),
        ("createContainer", "creating", pid),
        ("startContainer", "created", pid),
        ("poststart", "running", pid),
        ("poststop", "stopped", 0),
    ] {
        assert_state(&host, kind, status, state_pid, &c.id, &b.dir);
        assert_ran_as_configured(&host, kind);
    }
    let seen = |kind: &str| -> Vec<String> {
        host.read(&format!("{kind}.ns"))
            .lines()
            .map(String::from)
            .collect()
    };
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(
            seen(kind),
            host_ns,
            "{kind} runs in the runtime's namespaces"
        );
    }
    for kind in ["createContainer", "startContainer"] {
        assert_eq!(
            seen(kind),
            container_ns,
            "{kind} runs in the container's namespaces"
        );
    }
    // createContainer: before pivot_root, it still sees the host's files; startContainer
    // runs inside the container's root.
    assert_eq!(host.read("createContainer.secret"), "host-only\n");
    assert_eq!(host.read("startContainer.secret"), "no\n");
    assert_eq!(host.read("startContainer.rootfs"), "from-rootfs\n");
}

#[test]
fn run_runs_every_kind_too_also_without_pivot_root() {
    for no_pivot in [false, true] {
        let rt = Runtime::new("hooks-run");
        let host = HostDir::new("hooks-run");
        let mut b = bundle_with_every_kind("hooks-run", &host, &rt);
        b.sh(&format!("echo ran > {IN_CONTAINER}/program"));
        let c = rt.container(&b);
        let extra: &[&str] = if no_pivot { &["--no-pivot"] } else { &[] };
        c.run(extra).assert_ok();
        assert_eq!(host.order(), KINDS, "no_pivot={no_pivot}");
        assert_eq!(host.read("program"), "ran\n");
        assert_eq!(
            host.read("createContainer.secret"),
            "host-only\n",
            "no_pivot={no_pivot}"
        );
        assert_eq!(
            host.read("startContainer.secret"),
            "no\n",
            "no_pivot={no_pivot}"
        );
        assert_eq!(host.read("poststop.dir"), "gone\n");
        assert_eq!(host.state("poststart")["status"], "running");
        assert_eq!(host.state("poststop")["status"], "stopped");
        c.assert_nothing_left();
    }
}

/// What must be gone after a create that failed: state, cgroups, mounts, and any process
/// of the container (the init is a clone of `skiff create`, so its command line names
/// the container).
#[track_caller]
fn assert_create_left_nothing(c: &Container, b: &Bundle) {
    c.assert_nothing_left();
    assert_eq!(cgroup_dirs_left(&b.cgroup), Vec::<String>::new());
    assert_eq!(
        processes_mentioning(&c.id),
        Vec::<i32>::new(),
        "processes left"
    );
}

#[test]
fn a_failing_create_hook_fails_create_names_it_and_leaves_nothing() {
    for kind in ["prestart", "createRuntime", "createContainer"] {
        let rt = Runtime::new("hooks-fail");
        let host = HostDir::new("hooks-fail");
        let mut b = Bundle::new("hooks-fail");
        let log = host.log_str();
        b.set(
            "/hooks",
            json!({
                kind: [appender("first", &log), sh_hook(&format!("echo boom-{kind} >&2; exit 3")), appender("never", &log)],
                "poststop": [appender("poststop", &log)],
            }),
        );
        let c = rt.container(&b);
        let out = c.create(&[]);
        out.assert_error(&format!(
            "hooks.{kind}[1] /bin/sh: exit status 3: boom-{kind}"
        ));
        assert_create_left_nothing(&c, &b);
        // The failed container was destroyed like a deleted one: poststop followed.
        assert_eq!(host.order(), ["first", "poststop"], "{kind}");
    }
}

#[test]
fn a_failing_start_container_hook_fails_start_and_run_and_the_program_never_runs() {
    let rt = Runtime::new("hooks-startfail");
    let host = HostDir::new("hooks-startfail");
    let mut b = Bundle::new("hooks-startfail");
    host.bind_into(&mut b);
    b.sh(&format!("echo ran > {IN_CONTAINER}/program"));
    let log = host.log_str();
    b.set(
        "/hooks",
        json!({
            "startContainer": [sh_hook("echo boom-startContainer >&2; exit 4")],
            "poststart": [appender("poststart", &log)],
            "poststop": [appender("poststop", &log)],
        }),
    );
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    c.start()
        .assert_error("hooks.startContainer[0] /bin/sh: exit status 4: boom-startContainer");
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "the init lived on"
    );
    assert_eq!(c.status(), "stopped");
    assert!(!host.log().join("program").exists(), "the program ran");
    assert_eq!(
        host.order(),
        Vec::<String>::new(),
        "poststart ran after a failed start"
    );
    c.delete(false).assert_ok();
    assert_eq!(host.order(), ["poststop"]);
    c.assert_nothing_left();

    fs::remove_file(host.log().join("order")).unwrap();
    let c = rt.container(&b);
    c.run(&[])
        .assert_error("hooks.startContainer[0] /bin/sh: exit status 4: boom-startContainer");
    assert!(!host.log().join("program").exists(), "the program ran");
    assert_eq!(
        host.order(),
        ["poststop"],
        "run removes the container it ran"
    );
    assert_create_left_nothing(&c, &b);
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_named() {
    // A number no other test sleeps for, to find the hook's processes by.
    let seconds = 7000 + std::process::id() % 1000;
    for kind in ["createRuntime", "createContainer"] {
        let rt = Runtime::new("hooks-timeout");
        let mut b = Bundle::new("hooks-timeout");
        let sleeper = format!("sleep {seconds}");
        let mut hook = sh_hook(&format!("{sleeper}; echo done"));
        hook["timeout"] = json!(1);
        b.set("/hooks", json!({ kind: [sh_hook("exit 0"), hook] }));
        let c = rt.container(&b);
        let began = Instant::now();
        let out = c.create(&[]);
        out.assert_error(&format!("hooks.{kind}[1] /bin/sh: timed out after 1 s"));
        assert!(
            began.elapsed() < Duration::from_secs(8),
            "took {:?}",
            began.elapsed()
        );
        assert_create_left_nothing(&c, &b);
        assert_eq!(
            processes_mentioning(&sleeper),
            Vec::<i32>::new(),
            "{kind}: what the hook started outlived it"
        );
    }
}

#[test]
fn a_hook_within_its_timeout_runs_normally() {
    let rt = Runtime::new("hooks-intime");
    let host = HostDir::new("hooks-intime");
    let mut b = Bundle::new("hooks-intime");
    let mut hook = appender("prestart", &host.log_str());
    hook["timeout"] = json!(30);
    b.set("/hooks", json!({ "prestart": [hook] }));
    run_ok(&rt, &b);
    assert_eq!(host.order(), ["prestart"]);
}

#[test]
fn poststart_and_poststop_failures_are_warnings_and_the_rest_goes_on() {
    let rt = Runtime::new("hooks-warn");
    let host = HostDir::new("hooks-warn");
    let mut b = Bundle::new("hooks-warn");
    b.args(&["sleep", "1000"]);
    let log = host.log_str();
    b.set(
        "/hooks",
        json!({
            "poststart": [sh_hook("echo bad-poststart >&2; exit 1"), appender("poststart-2", &log)],
            "poststop": [sh_hook("echo bad-poststop >&2; exit 2"), appender("poststop-2", &log)],
        }),
    );
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let started = c.start();
    started.assert_ok();
    let warning = started.stderr.trim_end();
    assert_eq!(warning.lines().count(), 1, "one warning line: {warning:?}");
    assert!(
        warning.contains("warning")
            && warning.contains("hooks.poststart[0] /bin/sh: exit status 1: bad-poststart"),
        "{warning:?}"
    );
    assert_eq!(c.status(), "running");
    assert_eq!(host.order(), ["poststart-2"]);

    let deleted = c.delete(true);
    deleted.assert_ok();
    let warning = deleted.stderr.trim_end();
    assert_eq!(warning.lines().count(), 1, "one warning line: {warning:?}");
    assert!(
        warning.contains("warning")
            && warning.contains("hooks.poststop[0] /bin/sh: exit status 2: bad-poststop"),
        "{warning:?}"
    );
    assert_eq!(host.order(), ["poststart-2", "poststop-2"]);
    c.assert_nothing_left();
}

#[test]
fn start_and_delete_run_the_hooks_of_create_time() {
    let rt = Runtime::new("hooks-saved");
    let host = HostDir::new("hooks-saved");
    let mut b = Bundle::new("hooks-saved");
    b.args(&["sleep", "1000"]);
    let log = host.log_str();
    let hooks = |tag: &str| {
        json!({
            "poststart": [appender(&format!("{tag}-poststart"), &log)],
            "poststop": [appender(&format!("{tag}-poststop"), &log)],
        })
    };
    b.set("/hooks", hooks("create-time"));
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    b.set("/hooks", hooks("changed"));
    c.start().assert_ok();
    fs::remove_file(b.dir.join("config.json")).unwrap();
    c.delete(true).assert_ok();
    assert_eq!(
        host.order(),
        ["create-time-poststart", "create-time-poststop"]
    );
    c.assert_nothing_left();

    // And hooks added to the bundle after create do not run at all.
    b.write();
    b.remove("/hooks");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    b.set("/hooks", hooks("added"));
    c.start().assert_ok();
    c.delete(true).assert_ok();
    assert_eq!(
        host.order(),
        ["create-time-poststart", "create-time-poststop"]
    );
}

#[test]
fn empty_hooks_are_fine() {
    let rt = Runtime::new("hooks-empty");
    for hooks in [
        json!({}),
        json!({"prestart": [], "createRuntime": [], "createContainer": [], "startContainer": [], "poststart": [], "poststop": []}),
    ] {
        let mut b = Bundle::new("hooks-empty");
        b.set("/hooks", hooks);
        b.sh("echo hello");
        assert_eq!(run_ok(&rt, &b), "hello\n");
    }
}

#[test]
fn bad_hook_configs_are_refused_naming_the_field_and_leave_nothing() {
    let rt = Runtime::new("hooks-bad");
    let good = json!({"path": "/bin/true"});
    let cases = [
        (
            json!({"poststart": [good, {"path": "bin/true"}]}),
            "hooks.poststart[1].path bin/true must be absolute",
        ),
        (
            json!({"prestart": [{"path": ""}]}),
            "hooks.prestart[0].path is empty",
        ),
        (
            json!({"createRuntime": [{"path": "../../bin/true"}]}),
            "hooks.createRuntime[0].path",
        ),
        (
            json!({"createContainer": [{"path": "/bin/true", "timeout": 0}]}),
            "hooks.createContainer[0].timeout 0 must be greater than zero",
        ),
        (
            json!({"startContainer": [{"path": "/bin/true", "timeout": -1}]}),
            "hooks.startContainer[0].timeout -1",
        ),
        (
            json!({"poststop": [{"path": "/bin/true", "env": ["A=\u{0}"]}]}),
            "hooks.poststop[0].env[0]",
        ),
    ];
    for (hooks, message) in cases {
        let mut b = Bundle::new("hooks-bad");
        let host = HostDir::new("hooks-bad");
        // A hook that would leave a trace if anything ran.
        let mut hooks = hooks;
        hooks["createRuntime"]
            .as_array_mut()
            .map(|list| list.push(appender("ran", &host.log_str())))
            .unwrap_or_else(|| hooks["createRuntime"] = json!([appender("ran", &host.log_str())]));
        b.set("/hooks", hooks);
        let c = rt.container(&b);
        c.create(&[]).assert_error(message);
        assert_create_left_nothing(&c, &b);
        assert_eq!(host.order(), Vec::<String>::new(), "{message}: a hook ran");
    }
}

/// Kills the processes found by `needle` on drop: what a test's hook left running on
/// purpose.
struct KillOnDrop(String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in processes_mentioning(&self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[test]
fn a_hook_cannot_hang_or_flood_skiff() {
    let rt = Runtime::new("hooks-hostile");
    let host = HostDir::new("hooks-hostile");
    let log = host.log_str();
    let daemon = format!("sleep {}", 8000 + std::process::id() % 1000);
    let _cleanup = KillOnDrop(daemon.clone());
    // Megabytes on both pipes, then a daemon that keeps them open after the hook exits.
    let mut b = Bundle::new("hooks-hostile");
    b.set(
        "/hooks",
        json!({
            "prestart": [
                sh_hook("head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2"),
                sh_hook(&format!("{daemon} & echo daemon-started >> {log}/order")),
            ],
            "createContainer": [sh_hook(&format!("{daemon} & echo daemon-started >> {log}/order"))],
        }),
    );
    let began = Instant::now();
    run_ok(&rt, &b);
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(host.order(), ["daemon-started", "daemon-started"]);

    // A flood on stderr from a failing hook makes a bounded, one-line error.
    let mut b = Bundle::new("hooks-hostile");
    b.set(
        "/hooks",
        json!({"createRuntime": [sh_hook("yes 'line of output' | head -c 5000000 >&2; exit 9")]}),
    );
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_error(
        "hooks.createRuntime[0] /bin/sh: exit status 9: line of output; line of output",
    );
    assert!(
        out.stderr.len() < 2000,
        "{} bytes of error",
        out.stderr.len()
    );
    assert_create_left_nothing(&c, &b);

    // Paths that cannot be run.
    for (path, why) in [
        ("/nonexistent/hook", "No such file or directory"),
        ("/tmp", "Permission denied"),
    ] {
        let mut b = Bundle::new("hooks-hostile");
        b.set("/hooks", json!({"prestart": [{"path": path}]}));
        let c = rt.container(&b);
        c.create(&[])
            .assert_error(&format!("hooks.prestart[0] {path}: starting it: {why}"));
        assert_create_left_nothing(&c, &b);
    }
}

#[test]
fn a_start_container_hook_past_its_timeout_fails_start() {
    let rt = Runtime::new("hooks-starttimeout");
    let host = HostDir::new("hooks-starttimeout");
    let mut b = Bundle::new("hooks-starttimeout");
    host.bind_into(&mut b);
    b.sh(&format!("echo ran > {IN_CONTAINER}/program"));
    let sleeper = format!("sleep {}", 9000 + std::process::id() % 1000);
    let mut hook = json!({"path": "/bin/sh", "args": ["sh", "-c", format!("{sleeper}; :")]});
    hook["timeout"] = json!(1);
    b.set("/hooks", json!({"startContainer": [hook]}));
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap() as i32;
    let began = Instant::now();
    c.start()
        .assert_error("hooks.startContainer[0] /bin/sh: timed out after 1 s");
    assert!(
        began.elapsed() < Duration::from_secs(8),
        "took {:?}",
        began.elapsed()
    );
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "the init lived on"
    );
    assert!(!host.log().join("program").exists(), "the program ran");
    assert_eq!(processes_mentioning(&sleeper), Vec::<i32>::new());
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn a_huge_state_reaches_every_hook_whole() {
    let rt = Runtime::new("hooks-huge");
    let host = HostDir::new("hooks-huge");
    let mut b = Bundle::new("hooks-huge");
    host.bind_into(&mut b);
    // Over a pipe's 1 MiB ceiling: the state comes through a memfd instead.
    let big = "x".repeat(1_500_000);
    b.set("/annotations", json!({"org.skiff.big": big}));
    let log = host.log_str();
    b.set(
        "/hooks",
        json!({
            "prestart": [sh_hook(&format!("cat > {log}/prestart.json"))],
            "createContainer": [sh_hook(&format!("cat > {log}/createContainer.json"))],
            "startContainer": [sh_hook(&format!("cat > {IN_CONTAINER}/startContainer.json"))],
            "poststop": [sh_hook(&format!("cat > {log}/poststop.json"))],
        }),
    );
    run_ok(&rt, &b);
    for kind in ["prestart", "createContainer", "startContainer", "poststop"] {
        let state = host.state(kind);
        assert_eq!(
            state["annotations"]["org.skiff.big"].as_str().map(str::len),
            Some(big.len()),
            "{kind}"
        );
    }
}

#[test]
fn create_hooks_of_a_user_namespace_container_run_on_each_side() {
    let rt = Runtime::new("hooks-userns");
    let host = HostDir::new("hooks-userns");
    let mut b = Bundle::new("hooks-userns");
    b.userns();
    b.args(&["sleep", "1000"]);
    let log = host.log_str();
    let record = |kind: &str| {
        sh_hook(&format!(
            "read -r me rest < /proc/self/stat; readlink /proc/$me/ns/user > {log}/{kind}.userns; id -u > {log}/{kind}.uid"
        ))
    };
    b.set(
        "/hooks",
        json!({"createRuntime": [record("createRuntime")], "createContainer": [record("createContainer")]}),
    );
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap();
    let user_ns = |pid: &str| {
        fs::read_link(format!("/proc/{pid}/ns/user"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    assert_eq!(host.read("createRuntime.userns").trim(), user_ns("self"));
    assert_eq!(
        host.read("createContainer.userns").trim(),
        user_ns(&pid.to_string())
    );
    assert_ne!(user_ns("self"), user_ns(&pid.to_string()));
    assert_eq!(host.read("createRuntime.uid"), "0\n");
    assert_eq!(
        host.read("createContainer.uid"),
        "0\n",
        "uid 0 inside its user namespace"
    );
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

#[test]
fn run_detached_returns_after_poststart() {
    let rt = Runtime::new("hooks-detach");
    let host = HostDir::new("hooks-detach");
    let mut b = Bundle::new("hooks-detach");
    b.args(&["sleep", "1000"]);
    let log = host.log_str();
    b.set(
        "/hooks",
        json!({
            "poststart": [sh_hook(&format!("sleep 0.3; echo poststart >> {log}/order"))],
            "poststop": [appender("poststop", &log)],
        }),
    );
    let c = rt.container(&b);
    c.run(&["--detach"]).assert_ok();
    assert_eq!(
        host.order(),
        ["poststart"],
        "run -d returned before poststart ran"
    );
    assert_eq!(c.status(), "running");
    c.delete(true).assert_ok();
    assert_eq!(host.order(), ["poststart", "poststop"]);
    c.assert_nothing_left();
}
