//! `linux.seccomp`: real containers under real filters. podman's own profile runs a shell;
//! denied calls get their errno; argument rules match only their values; every action does
//! what the kernel says; 32-bit and x32 calls cannot go around an x86_64 profile; a notify
//! listener gets the descriptor and the state and answers; bad profiles leave nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const PODMAN_PROFILE: &str = "/usr/share/containers/seccomp.json";
/// 128 + SIGSYS: how `skiff run` reports a process the filter killed.
const KILLED_BY_SECCOMP: i32 = 159;

/// podman's profile as podman sends it for this bundle: the x86_64 entry of its archMap
/// as `architectures`, and only the rules whose includes/excludes fit amd64 and the
/// process's bounding capabilities.
fn podman_profile(b: &Bundle) -> Value {
    let text = fs::read_to_string(PODMAN_PROFILE).unwrap_or_else(|e| {
        panic!("{PODMAN_PROFILE}: {e}: install golang-github-containers-common (make test-deps)")
    });
    let mut profile: Value = serde_json::from_str(&text).expect("podman's profile is JSON");
    let caps: Vec<String> = b.config["process"]["capabilities"]["bounding"]
        .as_array()
        .expect("bounding capabilities")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let arch_map = profile["archMap"].as_array().expect("archMap").clone();
    let native = arch_map
        .iter()
        .find(|a| a["architecture"] == "SCMP_ARCH_X86_64")
        .expect("an x86_64 archMap entry");
    let mut arches = vec![native["architecture"].clone()];
    arches.extend(
        native["subArchitectures"]
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    let has = |list: &Value, key: &str, want: &dyn Fn(&str) -> bool| {
        list[key]
            .as_array()
            .map(|l| l.iter().any(|v| want(v.as_str().unwrap())))
    };
    let syscalls: Vec<Value> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let arch_ok = |a: &str| a == "amd64";
            let cap_ok = |c: &str| caps.iter().any(|have| have == c);
            let inc = &s["includes"];
            let exc = &s["excludes"];
            let included_arch = has(inc, "arches", &arch_ok).unwrap_or(true)
                || inc["arches"].as_array().is_some_and(|a| a.is_empty());
            let included_caps = inc["caps"]
                .as_array()
                .is_none_or(|l| l.iter().all(|c| cap_ok(c.as_str().unwrap())));
            let excluded = has(exc, "arches", &arch_ok).unwrap_or(false)
                || has(exc, "caps", &cap_ok).unwrap_or(false);
            included_arch && included_caps && !excluded
        })
        .map(|s| {
            let mut s = s.clone();
            let m = s.as_object_mut().unwrap();
            for key in ["includes", "excludes", "comment"] {
                m.remove(key);
            }
            s
        })
        .collect();
    let m = profile.as_object_mut().unwrap();
    m.remove("archMap");
    m.remove("defaultErrno");
    m.insert("architectures".into(), Value::Array(arches));
    m.insert("syscalls".into(), Value::Array(syscalls));
    profile
}

/// A profile that allows everything but `rules`.
fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn deny_mkdir(errno: u32) -> Value {
    allow_but(
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]),
    )
}

fn bundle(tag: &str, seccomp: Value) -> Bundle {
    let mut b = Bundle::new(tag);
    b.set("/linux/seccomp", seccomp);
    b
}

/// Runs the bundle to its end, asserts it succeeded, and returns stdout + stderr.
#[track_caller]
fn run_all(rt: &Runtime, b: &Bundle) -> String {
    let (code, out) = run(rt, b);
    assert_eq!(code, 0, "{out}");
    out
}

/// Runs the bundle to its end and returns (exit status, stdout + stderr of the container).
fn run(rt: &Runtime, b: &Bundle) -> (i32, String) {
    let c = rt.container(b);
    let out = c.run(&[]);
    c.assert_nothing_left();
    (out.code(), format!("{}{}", out.stdout, out.stderr))
}

