//! The container's process at its start: its working directory, the descriptors it gets,
//! and what it can reach of skiff's own binary.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

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
