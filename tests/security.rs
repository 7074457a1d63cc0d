//! Defences against the published runc escapes that apply to skiff's design.

mod common;

use common::*;

/// CVE-2024-21626 class: a descriptor skiff (or its caller) holds must not reach the
/// container's program, and its working directory must be inside the container.
#[test]
fn no_descriptor_of_skiff_or_its_caller_reaches_the_container() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let rt = Runtime::new("fdleak");
    let mut b = Bundle::new("fdleak");
    // Every descriptor the shell has, with what it points to, and the working directory.
    b.sh("for fd in /proc/$$/fd/*; do echo \"${fd##*/} $(readlink $fd)\"; done; echo cwd $(readlink /proc/$$/cwd)");
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    // The caller leaks a descriptor to a host directory into skiff (no CLOEXEC, fd 7),
    // as a careless engine might.
    let host_dir = std::fs::File::open("/etc").unwrap();
    let raw = host_dir.as_raw_fd();
    let out = rt
        .spawn_cmd(
            true,
            &["run", "--bundle", &bundle, &c.id],
            Stdio3::Capture,
            move |cmd| unsafe {
                cmd.pre_exec(move || {
                    if libc::dup2(raw, 7) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            },
        )
        .wait(TIMEOUT);
    drop(host_dir);
    out.assert_ok();
    let fds: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("cwd "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    // 0-2, plus the directory the shell's glob itself had open while listing (if any).
    assert!(
        fds.iter().all(|fd| ["0", "1", "2", "3"].contains(fd)),
        "unexpected descriptors in the container:\n{}",
        out.stdout
    );
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("7 ") || l.ends_with(" /etc")),
        "the caller's descriptor leaked in:\n{}",
        out.stdout
    );
    assert!(out.stdout.contains("cwd /\n"), "{}", out.stdout);
    c.assert_nothing_left();
}

/// CVE-2019-5736 / CVE-2016-9962 class: until it execs, the init is a copy of skiff. It
/// must be non-dumpable, so that a process in the container, even root, cannot open its
/// /proc/<pid>/exe (and through it skiff's binary) or ptrace it without CAP_SYS_PTRACE.
#[test]
fn init_waiting_for_start_is_not_dumpable() {
    let rt = Runtime::new("dumpable");
    let mut b = Bundle::new("dumpable");
    b.args(&["true"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().expect("pid") as u32;
    // Root without CAP_SYS_PTRACE, as a container's root is.
    let without_ptrace = |args: &[&str]| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--bounding-set=-sys_ptrace", "--"]).args(args);
        cmd
    };
    let open_exe = |pid: u32| {
        without_ptrace(&["readlink", &format!("/proc/{pid}/exe")])
            .output()
            .expect("setpriv (util-linux) must be installed")
    };
    // The check itself can tell: a dumpable root process with the same capabilities is
    // readable (the kernel also refuses a caller whose capabilities are not a superset of
    // the target's; the init's are a small subset of them).
    let mut control = without_ptrace(&["sleep", "5"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let seen = open_exe(control.id());
    let _ = control.kill();
    let _ = control.wait();
    assert!(seen.status.success(), "control: {seen:?}");
    let seen = open_exe(pid);
    assert!(
        !seen.status.success(),
        "the waiting init's exe was readable: {}",
        String::from_utf8_lossy(&seen.stdout)
    );
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

/// A capability the host withholds from skiff (this machine's root has no
/// CAP_SYS_RESOURCE; the test drops it from skiff's bounding set so any host shows it)
/// cannot be granted: the error names it, and nothing is left.
#[test]
fn a_capability_skiff_lacks_is_named_when_it_cannot_be_granted() {
    use std::os::unix::process::CommandExt;
    const CAP_SYS_RESOURCE: libc::c_ulong = 24;
    let rt = Runtime::new("skconf-caps-withheld");
    let mut b = Bundle::new("skconf-caps-withheld");
    b.edit(|c| {
        let caps = &mut c["process"]["capabilities"];
        for set in ["bounding", "permitted", "inheritable"] {
            if !caps[set].is_array() {
                caps[set] = serde_json::json!([]);
            }
            caps[set]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!("CAP_SYS_RESOURCE"));
        }
    });
    b.args(&["true"]);
    let c = rt.container(&b);
    let bundle = b.dir_str().to_string();
    let out = rt
        .spawn_cmd(
            true,
            &["run", "--bundle", &bundle, &c.id],
            Stdio3::Capture,
            |cmd| unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            },
        )
        .wait(TIMEOUT);
    out.assert_error(
        "process.capabilities.inheritable: CAP_SYS_RESOURCE is not in the bounding set skiff runs with",
    );
    c.assert_nothing_left();
}
