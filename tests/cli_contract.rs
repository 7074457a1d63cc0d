//! What scripts and engines written for runc rely on from the command line: the `spec`
//! template, console-socket rules, `list`'s table, usage errors in `--log`, and init
//! failure reports that arrive whole.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------
// `spec` writes runc's template
// ---------------------------------------------------------------------------

/// The `runc` binary, installed with apt-get if it is missing: this comparison must run,
/// never be skipped.
fn runc() -> &'static str {
    let present = || {
        Command::new("runc")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !present() {
        let installed = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "runc"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let _ = Command::new("apt-get")
                .args(["update", "-q"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends", "runc"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        assert!(
            present(),
            "runc is needed to compare `spec` output and could not be installed with apt-get"
        );
    }
    "runc"
}

/// `<program> spec [flags] --bundle DIR`, read back without its ociVersion.
fn spec_of(program: &Path, dir: &Path, flags: &[&str]) -> Value {
    fs::create_dir_all(dir).unwrap();
    let out = Command::new(program)
        .arg("spec")
        .args(flags)
        .arg("--bundle")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} spec: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} spec {flags:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut config: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let version = config
        .as_object_mut()
        .unwrap()
        .remove("ociVersion")
        .expect("ociVersion");
    assert!(version.as_str().unwrap().starts_with("1."), "{version}");
    config
}

#[test]
fn spec_writes_runcs_template() {
    let runc = runc();
    let scratch = TempDir::new("spec-vs-runc");
    for flags in [&[][..], &["--rootless"][..]] {
        let name = if flags.is_empty() {
            "plain"
        } else {
            "rootless"
        };
        let theirs = spec_of(
            Path::new(runc),
            &scratch.path.join(format!("runc-{name}")),
            flags,
        );
        let ours = spec_of(
            &runtime_bin(),
            &scratch.path.join(format!("skiff-{name}")),
            flags,
        );
        assert_eq!(
            ours,
            theirs,
            "`spec {flags:?}` differs from runc's:\nskiff: {}\nrunc:  {}",
            serde_json::to_string_pretty(&ours).unwrap(),
            serde_json::to_string_pretty(&theirs).unwrap()
        );
    }
}

// ---------------------------------------------------------------------------
// --console-socket and process.terminal must agree
// ---------------------------------------------------------------------------

#[test]
fn console_socket_without_a_terminal_is_refused() {
    let rt = Runtime::new("socknoterm");
    let b = Bundle::new("socknoterm");
    let socket = rt.scratch().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    for command in [&["create"][..], &["run", "--detach"][..], &["run"][..]] {
        let c = rt.container(&b);
        let mut args = command.to_vec();
        args.extend([
            "--bundle",
            b.dir_str(),
            "--console-socket",
            socket.to_str().unwrap(),
            &c.id,
        ]);
        rt.exec(&args)
            .assert_error("--console-socket")
            .assert_error("process.terminal is false");
        c.assert_nothing_left();
    }
    assert!(
        listener.accept().is_err(),
        "nothing may connect to the socket when there is no terminal to send"
    );
}

#[test]
fn a_terminal_without_a_console_socket_is_refused_when_detached() {
    let rt = Runtime::new("termnosock");
    let mut b = Bundle::new("termnosock");
    b.set("/process/terminal", json!(true));
    b.args(&["sleep", "100"]);
    for command in [&["create"][..], &["run", "--detach"][..]] {
        let c = rt.container(&b);
        let mut args = command.to_vec();
        args.extend(["--bundle", b.dir_str(), &c.id]);
        rt.exec(&args).assert_error("--console-socket is required");
        c.assert_nothing_left();
    }
}

// ---------------------------------------------------------------------------
// `list` keeps its columns aligned
// ---------------------------------------------------------------------------

