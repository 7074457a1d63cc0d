//! The container's filesystem: mount table, masked and read-only paths,
//! read-only root, devices, bind and tmpfs mounts, --no-pivot.
//!
//! All tests here are runtime-neutral and pass against runc too.

mod common;

use common::*;
use serde_json::json;

#[track_caller]
fn find<'m>(mounts: &'m [MountInfo], mount_point: &str) -> &'m MountInfo {
    // The last mount on a mount point is the visible one.
    mounts
        .iter()
        .rev()
        .find(|m| m.mount_point == mount_point)
        .unwrap_or_else(|| panic!("no mount on {mount_point}: {mounts:#?}"))
}

#[test]
fn default_mount_table() {
    let rt = Runtime::new("mounttable");
    let mut b = Bundle::new("mounttable");
    b.args(&["cat", "/proc/self/mountinfo"]);
    let out = run_ok(&rt, &b);
    let mounts = parse_mountinfo(&out);

    let root = &mounts[0];
    assert_eq!(root.mount_point, "/", "first mount must be the root: {out}");
    assert!(
        root.root.ends_with("/rootfs") || root.root == "/",
        "root mount does not come from the bundle's rootfs: {out}"
    );
    assert!(
        !mounts
            .iter()
            .any(|m| m.mount_point.starts_with(b.dir_str())),
        "host paths visible in the container: {out}"
    );

    for (mp, fstype) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        let m = find(&mounts, mp);
        assert_eq!(m.fstype, fstype, "{mp} has the wrong type: {m:?}");
    }
    let dev = find(&mounts, "/dev");
    assert!(dev.options.contains(&"nosuid".to_string()), "{dev:?}");
    assert!(
        dev.super_options.contains(&"mode=755".to_string()),
        "{dev:?}"
    );
    let pts = find(&mounts, "/dev/pts");
    for o in ["nosuid", "noexec"] {
        assert!(
            pts.options.contains(&o.to_string()),
            "/dev/pts lacks {o}: {pts:?}"
        );
    }
    assert!(
        pts.super_options.contains(&"ptmxmode=666".to_string()),
        "{pts:?}"
    );
    assert!(pts.super_options.contains(&"gid=5".to_string()), "{pts:?}");
    let shm = find(&mounts, "/dev/shm");
    for o in ["nosuid", "noexec", "nodev"] {
        assert!(
            shm.options.contains(&o.to_string()),
            "/dev/shm lacks {o}: {shm:?}"
        );
    }
    assert!(
        shm.super_options.contains(&"size=65536k".to_string()),
        "{shm:?}"
    );
    let sys = find(&mounts, "/sys");
    assert!(
        sys.options.contains(&"ro".to_string()),
        "/sys must be ro: {sys:?}"
    );
}

#[test]
fn proc_is_the_containers_own() {
    let rt = Runtime::new("procown");
    let mut b = Bundle::new("procown");
    b.sh("ls /proc | grep -E '^[0-9]+$' | sort -n | head -1; readlink /proc/1/exe");
    let out = run_ok(&rt, &b);
    assert_eq!(out.lines().next(), Some("1"), "{out}");
}

#[test]
fn masked_paths() {
    let rt = Runtime::new("masked");
    let mut b = Bundle::new("masked");
    b.set(
        "/linux/maskedPaths",
        json!([
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/acpi",
            "/sys/firmware",
            "/proc/does-not-exist"
        ]),
    );
    b.sh("for f in /proc/keys /proc/timer_list; do \
           stat -c '%n %F %t:%T' $f; wc -c < $f; done; \
         if [ -e /proc/kcore ]; then stat -c '%F %t:%T' /proc/kcore; else echo absent; fi; \
         for d in /proc/acpi /sys/firmware; do echo \"$d:$(ls -A $d | wc -l)\"; \
           if touch $d/x 2>/dev/null; then echo $d-writable; fi; done; \
         grep -E ' /(proc/acpi|sys/firmware) ' /proc/self/mountinfo | cut -d' ' -f5,6,9");
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/proc/keys character special file 1:3", "{out}");
    assert_eq!(lines[1].trim(), "0", "{out}");
    assert_eq!(
        lines[2], "/proc/timer_list character special file 1:3",
        "{out}"
    );
    assert_eq!(lines[3].trim(), "0", "{out}");
    // /proc/kcore does not exist on every kernel (e.g. this CI VM's).
    let kcore = if std::path::Path::new("/proc/kcore").exists() {
        "character special file 1:3"
    } else {
        "absent"
    };
    assert_eq!(lines[4], kcore, "/proc/kcore: {out}");
    assert_eq!(lines[5], "/proc/acpi:0", "{out}");
    assert_eq!(lines[6], "/sys/firmware:0", "{out}");
    assert!(!out.contains("-writable"), "masked dir writable: {out}");
    let acpi = lines
        .iter()
        .find(|l| l.starts_with("/proc/acpi "))
        .unwrap_or_else(|| panic!("/proc/acpi is not a mount: {out}"));
    let f: Vec<&str> = acpi.split(' ').collect();
    assert!(
        f[1].split(',').any(|o| o == "ro"),
        "/proc/acpi not ro: {out}"
    );
    assert_eq!(f[2], "tmpfs", "{out}");
    assert!(
        lines.iter().any(|l| l.starts_with("/sys/firmware ")),
        "{out}"
    );
}