#[test]
fn podmans_profile_runs_a_busybox_shell() {
    let rt = Runtime::new("seccomp-podman");
    let mut b = Bundle::new("seccomp-podman");
    let profile = podman_profile(&b);
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    b.set("/linux/seccomp", profile);
    b.sh(
        "rm -rf /tmp/d; ls / >/dev/null && echo hello | cat && mkdir /tmp/d && ls -d /tmp/d \
          && seq 3 | wc -l && sh -c 'id -u' && cat /proc/self/status | grep '^Seccomp:'",
    );
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, ["hello", "/tmp/d", "3", "0", "Seccomp:\t2"], "{out}");
    // The same without no_new_privileges: installed before the capabilities are dropped;
    // and with every flag but the notify one.
    b.set("/process/noNewPrivileges", json!(false));
    b.set(
        "/linux/seccomp/flags",
        json!([
            "SECCOMP_FILTER_FLAG_TSYNC",
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
        ]),
    );
    let out = run_ok(&rt, &b);
    assert!(out.contains("Seccomp:\t2"), "{out}");
}

#[test]
fn a_profile_applies_inside_a_user_namespace_too() {
    // Without no_new_privileges the filter needs CAP_SYS_ADMIN, here the user namespace's.
    let rt = Runtime::new("seccomp-userns");
    for no_new_privileges in [true, false] {
        let mut b = bundle("seccomp-userns", deny_mkdir(13));
        b.userns();
        b.set("/process/noNewPrivileges", json!(no_new_privileges));
        b.sh("mkdir /tmp/x 2>&1; grep '^Seccomp:' /proc/self/status");
        let out = run_all(&rt, &b);
        assert!(
            out.contains("Permission denied") && out.contains("Seccomp:\t2"),
            "{out}"
        );
    }
}

/// runtime-tools' default profile lists no close_range. Without no_new_privileges the
/// filter is installed before the capabilities are dropped, so skiff's own last steps run
/// under it: they must still mark its descriptors close-on-exec (one by one) and exec.
#[test]
fn a_profile_without_close_range_still_runs_and_leaks_no_descriptor() {
    let rt = Runtime::new("skconf-seccomp-close-range");
    for no_new_privileges in [false, true] {
        let mut b = bundle(
            "skconf-seccomp-close-range",
            allow_but(json!([{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}])),
        );
        b.set("/process/noNewPrivileges", json!(no_new_privileges));
        b.sh("ls /proc/self/fd | tr '\\n' ' '");
        let out = run_all(&rt, &b);
        // 0-2 and the descriptor ls reads the listing through.
        assert_eq!(
            out.trim(),
            "0 1 2 3",
            "noNewPrivileges {no_new_privileges}: {out}"
        );
    }
}

#[test]
fn denied_calls_return_the_configured_errno() {
    let rt = Runtime::new("seccomp-errno");
    for (errno, message) in [
        (1, "Operation not permitted"),
        (38, "Function not implemented"),
    ] {
        let mut b = bundle("seccomp-errno", deny_mkdir(errno));
        b.sh("mkdir /tmp/x; echo status=$?; ls /tmp");
        let out = run_all(&rt, &b);
        assert!(
            out.contains(message) && out.contains("status=1"),
            "{errno}: {out}"
        );
    }
    let mut b = bundle("seccomp-errno", deny_mkdir(1));
    b.sh("mkdir /tmp/x 2>&1");
    let (_, out) = run(&rt, &b);
    assert!(
        out.contains("can't create directory '/tmp/x': Operation not permitted"),
        "{out}"
    );
}

