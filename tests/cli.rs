//! Command-line surface: spec, --version, --log/--log-format, global flags.
//!
//! SKIFF-SPECIFIC (fail against runc by design):
//! - `version_output` ("skiff version" line).
//!
//! The other tests pass against runc.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

#[test]
fn version_output() {
    let rt = Runtime::new("version");
    let out = rt.exec_noroot(&["--version"]);
    out.assert_ok();
    let s = &out.stdout;
    assert!(s.lines().any(|l| l.contains("skiff version")), "{s}");
    assert!(s.lines().any(|l| l.contains("spec: 1.")), "{s}");
    assert!(s.lines().any(|l| l.contains("commit:")), "{s}");
}

#[test]
fn version_mentions_spec_and_commit() {
    let rt = Runtime::new("version2");
    let out = rt.exec_noroot(&["--version"]);
    out.assert_ok();
    assert!(out.stdout.contains("spec: 1."), "{}", out.stdout);
    assert!(out.stdout.contains("commit:"), "{}", out.stdout);
}

fn spec_in(rt: &Runtime, dir: &std::path::Path, extra: &[&str]) -> Out {
    let mut args = vec!["spec"];
    args.extend_from_slice(extra);
    args.push("--bundle");
    let d = dir.to_str().unwrap().to_string();
    args.push(&d);
    rt.exec_noroot(&args)
}

/// Runs `spec [flags] --bundle <scratch>/<name>` in a new directory and returns the
/// directory with the config.json written there.
fn written_spec(rt: &Runtime, name: &str, flags: &[&str]) -> (std::path::PathBuf, Value) {
    let dir = rt.scratch().join(name);
    fs::create_dir(&dir).unwrap();
    spec_in(rt, &dir, flags).assert_ok();
    let text = fs::read_to_string(dir.join("config.json")).unwrap();
    (dir, serde_json::from_str(&text).unwrap())
}

#[test]
fn spec_defaults() {
    let rt = Runtime::new("specdef");
    let (_, v) = written_spec(&rt, "b", &[]);
    assert_eq!(
        v["process"]["terminal"], true,
        "runc's template asks for a terminal"
    );
    assert_eq!(v["process"]["args"], json!(["sh"]));
    assert_eq!(v["root"]["path"], "rootfs");
}

#[test]
fn spec_shape_and_refuses_overwrite() {
    let rt = Runtime::new("spec");
    let (dir, v) = written_spec(&rt, "b", &[]);
    assert!(v["ociVersion"].as_str().unwrap().starts_with("1."), "{v}");
    assert_eq!(v["root"]["path"], "rootfs");
    assert_eq!(v["process"]["cwd"], "/");
    assert_eq!(v["process"]["user"]["uid"], 0);
    let caps = &v["process"]["capabilities"]["bounding"];
    assert_eq!(
        caps,
        &json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&want), "namespace {want} missing: {ns:?}");
    }
    assert!(!ns.contains(&"user"), "{ns:?}");
    let dests: Vec<&str> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for want in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
    ] {
        assert!(dests.contains(&want), "mount {want} missing: {dests:?}");
    }
    assert!(v["linux"]["maskedPaths"].as_array().unwrap().len() > 3);
    assert!(v["linux"]["readonlyPaths"]
        .as_array()
        .unwrap()
        .contains(&json!("/proc/sys")));

    // A second spec must not overwrite it.
    fs::write(dir.join("config.json"), "keep me").unwrap();
    let out = spec_in(&rt, &dir, &[]);
    out.assert_code(1);
    assert_eq!(
        fs::read_to_string(dir.join("config.json")).unwrap(),
        "keep me"
    );
}

#[test]
fn spec_short_flag_and_cwd() {
    let rt = Runtime::new("specb");
    let dir = rt.scratch().join("b");
    fs::create_dir(&dir).unwrap();
    rt.exec_noroot(&["spec", "-b", dir.to_str().unwrap()])
        .assert_ok();
    assert!(dir.join("config.json").is_file());
    // Without --bundle, the current directory.
    let cwd = rt.scratch().join("c");
    fs::create_dir(&cwd).unwrap();
    let c2 = cwd.clone();
    rt.spawn_cmd(false, &["spec"], Stdio3::Capture, move |cmd| {
        cmd.current_dir(&c2);
    })
    .wait(TIMEOUT)
    .assert_ok();
    assert!(cwd.join("config.json").is_file());
}

#[test]
fn spec_rootless() {
    let rt = Runtime::new("specrootless");
    let (_, v) = written_spec(&rt, "b", &["--rootless"]);
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"), "{v}");
    assert!(!ns.iter().any(|n| n["type"] == "network"), "{v}");
    let um = v["linux"]["uidMappings"].as_array().expect("uidMappings");
    assert_eq!(um.len(), 1);
    assert_eq!(um[0]["containerID"], 0);
    assert_eq!(um[0]["hostID"], 0, "running as root: hostID is our uid");
    assert!(v["linux"]["gidMappings"].as_array().is_some());
}