#[test]
fn readonly_paths() {
    let rt = Runtime::new("ropaths");
    let mut b = Bundle::new("ropaths");
    b.set(
        "/linux/readonlyPaths",
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
            "/tmp/ro",
            "/nonexistent"
        ]),
    );
    std::fs::create_dir_all(b.rootfs.join("tmp/ro")).unwrap();
    b.sh(
        "if echo x > /proc/sys/kernel/domainname 2>/dev/null; then echo proc-sys-writable; fi; \
         if touch /tmp/ro/f 2>/dev/null; then echo tmp-ro-writable; fi; \
         touch /tmp/rw && echo tmp-rw-ok; \
         cat /proc/sys/kernel/ostype; \
         grep -E ' /(proc/sys|tmp/ro) ' /proc/self/mountinfo | cut -d' ' -f5,6",
    );
    let out = run_ok(&rt, &b);
    assert!(!out.contains("writable"), "{out}");
    assert!(out.contains("tmp-rw-ok\nLinux\n"), "{out}");
    for mp in ["/proc/sys", "/tmp/ro"] {
        let line = out
            .lines()
            .find(|l| l.split(' ').next() == Some(mp))
            .unwrap_or_else(|| panic!("{mp} is not a mount: {out}"));
        let opts = line.split(' ').nth(1).unwrap();
        assert!(opts.split(',').any(|o| o == "ro"), "{mp} not ro: {line}");
    }
}