#[test]
fn the_default_errno_is_default_errno_ret_or_eperm() {
    let rt = Runtime::new("seccomp-default-errno");
    for (errno, message) in [
        (Some(38), "Function not implemented"),
        (Some(13), "Permission denied"),
        (None, "Operation not permitted"),
    ] {
        let mut b = Bundle::new("seccomp-default-errno");
        let mut profile = podman_profile(&b);
        for rule in profile["syscalls"].as_array_mut().unwrap() {
            rule["names"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n != "mkdir" && n != "mkdirat");
        }
        profile["syscalls"]
            .as_array_mut()
            .unwrap()
            .retain(|r| !r["names"].as_array().unwrap().is_empty());
        match errno {
            Some(e) => profile["defaultErrnoRet"] = json!(e),
            None => {
                profile.as_object_mut().unwrap().remove("defaultErrnoRet");
            }
        }
        b.set("/linux/seccomp", profile);
        b.sh("mkdir /tmp/x 2>&1; echo done");
        let out = run_all(&rt, &b);
        assert!(
            out.contains(message) && out.contains("done"),
            "{errno:?}: {out}"
        );
    }
}

#[test]
fn argument_rules_match_only_their_values() {
    let rt = Runtime::new("seccomp-args");
    let b = bundle(
        "seccomp-args",
        allow_but(json!([
            // chmod to exactly 0777 is denied, on either syscall glibc may use.
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            // Opening with O_CREAT is denied, other opens are not.
            {"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 0o100, "valueTwo": 0o100, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 0o100, "valueTwo": 0o100, "op": "SCMP_CMP_MASKED_EQ"}]},
        ])),
    );
    let mut b = b;
    b.sh("chmod 755 /etc/hostname-file && echo chmod-755-ok; \
          chmod 777 /etc/hostname-file 2>&1; stat -c %a /etc/hostname-file; \
          cat /etc/hostname-file; echo x > /tmp/new 2>&1; echo redirect=$?; \
          echo y >> /etc/hostname-file 2>&1; echo append=$?");
    let out = run_all(&rt, &b);
    assert!(out.contains("chmod-755-ok"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(
        out.contains("\n755\n"),
        "the 0777 chmod must not have happened: {out}"
    );
    assert!(
        out.contains("from-rootfs"),
        "a read-only open is allowed: {out}"
    );
    assert!(
        out.contains("Permission denied") && out.contains("redirect=1"),
        "{out}"
    );
    assert!(
        out.contains("append=1"),
        "O_CREAT|O_APPEND is masked to O_CREAT: {out}"
    );
    assert!(!b.rootfs.join("tmp/new").exists());
}

#[test]
fn kill_actions_end_the_process_with_sigsys() {
    let rt = Runtime::new("seccomp-kill");
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL",
    ] {
        let mut b = bundle(
            "seccomp-kill",
            allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": action}])),
        );
        b.args(&["mkdir", "/tmp/x"]);
        let (code, out) = run(&rt, &b);
        assert_eq!(code, KILLED_BY_SECCOMP, "{action}: {out}");
        assert!(!b.rootfs.join("tmp/x").exists());
    }
}

#[test]
fn trap_sends_a_catchable_sigsys_and_log_and_trace_do_not_block() {
    let rt = Runtime::new("seccomp-trap");
    let mut b = bundle(
        "seccomp-trap",
        allow_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_TRAP"}])),
    );
    build_helper(&b, false);
    b.args(&["/bin/probe", "trap"]);
    let (code, out) = run(&rt, &b);
    assert_eq!(code, 0, "{out}");
    // si_code 1 is SYS_SECCOMP; 83 is mkdir.
    assert!(out.contains("trapped syscall 83 code 1"), "{out}");

    let mut b = bundle(
        "seccomp-log",
        allow_but(json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}])),
    );
    b.sh("mkdir /tmp/logged && echo made");
    assert!(run_ok(&rt, &b).contains("made"));
    assert!(b.rootfs.join("tmp/logged").is_dir());

    // With no tracer attached, a TRACE call fails with ENOSYS without running.
    let mut b = bundle(
        "seccomp-trace",
        allow_but(
            json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7}]),
        ),
    );
    b.sh("mkdir /tmp/traced 2>&1; echo done");
    let out = run_all(&rt, &b);
    assert!(
        out.contains("Function not implemented") && out.contains("done"),
        "{out}"
    );
    assert!(!b.rootfs.join("tmp/traced").exists());
}

