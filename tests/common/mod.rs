//! Shared helpers for skiff's integration tests.
//!
//! Every test builds its own busybox bundle (`Bundle`), uses its own state
//! root (`Runtime`), and wraps each container id in a `Container` guard whose
//! `Drop` force-deletes the container, so tests are independent and can run in
//! parallel. Nothing here mocks anything: the runtime binary is run for real
//! (`SKIFF_TEST_RUNTIME` if set, else the skiff binary built by cargo).
//!
//! Tests need root, `/bin/busybox` (statically linked) and cgroup v1
//! controllers; if something is missing they fail with a message.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default deadline for one runtime invocation.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Applets symlinked into every rootfs (`/bin/<applet>` -> `busybox`).
pub const APPLETS: &[&str] = &[
    "sh",
    "ash",
    "cat",
    "ls",
    "id",
    "hostname",
    "sleep",
    "true",
    "false",
    "echo",
    "mount",
    "stat",
    "touch",
    "grep",
    "test",
    "[",
    "readlink",
    "head",
    "tail",
    "wc",
    "od",
    "pwd",
    "env",
    "dd",
    "kill",
    "mkdir",
    "printf",
    "cut",
    "tr",
    "sed",
    "awk",
    "tty",
    "stty",
    "ps",
    "sysctl",
    "rm",
    "ln",
    "seq",
    "xargs",
    "uname",
    "dnsdomainname",
    "nproc",
    "wait",
    "usleep",
];

/// Cgroup v1 controllers checked for leftovers.
pub const CGROUP_CONTROLLERS: &[&str] = &["memory", "pids", "cpu", "devices", "freezer"];

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this machine for the duration of the test run:
/// `<tag>-<pid>-<counter>`, usable as container id and cgroup leaf.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{}-{}", tag, std::process::id(), n)
}

/// The runtime under test.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("SKIFF_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_skiff")),
    }
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "skiff integration tests must run as root"
    );
}

/// A directory removed (recursively) on drop.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("skiff-it-{}", unique(tag)));
        if path.exists() {
            fs::remove_dir_all(&path).unwrap();
        }
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("creating temp dir {}: {e}", path.display()));
        // Containers with a user namespace (or a non-root user) must be able
        // to reach the rootfs through this directory.
        set_mode(&path, 0o755);
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------
// Running the runtime
// ---------------------------------------------------------------------------

