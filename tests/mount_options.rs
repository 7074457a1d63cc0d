//! Mount options: every option of a config mount takes effect or is refused by name.

mod common;

use common::*;
use serde_json::json;
use std::fs;

#[test]
fn rro_makes_submounts_read_only_too() {
    let rt = Runtime::new("rro");
    let mut b = Bundle::new("rro");
    let source = b.scratch().join("source");
    fs::create_dir_all(&source).unwrap();
    let sub = HostTmpfs::mount(&source.join("sub"));
    b.add_mount(json!({
        "destination": "/mnt/data",
        "type": "bind",
        "source": source,
        "options": ["rbind", "rro"],
    }));
    b.sh("for f in /mnt/data/top /mnt/data/sub/inner; do \
          if touch $f 2>/dev/null; then echo $f writable; else echo $f read-only; fi; done");
    let out = run_ok(&rt, &b);
    assert_eq!(
        out, "/mnt/data/top read-only\n/mnt/data/sub/inner read-only\n",
        "rro must reach the submount"
    );
    assert!(!sub.path.join("inner").exists());
}

#[test]
fn rrw_and_rnoexec_apply_below_the_top_mount() {
    let rt = Runtime::new("rnoexec");
    let mut b = Bundle::new("rnoexec");
    let source = b.scratch().join("source");
    fs::create_dir_all(&source).unwrap();
    let _sub = HostTmpfs::mount(&source.join("sub"));
    fs::copy("/bin/busybox", source.join("sub/busybox")).unwrap();
    b.add_mount(json!({
        "destination": "/mnt/data",
        "type": "bind",
        "source": source,
        "options": ["rbind", "rnoexec"],
    }));
    b.sh("if /mnt/data/sub/busybox true 2>/dev/null; then echo exec; else echo noexec; fi");
    assert_eq!(run_ok(&rt, &b), "noexec\n");
}

#[test]
fn nosymfollow_stops_symlinks_on_a_bind() {
    let rt = Runtime::new("nosymfollow");
    let mut b = Bundle::new("nosymfollow");
    let source = b.scratch().join("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("file"), "content\n").unwrap();
    std::os::unix::fs::symlink("file", source.join("link")).unwrap();
    b.add_mount(json!({
        "destination": "/mnt/data",
        "type": "bind",
        "source": source,
        "options": ["bind", "nosymfollow"],
    }));
    b.sh("cat /mnt/data/file; if cat /mnt/data/link 2>/dev/null; then echo followed; else echo refused; fi");
    assert_eq!(run_ok(&rt, &b), "content\nrefused\n");
}

#[test]
fn unknown_bind_options_are_refused_by_name() {
    let rt = Runtime::new("bindopt");
    let mut b = Bundle::new("bindopt");
    let source = b.scratch().join("source");
    fs::create_dir_all(&source).unwrap();
    for (option, needle) in [
        ("bogus", "\"bogus\""),
        ("size=1m", "\"size=1m\""),
        ("idmap", "\"idmap\""),
        ("tmpcopyup", "\"tmpcopyup\""),
    ] {
        b.edit(|c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/mnt/data")
        });
        b.add_mount(json!({
            "destination": "/mnt/data",
            "type": "bind",
            "source": source,
            "options": ["rbind", option],
        }));
        let c = rt.container(&b);
        let out = c.run(&[]);
        out.assert_error(needle);
        assert!(out.stderr.contains("/mnt/data"), "{}", out.stderr);
        c.assert_nothing_left();
    }
}

#[test]
fn a_read_only_dev_is_filled_then_made_read_only() {
    let rt = Runtime::new("rodev");
    let mut b = Bundle::new("rodev");
    b.edit(|c| {
        let dev = c["mounts"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|m| m["destination"] == "/dev")
            .expect("the template mounts /dev");
        dev["options"].as_array_mut().unwrap().push(json!("ro"));
    });
    b.sh(
        "test -c /dev/null && test -c /dev/pts/ptmx && test -L /dev/ptmx && echo filled; \
          if touch /dev/new 2>/dev/null; then echo writable; else echo read-only; fi; \
          echo ok > /dev/null && echo null-writable",
    );
    assert_eq!(run_ok(&rt, &b), "filled\nread-only\nnull-writable\n");
}

#[test]
fn proc_or_sys_as_a_symlink_in_the_image_is_refused() {
    let rt = Runtime::new("procsymlink");
    for dir in ["proc", "sys"] {
        let b = Bundle::new("procsymlink");
        fs::remove_dir(b.rootfs.join(dir)).unwrap();
        std::os::unix::fs::symlink("tmp", b.rootfs.join(dir)).unwrap();
        let c = rt.container(&b);
        c.run(&[])
            .assert_error(&format!("/{dir} is not a directory"));
        c.assert_nothing_left();
    }
}
