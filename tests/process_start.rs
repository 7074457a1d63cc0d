//! The container's process at its start: its working directory, the descriptors it gets,
//! and what it can reach of skiff's own binary.

mod common;

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[test]
fn a_missing_cwd_is_created_before_the_root_becomes_read_only() {
    let rt = Runtime::new("cwd-readonly");
    let mut b = Bundle::new("cwd-readonly");
    // runc's own template makes the root read-only.
    b.set("/root/readonly", json!(true));
    b.set("/process/cwd", json!("/work/not/in/image"));
    b.args(&["pwd"]);
    let out = run_ok(&rt, &b);
    assert_eq!(out.trim(), "/work/not/in/image");
    assert!(b.rootfs.join("work/not/in/image").is_dir());
}

#[test]
fn a_cwd_through_a_passed_directory_descriptor_is_refused() {
    let rt = Runtime::new("cwd-fd");
    let host_dir = TempDir::new("cwd-fd-host");
    let mut b = Bundle::new("cwd-fd");
    b.set("/process/cwd", json!("/proc/self/fd/3"));
    // Run in the working directory, a relative path lands in it.
    b.args(&["touch", "escaped"]);
    let c = rt.container(&b);
    let out = rt.exec_with_fd3(
        &host_dir.path,
        &["run", "--preserve-fds", "1", "--bundle", b.dir_str(), &c.id],
    );
    out.assert_error("process.cwd");
    assert!(
        !host_dir.path.join("escaped").exists(),
        "the container ran with its working directory on the host"
    );
    c.assert_nothing_left();
}

#[test]
fn preserve_fds_beyond_the_callers_passes_none_of_skiffs() {
    let rt = Runtime::new("preserve-fds");
    let mut b = Bundle::new("preserve-fds");
    b.args(&["ls", "/proc/self/fd"]);
    let c = rt.container(&b);
    let out = rt.exec_with_fd3(
        Path::new("/dev/null"),
        &["run", "--preserve-fds", "8", "--bundle", b.dir_str(), &c.id],
    );
    out.assert_ok();
    let fds: BTreeSet<i32> = out
        .stdout
        .split_whitespace()
        .map(|fd| fd.parse().expect("a descriptor number"))
        .collect();
    let expected: BTreeSet<i32> = [0, 1, 2, 3].into();
    assert!(expected.is_subset(&fds), "0-3 must be open: {fds:?}");
    // Besides those, only the directory `ls` itself opened to list /proc/self/fd.
    assert_eq!(
        fds.difference(&expected).count(),
        1,
        "descriptors the caller did not pass reached the container: {fds:?}"
    );
    c.assert_nothing_left();
}

/// A runtime running a private copy of the skiff binary: nothing else executes that file,
/// and a write that got through would only damage the copy.
fn runtime_with_private_binary(tag: &str) -> (Runtime, PathBuf, Vec<u8>) {
    let mut rt = Runtime::new(tag);
    let copy = rt.scratch().join("skiff-copy");
    std::fs::copy(&rt.bin, &copy).expect("copying the runtime binary");
    set_mode(&copy, 0o755);
    rt.bin = copy.clone();
    let bytes = std::fs::read(&copy).unwrap();
    (rt, copy, bytes)
}

#[test]
fn a_container_cannot_write_skiffs_binary_through_proc_pid_exe() {
    let (rt, copy, original) = runtime_with_private_binary("exe-ppid");
    let mut b = Bundle::new("exe-ppid");
    // Sees the `skiff run` process (no pid namespace of its own) and may look at its exe.
    b.remove_namespace("pid");
    b.edit(|c| {
        for set in ["bounding", "effective", "permitted"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .expect("capability set")
                .push(json!("CAP_SYS_PTRACE"));
        }
    });
    // Truncating opens are checked against the mount before the busy executable, so they
    // tell a read-only mount (EROFS) from a binary that is merely running (ETXTBSY).
    b.sh("tr '\\0' ' ' < /proc/$PPID/cmdline; echo; \
         ( : > /proc/$PPID/exe ) 2>&1; \
         exec 5< /proc/$PPID/exe && ( : > /proc/self/fd/5 ) 2>&1; true");
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.first().is_some_and(|l| l.contains(" run ")),
        "the parent must be the `skiff run` process: {out:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("Read-only file system")).count(),
        2,
        "both the exe link and a descriptor reopened through /proc/self/fd must be read-only: {out:?}"
    );
    assert!(
        std::fs::read(&copy).unwrap() == original,
        "skiff's binary changed"
    );
}