#[test]
fn spec_default_config_runs() {
    // The template, with only the mandatory cgroupsPath and a command that ends, runs
    // in the foreground on the terminal it asks for (relayed to the runtime's stdout).
    let rt = Runtime::new("specrun");
    let b = Bundle::new("specrun");
    let (dir, mut v) = written_spec(&rt, "bundle", &[]);
    build_rootfs(&dir.join("rootfs"));
    v["linux"]["cgroupsPath"] = json!(b.cgroup);
    v["process"]["args"] = json!(["sh", "-c", "tty && echo on-a-terminal"]);
    fs::write(dir.join("config.json"), v.to_string()).unwrap();
    let c = rt.container(&b);
    let out = rt.exec(&["run", "--bundle", dir.to_str().unwrap(), &c.id]);
    out.assert_ok();
    assert!(out.stdout.contains("/dev/pts/0"), "{:?}", out.stdout);
    assert!(out.stdout.contains("on-a-terminal"), "{:?}", out.stdout);
    assert_nothing_left(&rt, &c.id, &b.cgroup, &dir, None);
}

#[test]
fn log_json_on_error() {
    let rt = Runtime::new("logjson");
    let log = rt.scratch().join("log.json");
    let id = unique("nosuch");
    let state_logged = || {
        rt.exec(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            &id,
        ])
    };
    let out = state_logged();
    out.assert_code(1);
    assert!(
        !out.stderr.trim().is_empty(),
        "the error must also go to stderr"
    );
    let text = fs::read_to_string(&log).expect("log file not written");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}")))
        .collect();
    let err = lines
        .iter()
        .find(|l| l["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {text:?}"));
    assert!(
        err["msg"].as_str().unwrap().contains("does not exist"),
        "{err}"
    );
    assert!(
        err["time"].as_str().is_some_and(|t| t.contains('T')),
        "{err}"
    );

    // Appends, never truncates.
    state_logged().assert_code(1);
    let again = fs::read_to_string(&log).unwrap();
    assert!(
        again.starts_with(&text) && again.len() > text.len(),
        "{again:?}"
    );
}

#[test]
fn log_text_on_error() {
    let rt = Runtime::new("logtext");
    let log = rt.scratch().join("log.txt");
    let id = unique("nosuch");
    rt.exec(&["--log", log.to_str().unwrap(), "kill", &id])
        .assert_code(1);
    let text = fs::read_to_string(&log).expect("log file not written");
    assert!(text.contains("error"), "{text:?}");
    assert!(text.contains("does not exist"), "{text:?}");
}

#[test]
fn global_flags_are_accepted() {
    let rt = Runtime::new("globalflags");
    let mut b = Bundle::new("globalflags");
    b.sh("echo flags-ok");
    let log = rt.scratch().join("debug.log");
    let c = rt.container(&b);
    let out = rt.exec(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "text",
        "run",
        "--bundle",
        b.dir_str(),
        &c.id,
    ]);
    out.assert_ok();
    assert_eq!(out.stdout, "flags-ok\n");
    c.assert_nothing_left();
}

#[test]
fn default_root_is_not_used_with_root_flag() {
    // --root must be honoured: a container created under our root is not
    // visible under another root.
    let rt = Runtime::new("rootflag");
    let other = Runtime::new("rootflag-other");
    let mut b = Bundle::new("rootflag");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    c.state();
    assert!(rt.root.join(&c.id).exists(), "state not kept under --root");
    assert!(other.try_state(&c.id).is_none());
    assert!(!other.list_ids().contains(&c.id));
    c.delete(false).assert_ok();
    c.assert_nothing_left();
}

/// A reader that stops early (`skiff --version | head -c1`) closes the pipe: skiff must
/// end normally, not abort on a panic.
#[test]
fn output_to_a_closed_pipe_is_not_a_crash() {
    let rt = Runtime::new("skconf-closed-pipe");
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end);
    let out = rt
        .spawn_cmd(false, &["--version"], Stdio3::Capture, move |cmd| {
            cmd.stdout(std::process::Stdio::from(write_end));
        })
        .wait(TIMEOUT);
    assert_eq!(out.code(), 0, "stderr: {}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn help_describes_every_command() {
    // The subcommands' arguments are built only for the one parsed; their descriptions
    // must still be in the top-level help (they were lost once that way).
    let out = Runtime::new("helplist").exec_noroot(&["--help"]);
    out.assert_ok();
    let commands: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .collect();
    assert!(commands.len() >= 17, "{}", out.stdout);
    for line in commands {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        assert!(
            words.next().is_some(),
            "no description for {name}: {}",
            out.stdout
        );
    }
}
