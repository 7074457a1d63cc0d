//! Rootless mode: skiff run by an unprivileged user the test makes (`useradd`, removed
//! afterwards), with a bundle that user owns and its state root in the user's
//! `$XDG_RUNTIME_DIR/skiff`. The container is made from `skiff spec --rootless`, and the
//! test asserts on what it saw: uid 0 inside, the caller's uid in its uid_map, its
//! hostname, and a file it wrote owned by the caller on the host. On this host no cgroup
//! is delegated to the user, so a limit that needs one is refused by name.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An unprivileged user made for one test, with its uid and gid; removed on drop.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn new() -> TestUser {
        // `skrl` + a number unique to this run: user names are short.
        let name = format!(
            "skrl{}",
            unique("u").replace('-', "").trim_start_matches('u')
        );
        let name: String = name.chars().take(30).collect();
        let made = Command::new("useradd")
            .args(["-M", "-N", "-s", "/bin/sh", &name])
            .status()
            .expect("running useradd");
        assert!(made.success(), "useradd {name} failed");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        TestUser { name, uid, gid }
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A bundle and a `$XDG_RUNTIME_DIR`, both owned by the user, under one temp dir.
struct Setup {
    user: TestUser,
    base: TempDir,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let user = TestUser::new();
        let base = TempDir::new(tag);
        build_rootfs(&base.path.join("bundle/rootfs"));
        fs::create_dir_all(base.path.join("run")).unwrap();
        // Only what the test made: its own temp dir, bundle and runtime dir.
        let owned = Command::new("chown")
            .args([
                "-R",
                &format!("{}:{}", user.uid, user.gid),
                base.path.to_str().unwrap(),
            ])
            .status()
            .unwrap();
        assert!(owned.success());
        set_mode(&base.path.join("run"), 0o700);
        Setup { user, base }
    }

    fn bundle(&self) -> PathBuf {
        self.base.path.join("bundle")
    }

    fn xdg(&self) -> PathBuf {
        self.base.path.join("run")
    }

    fn state_root(&self) -> PathBuf {
        self.xdg().join("skiff")
    }

    /// Runs skiff as the user, in the bundle, with only a minimal environment.
    fn skiff(&self, args: &[&str], stdout: Stdio) -> Output {
        let err_path = self.base.path.join("stderr");
        let out = Command::new("timeout")
            .arg("30")
            .arg("setpriv")
            .args([
                &format!("--reuid={}", self.user.uid),
                &format!("--regid={}", self.user.gid),
                "--clear-groups",
                "env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                &format!("HOME={}", self.base.path.display()),
                &format!("XDG_RUNTIME_DIR={}", self.xdg().display()),
            ])
            .arg(runtime_bin())
            .args(args)
            .current_dir(self.bundle())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(fs::File::create(&err_path).unwrap()))
            .output()
            .expect("running skiff as the test user");
        // Through a file: a detached init (create, run -d) keeps its copy of stderr.
        let mut out = out;
        out.stderr = fs::read(&err_path).unwrap_or_default();
        out
    }

    fn skiff_ok(&self, args: &[&str]) -> String {
        let out_path = self.base.path.join("stdout");
        let file = fs::File::create(&out_path).unwrap();
        let mut out = self.skiff(args, Stdio::from(file));
        out.stdout = fs::read(&out_path).unwrap_or_default();
        assert!(
            out.status.success(),
            "skiff {args:?} as {} failed: {}\n{}",
            self.user.name,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `skiff spec --rootless` as the user, then the test's edits to it.
    fn spec(&self, edit: impl FnOnce(&mut Value)) {
        self.skiff_ok(&["spec", "--rootless"]);
        let path = self.bundle().join("config.json");
        let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["root"]["readonly"] = json!(false);
        edit(&mut config);
        fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    /// Nothing of container `id` is left: no state, no process, no cgroup.
    fn assert_nothing_left(&self, id: &str, pid: Option<i32>) {
        let root = self.state_root();
        let entries: Vec<_> = fs::read_dir(&root)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            entries.is_empty(),
            "left in {}: {entries:?}",
            root.display()
        );
        if let Some(pid) = pid {
            assert!(
                wait_pid_gone(pid, std::time::Duration::from_secs(5)),
                "init {pid} left"
            );
        }
        assert!(
            cgroup_dirs_left(id).is_empty(),
            "cgroups left: {:?}",
            cgroup_dirs_left(id)
        );
        assert_host_dev_null_intact();
    }
}

#[test]
fn a_rootless_spec_runs_as_an_unprivileged_user() {
    let setup = Setup::new("rootless-run");
    setup.spec(|config| {
        config["hostname"] = json!("skrl-box");
        config["process"]["args"] = json!([
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map; hostname; echo hi > /made-inside; \
             ls /dev/null /dev/zero"
        ]);
    });
    let id = unique("skrl-run");
    let out = setup.skiff_ok(&["run", &id]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "uid inside: {out}");
    assert_eq!(lines[1], "0", "gid inside: {out}");
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        map,
        ["0", &setup.user.uid.to_string(), "1"],
        "uid_map: {out}"
    );
    assert_eq!(lines[3], "skrl-box", "{out}");
    assert!(
        out.contains("/dev/null") && out.contains("/dev/zero"),
        "{out}"
    );
    let made = fs::metadata(setup.bundle().join("rootfs/made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (setup.user.uid, setup.user.gid));
    setup.assert_nothing_left(&id, None);
}

#[test]
fn state_list_exec_and_delete_work_in_the_users_runtime_dir() {
    let setup = Setup::new("rootless-life");
    setup.spec(|config| config["process"]["args"] = json!(["sleep", "100"]));
    let id = unique("skrl-life");
    setup.skiff_ok(&["create", &id]);
    assert!(setup.state_root().join(&id).join("state.json").is_file());
    let state: Value = serde_json::from_str(&setup.skiff_ok(&["state", &id])).unwrap();
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().unwrap() as i32;
    let owner = fs::metadata(format!("/proc/{pid}")).unwrap().uid();
    assert_eq!(
        owner, setup.user.uid,
        "the init runs as the caller on the host"
    );
    setup.skiff_ok(&["start", &id]);
    let listed = setup.skiff_ok(&["list", "--format", "json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert_eq!(entry["status"], "running");
    assert_eq!(entry["owner"], setup.user.name.as_str());
    let inside = setup.skiff_ok(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let lines: Vec<&str> = inside.lines().collect();
    assert_eq!(lines[0], "0", "{inside}");
    assert!(lines[1].contains(&setup.user.uid.to_string()), "{inside}");
    setup.skiff_ok(&["kill", &id, "KILL"]);
    setup.skiff_ok(&["delete", "--force", &id]);
    setup.assert_nothing_left(&id, Some(pid));
}

#[test]
fn a_limit_without_a_delegated_cgroup_is_refused_by_name() {
    let setup = Setup::new("rootless-limit");
    setup.spec(|config| {
        config["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    });
    let id = unique("skrl-limit");
    let out = setup.skiff(&["run", &id], Stdio::piped());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("linux.resources.memory.limit"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    setup.assert_nothing_left(&id, None);
}

#[test]
fn an_unprivileged_config_without_a_user_namespace_is_refused() {
    let setup = Setup::new("rootless-nouserns");
    setup.spec(|config| {
        let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|ns| ns["type"] != "user");
    });
    let id = unique("skrl-nouserns");
    let out = setup.skiff(&["run", &id], Stdio::piped());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("linux.namespaces"), "{stderr}");
    setup.assert_nothing_left(&id, None);
}