/// The result of one runtime invocation. stdout/stderr are captured through
/// files (not pipes) so a container that inherits them (create, run -d)
/// cannot make the test hang; the files stay readable afterwards, which is
/// how tests read what a detached container printed.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Out {
    /// Exit code; 128+N if the runtime itself died of signal N.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        match self.status.code() {
            Some(c) => c,
            None => 128 + self.status.signal().unwrap_or(0),
        }
    }

    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Re-reads stdout (what a detached container wrote after the runtime
    /// command returned).
    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn stderr_now(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Out {
        assert!(
            self.status.success(),
            "`{}` failed with {}\nstdout: {}\nstderr: {}",
            self.args.join(" "),
            self.code(),
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Out {
        assert_eq!(
            self.code(),
            code,
            "`{}`: unexpected exit status\nstdout: {}\nstderr: {}",
            self.args.join(" "),
            self.stdout,
            self.stderr
        );
        self
    }

    /// A runtime error: exit status 1, exactly one line on stderr, which
    /// contains `needle`.
    #[track_caller]
    pub fn assert_error(&self, needle: &str) -> &Out {
        self.assert_code(1);
        assert!(
            self.stderr.contains(needle),
            "`{}`: stderr should contain {:?}\nstderr: {}",
            self.args.join(" "),
            needle,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.trim_end().lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "`{}`: an error must be exactly one line on stderr, got: {:?}",
            self.args.join(" "),
            self.stderr
        );
        self
    }
}

/// How the child's stdio is wired.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stdio3 {
    /// stdin /dev/null, stdout and stderr captured in files.
    Capture,
    /// all three are /dev/null (`Stdio::null()`).
    Null,
}

/// A runtime invocation running in the background.
pub struct Running {
    pub args: Vec<String>,
    child: Option<Child>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Where its stdout goes (readable while it runs).
    pub fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    /// Waits until the process exits; kills it and panics after `timeout`.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> Out {
        let mut child = self.child.take().unwrap();
        let status = wait_deadline(&mut child, timeout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{}` did not finish within {:?}\nstdout: {}\nstderr: {}",
                self.args.join(" "),
                timeout,
                fs::read_to_string(&self.stdout_path).unwrap_or_default(),
                fs::read_to_string(&self.stderr_path).unwrap_or_default()
            )
        });
        Out {
            args: self.args.clone(),
            status,
            stdout: fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr_path).unwrap_or_default(),
            stdout_path: self.stdout_path.clone(),
            stderr_path: self.stderr_path.clone(),
        }
    }

    /// Whether it has already exited (without reaping it for good).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().map(|s| s.is_some()).unwrap_or(true),
            None => true,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut sleep = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(e) => panic!("waiting for child: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}

/// The runtime binary with a per-test `--root`.
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    /// Extra global flags put before the subcommand (e.g. `--log`).
    pub global: Vec<String>,
    io_dir: PathBuf,
    seq: AtomicUsize,
    tmp: TempDir,
}

impl Runtime {
    pub fn new(tag: &str) -> Runtime {
        require_root();
        let bin = runtime_bin();
        assert!(
            bin.exists(),
            "runtime binary {} does not exist (set SKIFF_TEST_RUNTIME?)",
            bin.display()
        );
        let tmp = TempDir::new(&format!("rt-{tag}"));
        let root = tmp.path.join("root");
        fs::create_dir_all(&root).unwrap();
        set_mode(&root, 0o700);
        let io_dir = tmp.path.join("io");
        fs::create_dir_all(&io_dir).unwrap();
        Runtime {
            bin,
            root,
            global: Vec::new(),
            io_dir,
            seq: AtomicUsize::new(0),
            tmp,
        }
    }

    /// A scratch directory belonging to this runtime (removed on drop).
    pub fn scratch(&self) -> &Path {
        &self.tmp.path
    }

    fn io_paths(&self) -> (PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        (
            self.io_dir.join(format!("{n}.out")),
            self.io_dir.join(format!("{n}.err")),
        )
    }

    fn full_args(&self, with_root: bool, args: &[&str]) -> Vec<String> {
        let mut v = Vec::new();
        if with_root {
            v.push("--root".to_string());
            v.push(self.root.to_string_lossy().into_owned());
        }
        v.extend(self.global.iter().cloned());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Spawns `<bin> [--root R] <args>` in the background.
    pub fn spawn_with(&self, with_root: bool, args: &[&str], stdio: Stdio3) -> Running {
        self.spawn_cmd(with_root, args, stdio, |_| {})
    }

    /// Like `spawn_with`, with a hook to adjust the `Command` (e.g. pre_exec).
    pub fn spawn_cmd(
        &self,
        with_root: bool,
        args: &[&str],
        stdio: Stdio3,
        adjust: impl FnOnce(&mut Command),
    ) -> Running {
        let full = self.full_args(with_root, args);
        let (op, ep) = self.io_paths();
        let mut cmd = Command::new(&self.bin);
        cmd.args(&full);
        cmd.stdin(Stdio::null());
        match stdio {
            Stdio3::Capture => {
                cmd.stdout(File::create(&op).unwrap());
                cmd.stderr(File::create(&ep).unwrap());
            }
            Stdio3::Null => {
                File::create(&op).unwrap();
                File::create(&ep).unwrap();
                cmd.stdout(Stdio::null());
                cmd.stderr(Stdio::null());
            }
        }
        adjust(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} {:?}: {e}", self.bin.display(), full));
        self.running(full, child, op, ep)
    }

    /// A spawned runtime command, shown as `<bin> <full args>` in failures.
    fn running(&self, full: Vec<String>, child: Child, op: PathBuf, ep: PathBuf) -> Running {
        let mut shown = vec![self.bin.to_string_lossy().into_owned()];
        shown.extend(full);
        Running {
            args: shown,
            child: Some(child),
            stdout_path: op,
            stderr_path: ep,
        }
    }

    /// Runs `<bin> --root R <args>` and waits (20 s deadline).
    #[track_caller]
    pub fn exec(&self, args: &[&str]) -> Out {
        self.spawn_with(true, args, Stdio3::Capture).wait(TIMEOUT)
    }

    /// Runs `<bin> <args>` without `--root`.
    #[track_caller]
    pub fn exec_noroot(&self, args: &[&str]) -> Out {
        self.spawn_with(false, args, Stdio3::Capture).wait(TIMEOUT)
    }

    /// Background `<bin> --root R <args>`.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with(true, args, Stdio3::Capture)
    }

    /// Runs `<bin> --root R <args>` with `fd3` opened read-only as descriptor 3 and every
    /// other descriptor from 4 to 63 closed (so nothing the test harness inherited
    /// reaches the runtime), and waits (20 s deadline).
    #[track_caller]
    pub fn exec_with_fd3(&self, fd3: &Path, args: &[&str]) -> Out {
        let full = self.full_args(true, args);
        let (op, ep) = self.io_paths();
        let script =
            r#"exec 3<"$0"; for fd in $(seq 4 63); do eval "exec $fd>&-"; done; exec "$@""#;
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg(fd3)
            .arg(&self.bin)
            .args(&full)
            .stdin(Stdio::null())
            .stdout(File::create(&op).unwrap())
            .stderr(File::create(&ep).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning bash for {}: {e}", self.bin.display()));
        self.running(full, child, op, ep).wait(TIMEOUT)
    }

    /// `state ID` parsed, or None if the command failed.
    pub fn try_state(&self, id: &str) -> Option<Value> {
        let out = self.exec(&["state", id]);
        if !out.ok() {
            return None;
        }
        Some(
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
                panic!("state {id}: stdout is not JSON ({e}): {:?}", out.stdout)
            }),
        )
    }

    /// `list --format json` as a vector (`null` and `[]` both mean empty).
    #[track_caller]
    pub fn list(&self) -> Vec<Value> {
        let out = self.exec(&["list", "--format", "json"]);
        out.assert_ok();
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("list --format json: not JSON ({e}): {:?}", out.stdout));
        match v {
            Value::Null => Vec::new(),
            Value::Array(a) => a,
            other => panic!("list --format json: expected an array or null, got {other}"),
        }
    }

    pub fn list_ids(&self) -> Vec<String> {
        self.list()
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// A guard for a container with a fresh unique id using `bundle`.
    pub fn container<'a>(&'a self, bundle: &Bundle) -> Container<'a> {
        self.container_with_id(bundle, &bundle.name)
    }

    /// A guard for container `id` (any string) using `bundle`.
    pub fn container_with_id<'a>(&'a self, bundle: &Bundle, id: &str) -> Container<'a> {
        Container {
            rt: self,
            id: id.to_string(),
            bundle: bundle.dir.clone(),
            cgroup: bundle.cgroup.clone(),
            last_pid: Mutex::new(None),
        }
    }
}

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

/// A busybox bundle in a temp dir, removed on drop.
pub struct Bundle {
    /// Unique name; the default container id and cgroup leaf.
    pub name: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    /// `linux.cgroupsPath`, `/skiff-test-<name>`.
    pub cgroup: String,
    pub config: Value,
    tmp: TempDir,
}

impl Bundle {
    /// `<runtime> spec --bundle DIR`, then a busybox rootfs, then config edits:
    /// terminal=false, args=["true"], root.readonly=false, cgroupsPath.
    pub fn new(tag: &str) -> Bundle {
        require_root();
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "/bin/busybox is missing: install busybox-static"
        );
        let name = unique(tag);
        let tmp = TempDir::new(&format!("bundle-{tag}"));
        let dir = tmp.path.join("bundle");
        fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755);

        let bin = runtime_bin();
        let mut child = Command::new(&bin)
            .args(["spec", "--bundle"])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("running {} spec: {e}", bin.display()));
        let status = wait_deadline(&mut child, TIMEOUT).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{} spec timed out", bin.display())
        });
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert!(
            status.success(),
            "{} spec --bundle {} failed: {err}",
            bin.display(),
            dir.display()
        );
        let text = fs::read_to_string(dir.join("config.json"))
            .unwrap_or_else(|e| panic!("spec did not write config.json: {e}"));
        let config: Value = serde_json::from_str(&text).expect("spec wrote invalid JSON");

        let rootfs = dir.join("rootfs");
        build_rootfs(&rootfs);

        let cgroup = format!("/skiff-test-{name}");
        let mut b = Bundle {
            name,
            dir,
            rootfs,
            cgroup,
            config,
            tmp,
        };
        b.set("/process/terminal", json!(false));
        b.set("/process/args", json!(["true"]));
        b.set("/root/readonly", json!(false));
        let cg = b.cgroup.clone();
        b.set("/linux/cgroupsPath", json!(cg));
        b
    }

    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// A scratch dir next to the bundle (removed with it).
    pub fn scratch(&self) -> &Path {
        &self.tmp.path
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }

    /// `process.args = ["sh", "-c", script]`.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    /// Sets the value at a JSON pointer, creating intermediate objects, and
    /// rewrites config.json.
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        set_pointer(&mut self.config, pointer, value);
        self.write();
        self
    }

    /// Removes the key at a JSON pointer (if present) and rewrites config.json.
    pub fn remove(&mut self, pointer: &str) -> &mut Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        if let Some(Value::Object(m)) = self.config.pointer_mut(parent) {
            m.remove(key);
        }
        self.write();
        self
    }

    /// Arbitrary edit of the config, then rewrite.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write();
        self
    }

    /// Appends to `mounts`.
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.edit(|c| c["mounts"].as_array_mut().expect("mounts").push(m))
    }

    /// Removes namespace `ty` from `linux.namespaces`.
    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        self.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces")
                .retain(|n| n["type"] != ty)
        })
    }

    /// Adds namespace `ty` (without a path) if not present.
    pub fn add_namespace(&mut self, ty: &str) -> &mut Self {
        self.edit(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
            if !ns.iter().any(|n| n["type"] == ty) {
                ns.push(json!({ "type": ty }));
            }
        })
    }

    /// Joins namespace `ty` by `path` (replacing any entry of that type).
    pub fn join_namespace(&mut self, ty: &str, path: &str) -> &mut Self {
        self.edit(|c| {
            let ns = c["linux"]["namespaces"].as_array_mut().expect("namespaces");
            ns.retain(|n| n["type"] != ty);
            ns.push(json!({ "type": ty, "path": path }));
        })
    }

    /// User namespace mapping container 0..65536 to host 100000..165536.
    pub fn userns(&mut self) -> &mut Self {
        self.add_namespace("user");
        self.set(
            "/linux/uidMappings",
            json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]),
        );
        self.set(
            "/linux/gidMappings",
            json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]),
        )
    }

    pub fn write(&self) {
        fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // The cgroup this bundle's containers used (unique to this bundle).
        kill_cgroup_leftovers(&self.cgroup);
    }
}

fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    assert!(pointer.starts_with('/'), "JSON pointer must start with /");
    let mut cur = root;
    let parts: Vec<&str> = pointer[1..].split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if let Value::Array(a) = cur {
            let idx: usize = part.parse().expect("array index");
            if last {
                a[idx] = value;
                return;
            }
            cur = &mut a[idx];
            continue;
        }
        if !cur.is_object() {
            *cur = json!({});
        }
        let m = cur.as_object_mut().unwrap();
        if last {
            m.insert(part.to_string(), value);
            return;
        }
        cur = m.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

/// rootfs with /bin/busybox, applet symlinks and the usual mount points.
pub fn build_rootfs(rootfs: &Path) {
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/bin/busybox", bin.join("busybox")).expect("copying /bin/busybox");
    set_mode(&bin.join("busybox"), 0o755);
    for a in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
    }
    for d in ["proc", "dev", "sys", "tmp", "etc", "mnt", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    set_mode(&rootfs.join("tmp"), 0o1777);
    // usr/bin too, so PATH lookups through other directories work
    fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    fs::write(rootfs.join("etc/hostname-file"), "from-rootfs\n").unwrap();
}

// ---------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------

/// A container id bound to a runtime and bundle; `delete --force` on drop.
pub struct Container<'a> {
    pub rt: &'a Runtime,
    pub id: String,
    pub bundle: PathBuf,
    pub cgroup: String,
    last_pid: Mutex<Option<i32>>,
}

impl<'a> Container<'a> {
    fn bundle_str(&self) -> String {
        self.bundle.to_string_lossy().into_owned()
    }

    /// `create --bundle B [extra] ID`.
    #[track_caller]
    pub fn create(&self, extra: &[&str]) -> Out {
        let b = self.bundle_str();
        let mut args = vec!["create", "--bundle", &b];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.rt.exec(&args)
    }

    /// `run --bundle B [extra] ID` in the foreground (20 s deadline).
    #[track_caller]
    pub fn run(&self, extra: &[&str]) -> Out {
        self.spawn_run(extra).wait(TIMEOUT)
    }

    /// `run --bundle B [extra] ID` in the background.
    pub fn spawn_run(&self, extra: &[&str]) -> Running {
        let b = self.bundle_str();
        let mut args = vec!["run", "--bundle", &b];
        args.extend_from_slice(extra);
        args.push(&self.id);
        self.rt.spawn(&args)
    }

    #[track_caller]
    pub fn start(&self) -> Out {
        self.rt.exec(&["start", &self.id])
    }

    /// `kill ID [SIG]`.
    #[track_caller]
    pub fn kill(&self, sig: Option<&str>) -> Out {
        match sig {
            Some(s) => self.rt.exec(&["kill", &self.id, s]),
            None => self.rt.exec(&["kill", &self.id]),
        }
    }

    #[track_caller]
    pub fn delete(&self, force: bool) -> Out {
        if force {
            self.rt.exec(&["delete", "--force", &self.id])
        } else {
            self.rt.exec(&["delete", &self.id])
        }
    }

    /// `state ID`, panicking on failure; remembers the pid.
    #[track_caller]
    pub fn state(&self) -> Value {
        let out = self.rt.exec(&["state", &self.id]);
        out.assert_ok();
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state: not JSON ({e}): {:?}", out.stdout));
        if let Some(p) = v["pid"].as_i64() {
            if p > 0 {
                *self.last_pid.lock().unwrap() = Some(p as i32);
            }
        }
        v
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `state` until status == `want` (panics after 10 s).
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.status();
            if s == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {} did not reach status {want:?} (still {s:?})",
                self.id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last pid seen in `state` output (if any).
    pub fn last_pid(&self) -> Option<i32> {
        *self.last_pid.lock().unwrap()
    }

    /// Asserts the container left nothing behind: no state dir, not in
    /// `list`, no cgroup dirs, no mounts of the bundle, init process gone.
    #[track_caller]
    pub fn assert_nothing_left(&self) {
        assert_nothing_left(
            self.rt,
            &self.id,
            &self.cgroup,
            &self.bundle,
            self.last_pid(),
        );
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        // Never panic here: this also runs while unwinding from a failure.
        let mut r = self
            .rt
            .spawn_with(true, &["delete", "--force", &self.id], Stdio3::Capture);
        let mut child = r.child.take().unwrap();
        if wait_deadline(&mut child, TIMEOUT).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.last_pid() {
            let _ = wait_pid_gone(pid, Duration::from_secs(2));
        }
        kill_cgroup_leftovers(&self.cgroup);
    }
}

/// Safety net after a failed test: SIGKILLs whatever is still in the test's
/// own cgroup (a unique `/skiff-test-<name>` path) and removes its leaf dirs.
pub fn kill_cgroup_leftovers(cgroup: &str) {
    for _ in 0..50 {
        let mut any = false;
        for c in ALL_HIERARCHIES {
            let procs = format!("/sys/fs/cgroup/{c}{cgroup}/cgroup.procs");
            for p in fs::read_to_string(procs)
                .unwrap_or_default()
                .split_whitespace()
            {
                if let Ok(pid) = p.parse::<i32>() {
                    any = true;
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in ALL_HIERARCHIES {
        let _ = fs::remove_dir(format!("/sys/fs/cgroup/{c}{cgroup}"));
    }
}

/// Waits until `pid` no longer exists (or is a zombie). Returns whether it did.
pub fn wait_pid_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pid_gone(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process is gone if /proc/<pid> is absent or it is a zombie/dead.
pub fn pid_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            // state is the field after the ")" closing comm
            let st = s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            matches!(st, Some('Z') | Some('X') | None)
        }
    }
}

/// See `Container::assert_nothing_left`.
#[track_caller]
pub fn assert_nothing_left(rt: &Runtime, id: &str, cgroup: &str, bundle: &Path, pid: Option<i32>) {
    // A state directory can only be checked for ids that are path-safe.
    if !id.is_empty() && !id.contains('/') && id != "." && id != ".." {
        let dir = rt.root.join(id);
        assert!(
            !dir.exists(),
            "state dir {} still exists after the container is gone",
            dir.display()
        );
    }
    let ids = rt.list_ids();
    assert!(
        !ids.iter().any(|i| i == id),
        "`list` still shows {id:?}: {ids:?}"
    );
    for c in CGROUP_CONTROLLERS {
        let p = format!("/sys/fs/cgroup/{c}{cgroup}");
        assert!(
            !Path::new(&p).exists(),
            "cgroup {p} was left behind for {id:?}"
        );
    }
    let b = bundle.to_string_lossy();
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mi.lines() {
        assert!(
            !line.contains(&*b),
            "mount of the bundle left on the host: {line}"
        );
    }
    if let Some(pid) = pid {
        assert!(
            wait_pid_gone(pid, Duration::from_secs(5)),
            "container process {pid} of {id:?} is still alive"
        );
    }
}

// ---------------------------------------------------------------------------
// Small helpers for parsing what containers print
// ---------------------------------------------------------------------------

/// The value of `Key:` in a /proc/<pid>/status dump.
pub fn status_field<'s>(status: &'s str, key: &str) -> Option<&'s str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// Parsed /proc/self/mountinfo line: (mount point, fstype, mount options,
/// super options, root).
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub root: String,
    pub mount_point: String,
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: Vec<String>,
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split_whitespace().collect();
            let g: Vec<&str> = post.split_whitespace().collect();
            if f.len() < 6 || g.len() < 3 {
                return None;
            }
            Some(MountInfo {
                root: f[3].to_string(),
                mount_point: f[4].to_string(),
                options: f[5].split(',').map(String::from).collect(),
                fstype: g[0].to_string(),
                source: g[1].to_string(),
                super_options: g[2].split(',').map(String::from).collect(),
            })
        })
        .collect()
}

/// Host /dev/null must stay a root-owned character device 1:3, mode 0666.
#[track_caller]
pub fn assert_host_dev_null_intact() {
    let m = fs::metadata("/dev/null").unwrap();
    assert!(
        m.file_type().is_char_device(),
        "/dev/null is not a char device"
    );
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "host /dev/null is no longer owned by root:root"
    );
    assert_eq!(m.mode() & 0o7777, 0o666, "host /dev/null mode changed");
}

/// Runs the bundle to completion, asserts success and that nothing is left, and returns
/// what the container printed.
#[track_caller]
pub fn run_ok(rt: &Runtime, b: &Bundle) -> String {
    let c = rt.container(b);
    let out = c.run(&[]);
    out.assert_ok();
    c.assert_nothing_left();
    out.stdout
}

// ---------------------------------------------------------------------------
// Cgroup ownership and crash safety
// ---------------------------------------------------------------------------

/// Every hierarchy under /sys/fs/cgroup a container's directory could be left in,
/// cgroup2's `unified` included.
pub const ALL_HIERARCHIES: &[&str] = &[
    "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
    "unified",
];

/// The directories named `cgroup` (a `/skiff-test-...` path) that exist in any hierarchy.
pub fn cgroup_dirs_left(cgroup: &str) -> Vec<String> {
    ALL_HIERARCHIES
        .iter()
        .map(|h| format!("/sys/fs/cgroup/{h}{cgroup}"))
        .filter(|p| Path::new(p).exists())
        .collect()
}

/// PIDs of live (non-zombie) processes whose command line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) && !pid_gone(pid) {
            found.push(pid);
        }
    }
    found
}

/// A `sleep` the test itself started, killed and reaped on drop.
pub struct Sleeper {
    pub child: Child,
}

impl Sleeper {
    pub fn start() -> Sleeper {
        let child = Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sleep");
        Sleeper { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A cgroup the test made itself in one hierarchy (`/sys/fs/cgroup/<hierarchy><path>`),
/// thawed, emptied of the test's own processes and removed on drop.
pub struct TestCgroup {
    pub dir: PathBuf,
}

impl TestCgroup {
    pub fn new(hierarchy: &str, path: &str) -> TestCgroup {
        assert!(
            path.starts_with("/skiff-test-"),
            "test cgroups live under /skiff-test-"
        );
        let dir = PathBuf::from(format!("/sys/fs/cgroup/{hierarchy}{path}"));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TestCgroup { dir }
    }

    pub fn add(&self, pid: i32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", self.dir.display()));
    }

    pub fn write(&self, file: &str, value: &str) {
        fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("writing {value} to {}/{file}: {e}", self.dir.display()));
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
        let _ = fs::write(self.dir.join("cgroup.freeze"), "0");
        remove_cgroup_tree(&self.dir);
    }
}

/// SIGKILLs what is in a test-made cgroup tree and removes it, children first.
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    for _ in 0..100 {
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes a test's `/skiff-test-...` cgroup tree from every hierarchy on drop (after the
/// processes in it are killed), whoever made its levels.
pub struct CgroupCleanup(pub String);

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        if !self.0.starts_with("/skiff-test-") {
            return;
        }
        for hierarchy in ALL_HIERARCHIES {
            let dir = PathBuf::from(format!("/sys/fs/cgroup/{hierarchy}{}", self.0));
            if dir.exists() {
                remove_cgroup_tree(&dir);
            }
        }
    }
}

/// A tmpfs the test mounts on the host (e.g. as a submount of a bind source), lazily
/// unmounted on drop.
pub struct HostTmpfs {
    pub path: PathBuf,
}

impl HostTmpfs {
    pub fn mount(path: &Path) -> HostTmpfs {
        fs::create_dir_all(path).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=8m"),
        )
        .unwrap_or_else(|e| panic!("mounting a tmpfs on {}: {e}", path.display()));
        HostTmpfs {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH);
    }
}

// ---------------------------------------------------------------------------
// Terminals: console-socket receivers and pty readers
// ---------------------------------------------------------------------------

/// Accepts one connection on `listener` within `timeout`.
pub fn accept_console_connection(
    listener: &std::os::unix::net::UnixListener,
    timeout: std::time::Duration,
) -> std::os::unix::net::UnixStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the runtime never connected to the console socket"
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Receives exactly one fd via SCM_RIGHTS.
pub fn receive_one_fd(stream: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = nix::sys::socket::recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(stream),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg on the console socket");
    let mut fds = Vec::new();
    for c in msg.cmsgs().expect("cmsgs") {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    assert_eq!(fds.len(), 1, "expected exactly one fd, got {fds:?}");
    // SAFETY (test): the kernel just installed this descriptor for us.
    unsafe { std::os::fd::FromRawFd::from_raw_fd(fds[0]) }
}

/// Accepts the runtime's connection on a console socket and receives the pty master it
/// sends.
pub fn receive_console(listener: &std::os::unix::net::UnixListener) -> std::os::fd::OwnedFd {
    let stream = accept_console_connection(listener, TIMEOUT);
    receive_one_fd(&stream)
}

/// Reads from `master` until `needle` has been seen, or panics after the deadline.
pub fn read_until(master: &std::os::fd::OwnedFd, needle: &str, seen: &mut String) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut buffer = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(
            std::time::Instant::now() < deadline,
            "no {needle:?} in {seen:?}"
        );
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(master),
            PollFlags::POLLIN,
        )];
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) == 0 {
            continue;
        }
        match nix::unistd::read(master, &mut buffer) {
            Ok(0) | Err(_) => panic!("the terminal closed before {needle:?}: {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
        }
    }
}