#[test]
fn i386_calls_cannot_go_around_an_x86_64_profile() {
    let rt = Runtime::new("seccomp-i386");
    let mut only_native = deny_mkdir(13);
    only_native["architectures"] = json!(["SCMP_ARCH_X86_64"]);
    let mut with_x86 = deny_mkdir(13);
    with_x86["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);

    // A 32-bit program: every call it makes is i386's.
    let mut b = bundle("seccomp-i386", only_native.clone());
    build_helper(&b, true);
    b.args(&["/bin/probe32", "int80-mkdir", "/tmp/x"]);
    let (code, out) = run(&rt, &b);
    assert_eq!(
        code, KILLED_BY_SECCOMP,
        "an unlisted architecture must not run: {out}"
    );
    b.set("/linux/seccomp", with_x86.clone());
    let (code, out) = run(&rt, &b);
    assert_eq!((code, out.trim()), (0, "ret=-13"));
    assert!(!b.rootfs.join("tmp/x").exists());

    // A 64-bit program entering through int 0x80 with i386's mkdir (39).
    let mut b = bundle("seccomp-int80", only_native);
    build_helper(&b, false);
    b.args(&["/bin/probe", "int80-mkdir", "/tmp/x"]);
    let (code, out) = run(&rt, &b);
    assert_eq!(code, KILLED_BY_SECCOMP, "{out}");
    b.set("/linux/seccomp", with_x86);
    let (code, out) = run(&rt, &b);
    assert_eq!((code, out.trim()), (0, "ret=-13"));
    assert!(!b.rootfs.join("tmp/x").exists());
}

#[test]
fn x32_calls_cannot_go_around_an_x86_64_profile() {
    let rt = Runtime::new("seccomp-x32");
    let mut b = bundle("seccomp-x32", deny_mkdir(13));
    build_helper(&b, false);
    b.args(&["/bin/probe", "x32-mkdir", "/tmp/x"]);
    // x32 is not listed: its numbers (the x86_64 audit value with bit 30) must not reach
    // the x86_64 rules and their ALLOW default.
    let (code, out) = run(&rt, &b);
    assert_eq!(code, KILLED_BY_SECCOMP, "{out}");
    let mut listed = deny_mkdir(13);
    listed["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]);
    b.set("/linux/seccomp", listed);
    let (code, out) = run(&rt, &b);
    assert_eq!((code, out.trim()), (0, "ret=-13"), "x32 gets its own rules");
    // The plain x86_64 call is still denied.
    b.args(&["/bin/probe", "mkdir", "/tmp/x"]);
    let (code, out) = run(&rt, &b);
    assert_eq!((code, out.trim()), (0, "ret=-13"));
}

#[test]
fn bad_profiles_fail_naming_the_field_and_leave_nothing() {
    let rt = Runtime::new("seccomp-bad");
    let mkdir_rule = |edit: &dyn Fn(&mut Value)| {
        let mut rule = json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]});
        edit(&mut rule);
        allow_but(json!([{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, rule]))
    };
    let cases = [
        (
            mkdir_rule(&|r| r["action"] = json!("SCMP_ACT_EXPLODE")),
            "linux.seccomp.syscalls[1].action: unknown variant `SCMP_ACT_EXPLODE`",
        ),
        (
            mkdir_rule(&|r| r["args"][0]["op"] = json!("SCMP_CMP_ROUGHLY")),
            "linux.seccomp.syscalls[1].args[0].op: unknown variant `SCMP_CMP_ROUGHLY`",
        ),
        (
            mkdir_rule(&|r| r["args"][0]["index"] = json!(6)),
            "linux.seccomp.syscalls[1].args[0].index 6",
        ),
        (
            {
                let mut p = deny_mkdir(1);
                p["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_PDP11"]);
                p
            },
            "linux.seccomp.architectures[1]: unknown variant `SCMP_ARCH_PDP11`",
        ),
        (
            {
                let mut p = deny_mkdir(1);
                p["flags"] = json!(["SECCOMP_FILTER_FLAG_MAGIC"]);
                p
            },
            "linux.seccomp.flags[0]: unknown variant `SECCOMP_FILTER_FLAG_MAGIC`",
        ),
        (
            mkdir_rule(&|r| r["errnoRet"] = json!(70000)),
            "linux.seccomp.syscalls[1].errnoRet 70000",
        ),
        (
            mkdir_rule(&|r| r["action"] = json!("SCMP_ACT_NOTIFY")),
            "linux.seccomp.listenerPath is required with SCMP_ACT_NOTIFY",
        ),
        (
            {
                let mut p = mkdir_rule(&|r| r["action"] = json!("SCMP_ACT_NOTIFY"));
                p["listenerPath"] = json!("relative.sock");
                p
            },
            "linux.seccomp.listenerPath \"relative.sock\" must be an absolute path",
        ),
        (
            {
                let mut p = mkdir_rule(&|r| r["action"] = json!("SCMP_ACT_NOTIFY"));
                p["listenerPath"] = json!("/nonexistent/skiff-agent.sock");
                p
            },
            "linux.seccomp.listenerPath /nonexistent/skiff-agent.sock: connecting",
        ),
        (
            {
                let mut p = mkdir_rule(&|r| r["action"] = json!("SCMP_ACT_NOTIFY"));
                p["listenerPath"] = json!("/");
                p
            },
            "linux.seccomp.listenerPath /: connecting",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/"}),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
        ),
    ];
    for (profile, needle) in cases {
        let b = bundle("seccomp-bad", profile);
        for command in ["create", "run"] {
            let c = rt.container(&b);
            let out = if command == "create" {
                c.create(&[])
            } else {
                c.run(&[])
            };
            out.assert_error(needle);
            c.assert_nothing_left();
            assert!(cgroup_dirs_left(&b.cgroup).is_empty(), "{needle}");
            assert!(processes_mentioning(b.dir_str()).is_empty(), "{needle}");
        }
    }
}

