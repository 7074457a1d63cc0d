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

/// Whether a process of the container can make a user namespace of its own (so it has
/// CAP_SYS_ADMIN there) and mount a fresh, unmasked procfs in it. The kernel allows that
/// only while a fully visible procfs is in the mount namespace: the container's own is
/// not (its masks cover files), but a host /proc left under a `--no-pivot` root would be.
fn fresh_proc_attempt(no_pivot: bool) -> String {
    let rt = Runtime::new("freshproc");
    let mut b = Bundle::new("freshproc");
    std::os::unix::fs::symlink("busybox", b.rootfs.join("bin/unshare")).unwrap();
    // Mapping root in a new user namespace needs CAP_SETFCAP (engines such as Docker
    // grant it by default).
    let caps = json!([
        "CAP_SETFCAP",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
        "CAP_NET_BIND_SERVICE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), caps.clone());
    }
    b.sh("unshare -U -r -m -p -f sh -c \
          'if mount -t proc proc /mnt 2>/dev/null; then echo mounted; else echo refused; fi'");
    let c = rt.container(&b);
    let out = if no_pivot {
        c.run(&["--no-pivot"])
    } else {
        c.run(&[])
    };
    out.assert_ok();
    c.assert_nothing_left();
    out.stdout
}

#[test]
fn no_pivot_leaves_no_unmasked_proc_to_mount_again() {
    assert_eq!(fresh_proc_attempt(false), "refused\n", "pivot_root");
    assert_eq!(fresh_proc_attempt(true), "refused\n", "--no-pivot");
}

#[test]
fn masked_and_read_only_paths_hold_with_no_pivot() {
    let rt = Runtime::new("nopivotmask");
    let mut b = Bundle::new("nopivotmask");
    b.sh("stat -c 'timer_list-%t:%T' /proc/timer_list; \
          if echo x >/proc/sys/kernel/domainname 2>/dev/null; then echo sys-rw; else echo sys-ro; fi");
    for userns in [false, true] {
        if userns {
            // There the host's mounts are locked: they are covered instead of detached.
            b.userns();
        }
        let c = rt.container(&b);
        let out = c.run(&["--no-pivot"]);
        out.assert_ok();
        assert_eq!(out.stdout, "timer_list-1:3\nsys-ro\n", "userns: {userns}");
        c.assert_nothing_left();
    }
}

#[test]
fn bind_sources_only_host_root_can_reach_work_in_a_user_namespace() {
    let rt = Runtime::new("privsource");
    let mut b = Bundle::new("privsource");
    b.userns();
    let private = b.scratch().join("private");
    let shared = private.join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("file"), "reached\n").unwrap();
    fs::write(private.join("single-file"), "file bind\n").unwrap();
    set_mode(&private, 0o700);
    // The rootfs belongs to host root, so the mount points must exist in it already.
    fs::create_dir_all(b.rootfs.join("mnt/shared")).unwrap();
    fs::write(b.rootfs.join("mnt/single-file"), "").unwrap();
    b.add_mount(json!({
        "destination": "/mnt/shared",
        "type": "bind",
        "source": shared,
        "options": ["rbind", "ro"],
    }));
    b.add_mount(json!({
        "destination": "/mnt/single-file",
        "type": "bind",
        "source": private.join("single-file"),
        "options": ["bind"],
    }));
    b.sh("cat /mnt/shared/file /mnt/single-file; \
          if touch /mnt/shared/new 2>/dev/null; then echo writable; else echo read-only; fi");
    assert_eq!(run_ok(&rt, &b), "reached\nfile bind\nread-only\n");
}

#[test]
fn data_options_on_the_cgroup_mount_are_refused() {
    let rt = Runtime::new("cgroupopt");
    let mut b = Bundle::new("cgroupopt");
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "cgroup" {
                m["options"].as_array_mut().unwrap().push(json!("bogus=1"));
            }
        }
    });
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_error("\"bogus=1\"");
    assert!(out.stderr.contains("/sys/fs/cgroup"), "{}", out.stderr);
    c.assert_nothing_left();
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_image_directory() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let rt = Runtime::new("skeng-copyup");
    let mut b = Bundle::new("skeng-copyup");
    let image_dir = b.rootfs.join("skeng-data");
    fs::create_dir_all(image_dir.join("sub/deeper")).unwrap();
    fs::write(image_dir.join("file"), "from the image\n").unwrap();
    fs::write(image_dir.join("sub/deeper/leaf"), "leaf\n").unwrap();
    symlink("file", image_dir.join("link")).unwrap();
    nix::unistd::mkfifo(
        &image_dir.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    fs::set_permissions(image_dir.join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(image_dir.join("file"), Some(1234), Some(5678)).unwrap();
    fs::set_permissions(&image_dir, fs::Permissions::from_mode(0o757)).unwrap();
    std::os::unix::fs::chown(&image_dir, Some(42), Some(43)).unwrap();
    b.add_mount(json!({
        "destination": "/skeng-data",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "tmpcopyup", "mode=755"],
    }));
    b.sh("grep ' /skeng-data ' /proc/self/mounts | cut -d' ' -f3; \
          cat /skeng-data/file /skeng-data/link /skeng-data/sub/deeper/leaf; \
          stat -c '%n %a %u:%g %F' /skeng-data /skeng-data/file /skeng-data/fifo; \
          readlink /skeng-data/link; echo new > /skeng-data/added && echo writable");
    let out = run_ok(&rt, &b);
    assert_eq!(
        out,
        "tmpfs\nfrom the image\nfrom the image\nleaf\n\
         /skeng-data 757 42:43 directory\n\
         /skeng-data/file 644 1234:5678 regular file\n\
         /skeng-data/fifo 640 0:0 fifo\n\
         file\nwritable\n"
    );
    // The copy went to the tmpfs: the image is untouched.
    assert!(!image_dir.join("added").exists());

    // Read-only: filled first, then made read-only.
    let mut b = Bundle::new("skeng-copyup-ro");
    fs::create_dir_all(b.rootfs.join("skeng-data")).unwrap();
    fs::write(b.rootfs.join("skeng-data/file"), "x\n").unwrap();
    b.add_mount(
        json!({"destination": "/skeng-data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["ro", "tmpcopyup"]}),
    );
    b.sh("cat /skeng-data/file; touch /skeng-data/y 2>/dev/null || echo read-only");
    assert_eq!(run_ok(&rt, &b), "x\nread-only\n");

    // Only a tmpfs can be copied up into.
    let mut b = Bundle::new("skeng-copyup-bind");
    b.add_mount(
        json!({"destination": "/mnt", "type": "bind", "source": "/tmp",
                       "options": ["rbind", "tmpcopyup"]}),
    );
    let c = rt.container(&b);
    c.run(&[]).assert_error("tmpcopyup");
    c.assert_nothing_left();
}