#[test]
fn a_container_running_proc_self_exe_runs_skiff_read_only() {
    let (rt, copy, original) = runtime_with_private_binary("exe-self");
    let mut b = Bundle::new("exe-self");
    // The container's program is whatever its init runs from: skiff's binary. It blocks
    // on opening its log (a fifo nobody reads), so it can be looked at while it runs.
    nix::unistd::mkfifo(
        &b.rootfs.join("log-fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    b.args(&["/proc/self/exe", "--log", "/log-fifo", "state", "nothing"]);
    let c = rt.container(&b);
    let running = c.spawn_run(&[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(pid) = rt.try_state(&c.id).and_then(|s| s["pid"].as_i64()) {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmdline.starts_with(b"/proc/self/exe\0--log") {
                break pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the container never ran /proc/self/exe"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // CVE-2019-5736: hold the binary by an O_PATH descriptor of the exe link, wait until
    // nothing executes it any more, then reopen the descriptor for writing.
    let exe = format!("/proc/{pid}/exe");
    let handle = nix::fcntl::open(
        exe.as_str(),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("opening {exe} O_PATH: {e}"));
    c.kill(Some("KILL")).assert_ok();
    let _ = running.wait(TIMEOUT);
    drop(c);
    let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
    let write = std::fs::OpenOptions::new().append(true).open(&reopened);
    let error = write.expect_err("skiff's binary must not be writable once it stopped running");
    assert_eq!(
        error.raw_os_error(),
        Some(nix::errno::Errno::EROFS as i32),
        "reopening {exe} for writing: expected EROFS (a read-only mount), got {error}"
    );
    assert!(
        std::fs::read(&copy).unwrap() == original,
        "skiff's binary changed"
    );
}

/// The binary's entry point moves `create` onto the read-only mount by remapping itself,
/// without an exec (src/sys/early_exe.rs): the waiting init (a clone of that process)
/// runs from the mount in every mapping of the binary, its command line and environment
/// are the caller's as they were (the mm bounds PR_SET_MM_MAP rewrites are unchanged), and
/// the exec fallback's marker is absent, which shows the exec was not needed.
#[test]
fn create_moves_onto_the_read_only_binary_without_an_exec() {
    use std::os::unix::fs::MetadataExt;
    let (rt, copy, _) = runtime_with_private_binary("exe-remap");
    let mut b = Bundle::new("exe-remap");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().expect("pid") as i32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    assert_eq!(
        args.first().copied(),
        Some(copy.as_os_str().as_encoded_bytes())
    );
    assert!(
        args.iter().any(|a| *a == b"create") && args.last() == Some(&c.id.as_bytes()),
        "the init's command line must be the create's: {:?}",
        String::from_utf8_lossy(&cmdline)
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let env: Vec<&[u8]> = environ.split(|&b| b == 0).collect();
    assert!(
        env.iter().any(|e| e.starts_with(b"PATH=")),
        "the init's environment must be the caller's: {:?}",
        String::from_utf8_lossy(&environ)
    );
    assert!(
        !env.iter().any(|e| e.starts_with(b"_SKIFF_EXE_READ_ONLY")),
        "create re-executed itself instead of remapping in place"
    );
    let exe = std::fs::metadata(format!("/proc/{pid}/exe")).unwrap();
    let on_copy = std::fs::metadata(&copy).unwrap();
    assert_eq!((exe.dev(), exe.ino()), (on_copy.dev(), on_copy.ino()));
    let stat = nix::sys::statvfs::statvfs(format!("/proc/{pid}/exe").as_str()).unwrap();
    assert!(
        stat.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
        "the init's exe must be on a read-only mount"
    );
    // Every mapping of the binary's inode is of the detached mount (named "/"), none of
    // the writable path it was started from.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let inode = on_copy.ino().to_string();
    let of_binary: Vec<&str> = maps
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some(inode.as_str()))
        .collect();
    assert!(of_binary.len() >= 3, "{maps}");
    for line in &of_binary {
        assert!(
            !line.contains(copy.to_str().unwrap()),
            "a mapping of the writable binary is left: {line}"
        );
    }
    c.delete(true).assert_ok();
}

/// A failure after `run` has started the init (here execve itself refusing a file that is
/// executable but no program) is reported on stderr and in the exit status, and the
/// container is removed.
#[test]
fn run_reports_a_failure_after_the_start() {
    let rt = Runtime::new("late-fail");
    let mut b = Bundle::new("late-fail");
    let path = b.rootfs.join("bin/not-a-program");
    std::fs::write(&path, b"\x01\x02 neither ELF nor a script\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    b.args(&["/bin/not-a-program"]);
    let c = rt.container(&b);
    let out = c.run(&[]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(
        out.stderr.contains("exec /bin/not-a-program") && out.stderr.contains("Exec format error"),
        "{}",
        out.stderr
    );
    c.assert_nothing_left();
    // Detached too: the error comes back before run -d returns.
    let c = rt.container(&b);
    let out = c.run(&["--detach"]);
    assert_eq!(out.code(), 1, "{out:?}");
    assert!(out.stderr.contains("Exec format error"), "{}", out.stderr);
    c.assert_nothing_left();
}