#[test]
fn a_notify_listener_gets_the_descriptor_and_the_state_and_answers() {
    for no_new_privileges in [true, false] {
        let rt = Runtime::new("seccomp-notify");
        let mut b = bundle("seccomp-notify", json!({}));
        let socket = b.scratch().join("agent.sock");
        let mut profile = allow_but(json!([
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}
        ]));
        profile["listenerPath"] = json!(socket);
        profile["listenerMetadata"] = json!("agent-metadata;x=1");
        // TSYNC with a listener needs TSYNC_ESRCH beside it: skiff adds it.
        profile["flags"] = if no_new_privileges {
            json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
        } else {
            json!([
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
            ])
        };
        b.set("/linux/seccomp", profile);
        b.set("/process/noNewPrivileges", json!(no_new_privileges));
        b.sh("mkdir /tmp/asked 2>&1; echo status=$?");
        let agent = Agent::listen(&socket);
        let c = rt.container(&b);
        let out = c.run(&[]);
        out.assert_ok();
        let (state, nr) = agent.finish();
        c.assert_nothing_left();
        // The listener's answer (ENOTBLK) is what the container saw; nothing was made.
        assert!(
            out.stdout.contains("Block device required") && out.stdout.contains("status=1"),
            "{}",
            out.stdout
        );
        assert!(!b.rootfs.join("tmp/asked").exists());
        assert!(nr == 83 || nr == 258, "notified syscall {nr}");
        assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
        assert_eq!(state["metadata"], "agent-metadata;x=1");
        assert!(state["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")));
        let inner = &state["state"];
        assert_eq!(inner["id"], c.id.as_str(), "{state}");
        assert_eq!(
            inner["bundle"].as_str().map(PathBuf::from),
            Some(fs::canonicalize(&b.dir).unwrap())
        );
        let pid = state["pid"].as_i64().unwrap();
        assert!(pid > 1 && inner["pid"] == pid, "{state}");
        // no_new_privileges: installed right before exec, after start; without it, before
        // the init has even reported ready.
        let status = if no_new_privileges {
            "created"
        } else {
            "creating"
        };
        assert_eq!(inner["status"], status, "{state}");
    }
}