#[test]
fn readonly_root() {
    let rt = Runtime::new("roroot");
    let mut b = Bundle::new("roroot");
    b.set("/root/readonly", json!(true));
    b.sh("if touch /x 2>/dev/null; then echo root-writable; fi; \
         if touch /tmp/y 2>/dev/null; then echo tmp-writable; fi; \
         touch /dev/shm/ok && echo shm-ok; \
         awk '$5 == \"/\" { print $6 }' /proc/self/mountinfo");
    let out = run_ok(&rt, &b);
    assert!(!out.contains("writable"), "{out}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("shm-ok"), "{out}");
    let opts = lines.next().unwrap_or_else(|| panic!("no / mount: {out}"));
    assert!(opts.split(',').any(|o| o == "ro"), "{out}");
    assert!(!b.rootfs.join("x").exists());
}

#[test]
fn writable_root() {
    let rt = Runtime::new("rwroot");
    let mut b = Bundle::new("rwroot");
    b.set("/root/readonly", json!(false));
    b.sh("echo data > /created-inside && cat /created-inside");
    assert_eq!(run_ok(&rt, &b), "data\n");
    assert_eq!(
        std::fs::read_to_string(b.rootfs.join("created-inside")).unwrap(),
        "data\n"
    );
}

#[test]
fn absolute_root_path() {
    let rt = Runtime::new("absroot");
    let mut b = Bundle::new("absroot");
    // root.path may be absolute and live outside the bundle.
    let other = b.scratch().join("elsewhere");
    build_rootfs(&other);
    std::fs::write(other.join("marker"), "elsewhere\n").unwrap();
    b.set("/root/path", json!(other.to_str().unwrap()));
    b.args(&["cat", "/marker"]);
    assert_eq!(run_ok(&rt, &b), "elsewhere\n");
}

#[test]
fn default_devices() {
    let rt = Runtime::new("devices");
    let mut b = Bundle::new("devices");
    b.sh(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
         for l in ptmx fd stdin stdout stderr; do echo \"/dev/$l -> $(readlink /dev/$l)\"; done; \
         echo x > /dev/null && echo null-w; \
         head -c 8 /dev/zero | wc -c; head -c 8 /dev/urandom | wc -c; \
         if echo x > /dev/full 2>/dev/null; then echo full-writable; fi; \
         ls /dev/pts",
    );
    let out = run_ok(&rt, &b);
    let want = [
        "/dev/null character special file 1:3 666",
        "/dev/zero character special file 1:5 666",
        "/dev/full character special file 1:7 666",
        "/dev/random character special file 1:8 666",
        "/dev/urandom character special file 1:9 666",
        "/dev/tty character special file 5:0 666",
        "/dev/ptmx -> pts/ptmx",
        "/dev/fd -> /proc/self/fd",
        "/dev/stdin -> /proc/self/fd/0",
        "/dev/stdout -> /proc/self/fd/1",
        "/dev/stderr -> /proc/self/fd/2",
        "null-w",
        "8",
        "8",
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= want.len(), "{out}");
    for (i, w) in want.iter().enumerate() {
        assert_eq!(lines[i].trim(), *w, "line {i} of:\n{out}");
    }
    assert!(!out.contains("full-writable"), "{out}");
    assert!(out.contains("ptmx"), "/dev/pts has no ptmx: {out}");
}

#[test]
fn device_cgroup_denies_unlisted_device() {
    // A /dev/fuse-like node (10:229) created via linux.devices; the default
    // spec's device cgroup denies everything not allowed.
    let rt = Runtime::new("devdeny");
    let mut b = Bundle::new("devdeny");
    b.set(
        "/linux/devices",
        json!([{ "path": "/dev/myfuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438 }]),
    );
    b.sh("stat -c '%F %t:%T' /dev/myfuse; if (exec 3<>/dev/myfuse) 2>/dev/null; then echo opened; else echo denied; fi");
    let out = run_ok(&rt, &b);
    assert_eq!(out, "character special file a:e5\ndenied\n");
    b.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw" }))
    });
    let out = run_ok(&rt, &b);
    assert_eq!(out, "character special file a:e5\nopened\n");
}

#[test]
fn extra_device_node() {
    let rt = Runtime::new("extradev");
    let mut b = Bundle::new("extradev");
    b.set(
        "/linux/devices",
        json!([{
            "path": "/dev/myzero", "type": "c", "major": 1, "minor": 5,
            "fileMode": 0o640, "uid": 0, "gid": 0
        }, {
            "path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3,
            "fileMode": 0o602, "uid": 1000, "gid": 1001
        }]),
    );
    b.edit(|c| {
        c["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }))
    });
    b.sh(
        "stat -c '%F %t:%T %a %u:%g' /dev/myzero; head -c 16 /dev/myzero | od -An -tx1 | tr -s ' '; \
         stat -c '%F %t:%T %a %u:%g' /dev/sub/mynull; umask",
    );
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "character special file 1:5 640 0:0", "{out}");
    assert_eq!(
        lines[1].trim(),
        "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
        "{out}"
    );
    // Exactly the mode and owner asked for, also in a directory of its own; the
    // container's umask is the process' default, not the one its nodes were made with.
    assert_eq!(
        lines[2], "character special file 1:3 602 1000:1001",
        "{out}"
    );
    assert_eq!(lines[3], "0022", "{out}");
}

#[test]
fn bind_mount_read_only_host_dir() {
    let rt = Runtime::new("bindro");
    let mut b = Bundle::new("bindro");
    let host = b.scratch().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    set_mode(&host, 0o755);
    std::fs::write(host.join("file.txt"), "from-host\n").unwrap();
    let rw = b.scratch().join("hostrw");
    std::fs::create_dir(&rw).unwrap();
    b.add_mount(json!({
        "destination": "/mnt/ro", "type": "bind",
        "source": host.to_str().unwrap(), "options": ["rbind", "ro"]
    }));
    b.add_mount(json!({
        "destination": "/mnt/rw/deeper", "type": "none",
        "source": rw.to_str().unwrap(), "options": ["bind", "rw"]
    }));
    b.sh("cat /mnt/ro/file.txt; \
         if touch /mnt/ro/new 2>/dev/null; then echo ro-writable; fi; \
         echo written > /mnt/rw/deeper/out && echo rw-ok; \
         grep ' /mnt/ro ' /proc/self/mountinfo | cut -d' ' -f6");
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "from-host", "{out}");
    assert!(!out.contains("ro-writable"), "{out}");
    assert_eq!(lines[1], "rw-ok", "{out}");
    assert!(lines[2].split(',').any(|o| o == "ro"), "{out}");
    assert!(!host.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap(),
        "written\n"
    );
}

#[test]
fn bind_mount_single_file() {
    let rt = Runtime::new("bindfile");
    let mut b = Bundle::new("bindfile");
    let f = b.scratch().join("resolv.conf");
    std::fs::write(&f, "nameserver 192.0.2.1\n").unwrap();
    b.add_mount(json!({
        "destination": "/etc/resolv.conf", "type": "bind",
        "source": f.to_str().unwrap(), "options": ["bind", "ro"]
    }));
    b.args(&["cat", "/etc/resolv.conf"]);
    assert_eq!(run_ok(&rt, &b), "nameserver 192.0.2.1\n");
}

#[test]
fn tmpfs_mount_with_size() {
    let rt = Runtime::new("tmpfs");
    let mut b = Bundle::new("tmpfs");
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1770", "size=1m"]
    }));
    b.sh(
        "grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch; \
         if dd if=/dev/zero of=/scratch/big bs=64k count=32 2>/dev/null; then echo fits; else echo full; fi",
    );
    let out = run_ok(&rt, &b);
    let m = parse_mountinfo(&out);
    let s = m
        .iter()
        .find(|m| m.mount_point == "/scratch")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(s.fstype, "tmpfs");
    assert!(s.super_options.contains(&"size=1024k".to_string()), "{s:?}");
    assert!(s.options.contains(&"nosuid".to_string()), "{s:?}");
    assert!(s.options.contains(&"nodev".to_string()), "{s:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], "1770", "{out}");
    assert_eq!(
        lines[2], "full",
        "2 MiB must not fit in a 1 MiB tmpfs: {out}"
    );
}