/// The character offsets where each of `line`'s cells starts (cells are separated by at
/// least three spaces, as runc's tabwriter pads them).
fn cell_starts(line: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            let run = bytes[i..].iter().take_while(|&&b| b == b' ').count();
            if run >= 3 && i + run < bytes.len() {
                starts.push(i + run);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    starts
}

#[test]
fn list_aligns_long_ids_and_bundle_paths() {
    let rt = Runtime::new("listwide");
    let mut short = Bundle::new("listwide");
    short.args(&["sleep", "100"]);
    let mut long = Bundle::new("listwide-long");
    long.args(&["sleep", "100"]);
    // A bundle path far longer than a column.
    let deep = long
        .scratch()
        .join("a-rather-long-directory-name/and-another-one/bundle");
    fs::create_dir_all(deep.parent().unwrap()).unwrap();
    fs::rename(&long.dir, &deep).unwrap();
    let short_c = rt.container(&short);
    let long_id = format!("{}-{}", long.name, "x".repeat(40));
    let long_c = rt.container_with_id(&long, &long_id);
    short_c.create(&[]).assert_ok();
    rt.exec(&["create", "--bundle", deep.to_str().unwrap(), &long_id])
        .assert_ok();

    let out = rt.exec(&["list"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("ID "), "{}", out.stdout);
    let header = cell_starts(lines[0]);
    assert_eq!(header.len(), 6, "{}", out.stdout);
    for line in &lines[1..] {
        assert_eq!(
            cell_starts(line),
            header,
            "columns out of line:\n{}",
            out.stdout
        );
    }
    // Every column is as wide as its widest cell plus 3.
    assert_eq!(header[1], long_id.len() + 3, "{}", out.stdout);
    let bundle_column = lines
        .iter()
        .map(|l| &l[header[3]..header[4]])
        .find(|cell| cell.trim_end() == deep.to_str().unwrap())
        .unwrap_or_else(|| panic!("no row shows {}:\n{}", deep.display(), out.stdout));
    assert_eq!(bundle_column.len(), deep.to_str().unwrap().len() + 3);

    short_c.delete(true).assert_ok();
    long_c.delete(true).assert_ok();
    short_c.assert_nothing_left();
    assert_nothing_left(&rt, &long_id, &long.cgroup, &deep, None);
}

// ---------------------------------------------------------------------------
// Usage errors reach --log
// ---------------------------------------------------------------------------

/// The JSON lines of a --log-format json file.
fn json_lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the --log file {} was not written: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

#[test]
fn usage_errors_are_logged_as_json() {
    let rt = Runtime::new("usagelog");
    let cases: [(&str, &[&str], &str); 3] = [
        ("subcommand", &["frobnicate"], "frobnicate"),
        ("flag", &["state", "--no-such-flag", "x"], "--no-such-flag"),
        ("argument", &["kill"], "<ID>"),
    ];
    for (what, args, needle) in cases {
        let log = rt.scratch().join(format!("{what}.json"));
        let mut full = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        full.extend_from_slice(args);
        rt.exec(&full).assert_error(needle);
        let lines = json_lines(&log);
        assert_eq!(lines.len(), 1, "unknown {what}: {lines:?}");
        assert_eq!(lines[0]["level"], "error", "unknown {what}: {lines:?}");
        let message = lines[0]["msg"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "unknown {what}: {message:?}");
        assert!(lines[0]["time"].is_string(), "{lines:?}");
    }
    // The flags may follow the subcommand, in the `--flag=value` form too.
    let log = rt.scratch().join("after.json");
    let log_flag = format!("--log={}", log.display());
    rt.exec(&["delete", "--bogus", &log_flag, "--log-format=json"])
        .assert_error("--bogus");
    assert_eq!(json_lines(&log)[0]["level"], "error");
}

// ---------------------------------------------------------------------------
// An init's failure report arrives whole
// ---------------------------------------------------------------------------

#[test]
fn a_long_init_error_arrives_whole() {
    let rt = Runtime::new("longerr");
    // A working directory too long for the kernel (over PATH_MAX), and a program name no
    // PATH directory can hold: the init fails on each and names it in full.
    let long_cwd: String = (0..24)
        .map(|i| format!("/{i:02}-{}", "d".repeat(200)))
        .collect();
    let long_name = format!("prog-{}-end", "p".repeat(6000));
    let cases: [(&str, &str, Value); 2] = [
        ("/process/cwd", &long_cwd, json!(["true"])),
        ("/process/args", &long_name, json!([long_name])),
    ];
    for (pointer, needle, args) in cases {
        let mut b = Bundle::new("longerr");
        if pointer == "/process/cwd" {
            b.set(pointer, json!(long_cwd));
        }
        b.set("/process/args", args);
        let c = rt.container(&b);
        let out = c.run(&[]);
        out.assert_error(needle);
        c.assert_nothing_left();
    }
}

// ---------------------------------------------------------------------------
// The texts engines match in a failed call's --log line
// ---------------------------------------------------------------------------

/// The `msg` of the last error line, which is what containerd's shim and conmon read.
fn last_logged_error(path: &Path) -> String {
    json_lines(path)
        .iter()
        .rev()
        .find(|l| l["level"] == "error")
        .and_then(|l| l["msg"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no error line in {}", path.display()))
}

#[test]
fn failures_say_what_engines_match() {
    let mut rt = Runtime::new("skeng-texts");
    let log = rt.scratch().join("log.json");
    rt.global = vec![
        "--log".into(),
        log.to_str().unwrap().into(),
        "--log-format".into(),
        "json".into(),
    ];
    let check = |what: &str, out: &Out, needle: &str| {
        out.assert_error(needle);
        let msg = last_logged_error(&log);
        assert!(
            msg.contains(needle),
            "{what}: --log says {msg:?}, not {needle:?}"
        );
    };
    // containerd's shim: "does not exist" (kill, delete); docker: "container does not exist";
    // podman's `state`: "does not exist".
    for sub in [
        &["kill", "skeng-nosuch", "9"][..],
        &["delete", "skeng-nosuch"],
        &["state", "skeng-nosuch"],
        &["pause", "skeng-nosuch"],
        &["exec", "skeng-nosuch", "true"],
    ] {
        check(&sub.join(" "), &rt.exec(sub), "container does not exist");
    }
    // A container whose init exited: kill, exec and pause say runc's "container not running",
    // which the shim takes for "process already finished".
    let mut b = Bundle::new("skeng-texts");
    b.args(&["true"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    check(
        "create of a taken ID",
        &c.create(&[]),
        "container with id exists",
    );
    c.start().assert_ok();
    c.wait_status("stopped");
    check(
        "kill 9",
        &rt.exec(&["kill", &c.id, "9"]),
        "container not running",
    );
    check("kill KILL", &c.kill(Some("KILL")), "container not running");
    check(
        "exec",
        &rt.exec(&["exec", &c.id, "true"]),
        "container not running",
    );
    check(
        "pause",
        &rt.exec(&["pause", &c.id]),
        "container not running",
    );
    c.delete(false).assert_ok();
    c.assert_nothing_left();

    // docker and podman map a missing program to exit status 127 by these words.
    let mut b = Bundle::new("skeng-noexe");
    b.args(&["/no/such/program"]);
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_code(1);
    let msg = last_logged_error(&log);
    assert!(
        msg.contains("no such file or directory") || msg.contains("executable file not found"),
        "{msg:?}"
    );
    c.assert_nothing_left();
    let mut b = Bundle::new("skeng-nopath");
    b.args(&["no-such-program"]);
    let c = rt.container(&b);
    check(
        "run of a program not on $PATH",
        &c.run(&[]),
        "executable file not found in",
    );
    c.assert_nothing_left();
}

#[test]
fn every_failure_reaches_the_log() {
    let rt = Runtime::new("skeng-everylog");
    let cases: [(&str, &[&str]); 6] = [
        ("unknown subcommand", &["frobnicate"]),
        ("bad global flag", &["--no-such-global", "list"]),
        (
            "bad flag value",
            &["--log-format", "json", "list", "--format", "yaml"],
        ),
        ("missing argument", &["start"]),
        ("no subcommand", &[]),
        (
            "bad bundle",
            &["create", "--bundle", "/nonexistent-skeng", "skeng-x"],
        ),
    ];
    for (what, args) in cases {
        let log = rt
            .scratch()
            .join(format!("{}.json", what.replace(' ', "-")));
        let mut full = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
        full.extend_from_slice(args);
        let out = rt.exec(&full);
        assert_eq!(out.code(), 1, "{what}: {}", out.stderr);
        let msg = last_logged_error(&log);
        let stderr = out.stderr.trim_end();
        assert!(
            !msg.is_empty() && stderr.ends_with(&msg),
            "{what}: log {msg:?}, stderr {stderr:?}"
        );
    }
}