#[test]
fn compiling_podmans_profile_is_cheap() {
    // Not a benchmark: a guard against anything quadratic creeping into `prepare`.
    let rt = Runtime::new("seccomp-cheap");
    let mut b = Bundle::new("seccomp-cheap");
    let profile = podman_profile(&b);
    b.set("/linux/seccomp", profile);
    let start = std::time::Instant::now();
    for _ in 0..5 {
        run_ok(&rt, &b);
    }
    let each = start.elapsed() / 5;
    assert!(each < std::time::Duration::from_secs(2), "{each:?} per run");
}

// ---------------------------------------------------------------------------
// The probe program and the test's notify agent
// ---------------------------------------------------------------------------

/// A static C program put into the bundle as /bin/probe (64-bit) or /bin/probe32 (i386),
/// for the calls busybox cannot make: int 0x80, x32 numbers, a SIGSYS handler.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* In .bss, below 4 GiB in a non-PIE binary, so int 0x80 from 64-bit code can pass it. */
static char path[256];

static void on_sigsys(int sig, siginfo_t *info, void *context) {
    char line[64];
    int n = snprintf(line, sizeof line, "trapped syscall %d code %d\n", info->si_syscall, info->si_code);
    write(1, line, n);
    _exit(0);
}

int main(int argc, char **argv) {
    long ret = 0;
    if (argc < 2) return 2;
    if (argc > 2) strncpy(path, argv[2], sizeof path - 1);
    if (!strcmp(argv[1], "int80-mkdir")) {
        /* i386's mkdir is 39, whatever the program's own ABI. */
        long nr = 39;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(path), "c"(0755) : "memory");
    } else if (!strcmp(argv[1], "mkdir")) {
        ret = syscall(SYS_mkdir, path, 0755);
        if (ret < 0) ret = -errno;
#ifdef __x86_64__
    } else if (!strcmp(argv[1], "x32-mkdir")) {
        ret = syscall(0x40000000 | SYS_mkdir, path, 0755);
        if (ret < 0) ret = -errno;
#endif
    } else if (!strcmp(argv[1], "trap")) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = on_sigsys;
        action.sa_flags = SA_SIGINFO;
        sigaction(SIGSYS, &action, NULL);
        syscall(SYS_mkdir, "/tmp/trapped", 0755);
        printf("not trapped\n");
        return 1;
    } else {
        return 2;
    }
    printf("ret=%ld\n", ret);
    return 0;
}
"#;

/// Compiles the probe into the bundle's rootfs (gcc and, for i386, gcc-multilib come from
/// `make test-deps`).
fn build_helper(b: &Bundle, i386: bool) {
    let source = b.scratch().join("probe.c");
    fs::write(&source, PROBE_C).unwrap();
    let out = b
        .rootfs
        .join(if i386 { "bin/probe32" } else { "bin/probe" });
    let mut gcc = Command::new("gcc");
    gcc.args(["-static", "-no-pie", "-O1", "-o"])
        .arg(&out)
        .arg(&source);
    if i386 {
        gcc.arg("-m32");
    }
    let result = gcc.output().unwrap_or_else(|e| {
        panic!("running gcc: {e} (install gcc and gcc-multilib: make test-deps)")
    });
    assert!(
        result.status.success(),
        "gcc{}: {} (make test-deps installs gcc-multilib)",
        if i386 { " -m32" } else { "" },
        String::from_utf8_lossy(&result.stderr)
    );
}

/// A seccomp agent: accepts one connection, takes the notify descriptor and the state, and
/// answers the first notification with ENOTBLK.
struct Agent {
    thread: std::thread::JoinHandle<Result<(Value, i32), String>>,
}

impl Agent {
    fn listen(socket: &Path) -> Agent {
        let listener = std::os::unix::net::UnixListener::bind(socket)
            .unwrap_or_else(|e| panic!("binding {}: {e}", socket.display()));
        let thread = std::thread::spawn(move || agent(listener));
        Agent { thread }
    }