#[test]
fn mount_destination_through_symlink_stays_in_rootfs() {
    // A destination whose parent is a symlink pointing outside (absolute)
    // must resolve inside the rootfs, never on the host.
    let rt = Runtime::new("symlinkdest");
    let mut b = Bundle::new("symlinkdest");
    let escape = b.scratch().join("escape-target");
    std::fs::create_dir(&escape).unwrap();
    std::os::unix::fs::symlink(&escape, b.rootfs.join("link")).unwrap();
    b.add_mount(json!({
        "destination": "/link/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]
    }));
    b.sh("echo ok");
    let c = rt.container(&b);
    let out = c.run(&[]);
    // Either it works inside the rootfs or it is refused; it must never
    // create anything at the host path.
    assert!(
        !escape.join("tmp").exists(),
        "mount escaped the rootfs (stdout {:?}, stderr {:?})",
        out.stdout,
        out.stderr
    );
    c.assert_nothing_left();
}

#[test]
fn no_pivot() {
    let rt = Runtime::new("nopivot");
    let mut b = Bundle::new("nopivot");
    b.sh("cat /etc/hostname-file; ls /proc/1/root/ >/dev/null && echo ok");
    let c = rt.container(&b);
    let out = c.run(&["--no-pivot"]);
    out.assert_ok();
    assert_eq!(out.stdout, "from-rootfs\nok\n");
    c.assert_nothing_left();
}

#[test]
fn cgroup_mount_and_membership() {
    let rt = Runtime::new("cgmount");
    let mut b = Bundle::new("cgmount");
    b.sh("grep -E ':(memory|pids):' /proc/self/cgroup");
    let out = run_ok(&rt, &b);
    // The container runs in the configured cgroup; it sees either the full
    // path (no cgroup namespace) or "/".
    for l in out.lines() {
        let path = l.splitn(3, ':').nth(2).unwrap();
        assert!(
            path == b.cgroup || path == "/",
            "unexpected cgroup {l}: {out}"
        );
    }
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn cgroup_views_take_the_mount_options() {
    let rt = Runtime::new("cgviews");
    let mut b = Bundle::new("cgviews");
    // runc's template: nosuid, noexec, nodev, relatime, ro; every view and the tmpfs
    // holding them get them, and the container cannot make a cgroup of its own.
    b.sh(
        "grep ' /sys/fs/cgroup' /proc/self/mountinfo | cut -d' ' -f5,6; \
          mkdir /sys/fs/cgroup/pids/mine 2>&1 || true",
    );
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() > 2 && lines[0] == "/sys/fs/cgroup ro,nosuid,nodev,noexec,relatime",
        "{out}"
    );
    let views = lines.iter().filter(|l| l.starts_with("/sys/fs/cgroup/"));
    assert!(views.clone().count() >= 2, "{out}");
    for view in views {
        assert!(
            view.ends_with(" ro,nosuid,nodev,noexec,relatime"),
            "{view} in {out}"
        );
    }
    assert!(out.contains("Read-only file system"), "{out}");
}