    /// The containerProcessState received and the number of the syscall answered.
    fn finish(self) -> (Value, i32) {
        self.thread
            .join()
            .expect("agent thread")
            .unwrap_or_else(|e| panic!("seccomp agent: {e}"))
    }
}

fn agent(listener: std::os::unix::net::UnixListener) -> Result<(Value, i32), String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::io::{IoSliceMut, Read};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

    let wait = |fd: std::os::fd::BorrowedFd, what: &str| -> Result<(), String> {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(15_000u16)) {
            Ok(0) => Err(format!("timed out waiting for {what}")),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("poll for {what}: {e}")),
        }
    };
    wait(listener.as_fd(), "the runtime to connect")?;
    let (mut stream, _) = listener.accept().map_err(|e| e.to_string())?;
    wait(stream.as_fd(), "the notify descriptor")?;
    let mut buffer = vec![0u8; 64 * 1024];
    let (len, fd) = {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let message = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("recvmsg: {e}"))?;
        let fd = message
            .cmsgs()
            .map_err(|e| e.to_string())?
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .ok_or("no descriptor came with the state")?;
        (message.bytes, fd)
    };
    // SAFETY: the kernel just installed this descriptor for us with the message.
    let notify = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut text = buffer[..len].to_vec();
    // The state may come in parts on a stream socket: read until it parses.
    while serde_json::from_slice::<Value>(&text).is_err() {
        let mut more = [0u8; 4096];
        let n = stream.read(&mut more).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "state is not JSON: {}",
                String::from_utf8_lossy(&text)
            ));
        }
        text.extend_from_slice(&more[..n]);
    }
    let state: Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;

    wait(notify.as_fd(), "a notification")?;
    // SAFETY: all-zero is a valid seccomp_notif, and the kernel requires it zeroed.
    let mut request: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: RECV writes one seccomp_notif into `request`, which outlives the call.
    if unsafe {
        libc::ioctl(
            notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_RECV,
            &mut request,
        )
    } != 0
    {
        return Err(format!("NOTIF_RECV: {}", std::io::Error::last_os_error()));
    }
    let mut response = libc::seccomp_notif_resp {
        id: request.id,
        val: 0,
        error: -libc::ENOTBLK,
        flags: 0,
    };
    // SAFETY: SEND reads one seccomp_notif_resp from `response`, valid for the call.
    if unsafe {
        libc::ioctl(
            notify.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND,
            &mut response,
        )
    } != 0
    {
        return Err(format!("NOTIF_SEND: {}", std::io::Error::last_os_error()));
    }
    Ok((state, request.data.nr))
}

/// An `exec` process runs under the container's profile too: from the command line (the
/// container's process inherited) and with `--process` (a process of its own, the
/// container's filter all the same).
#[test]
fn exec_processes_run_under_the_containers_profile() {
    let rt = Runtime::new("seccomp-exec");
    let mut b = bundle("seccomp-exec", deny_mkdir(1));
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.start().assert_ok();
    let script = "grep ^Seccomp: /proc/self/status; mkdir /tmp/made 2>&1; echo status=$?";
    let out = rt.exec(&["exec", &c.id, "sh", "-c", script]);
    out.assert_ok();
    assert!(out.stdout.contains("Seccomp:\t2"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Operation not permitted") && out.stdout.contains("status=1"),
        "{}",
        out.stdout
    );
    let process_file = b.scratch().join("process.json");
    let mut process = b.config["process"].clone();
    process["args"] = json!(["sh", "-c", script]);
    process["noNewPrivileges"] = json!(false);
    fs::write(&process_file, process.to_string()).unwrap();
    let out = rt.exec(&["exec", "--process", process_file.to_str().unwrap(), &c.id]);
    out.assert_ok();
    assert!(
        out.stdout.contains("Operation not permitted") && out.stdout.contains("status=1"),
        "{}",
        out.stdout
    );
    assert!(!b.rootfs.join("tmp/made").exists());
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}
