//! Hostile configs: settings that would reach the host, or that skiff would otherwise
//! silently ignore, are refused with the field named and leave nothing behind.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// `run` of the bundle fails with an error containing each of `needles`, and leaves
/// nothing behind.
#[track_caller]
fn refused(rt: &Runtime, b: &Bundle, needles: &[&str]) {
    let c = rt.container(b);
    let out = c.run(&[]);
    out.assert_error(needles[0]);
    for needle in &needles[1..] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    c.assert_nothing_left();
}

const LEASE_BREAK_TIME: &str = "/proc/sys/fs/lease-break-time";

/// Puts the host's value back even if a broken runtime changed it.
struct RestoreHostSysctl {
    path: &'static str,
    value: String,
}

impl Drop for RestoreHostSysctl {
    fn drop(&mut self) {
        let _ = fs::write(self.path, &self.value);
    }
}

#[test]
fn host_wide_sysctls_are_refused_and_the_host_is_unchanged() {
    let rt = Runtime::new("sysctl-host");
    let mut b = Bundle::new("sysctl-host");
    let before = fs::read_to_string(LEASE_BREAK_TIME).unwrap();
    let _restore = RestoreHostSysctl {
        path: LEASE_BREAK_TIME,
        value: before.clone(),
    };
    let other = (before.trim().parse::<u64>().unwrap() + 7).to_string();
    b.set("/linux/sysctl", json!({ "fs.lease-break-time": other }));
    refused(&rt, &b, &["fs.lease-break-time"]);
    assert_eq!(fs::read_to_string(LEASE_BREAK_TIME).unwrap(), before);
    for key in [
        "vm.overcommit_ratio",
        "kernel.core_pattern",
        "kernel.shmmaxx",
    ] {
        b.set("/linux/sysctl", json!({ key: "1" }));
        refused(&rt, &b, &[key]);
    }
}

#[test]
fn sysctl_keys_with_path_tricks_are_refused() {
    let rt = Runtime::new("sysctl-path");
    let mut b = Bundle::new("sysctl-path");
    let before = fs::read_to_string(LEASE_BREAK_TIME).unwrap();
    let _restore = RestoreHostSysctl {
        path: LEASE_BREAK_TIME,
        value: before.clone(),
    };
    for key in [
        "net/../fs/lease-break-time",
        "net.ipv4.conf.all/../../../fs/lease-break-time",
        "net..ipv4",
    ] {
        b.set("/linux/sysctl", json!({ key: "61" }));
        refused(&rt, &b, &["invalid key"]);
    }
    assert_eq!(fs::read_to_string(LEASE_BREAK_TIME).unwrap(), before);
}

#[test]
fn net_sysctls_need_a_network_namespace_that_is_not_the_hosts() {
    let rt = Runtime::new("sysctl-net");
    let mut b = Bundle::new("sysctl-net");
    b.set("/linux/sysctl", json!({ "net.ipv4.ip_forward": "1" }));
    b.remove_namespace("network");
    refused(&rt, &b, &["net.ipv4.ip_forward", "network"]);
    // Joining the host's own network namespace by path is no better.
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "type": "network", "path": "/proc/1/ns/net" }))
    });
    refused(&rt, &b, &["net.ipv4.ip_forward"]);
}

#[test]
fn ipc_and_uts_sysctls_need_their_namespace_and_apply_inside() {
    let rt = Runtime::new("sysctl-ipc");
    let mut b = Bundle::new("sysctl-ipc");
    let host_shmmni = fs::read_to_string("/proc/sys/kernel/shmmni").unwrap();
    let wanted = if host_shmmni.trim() == "1234" {
        "1235"
    } else {
        "1234"
    };
    b.set("/linux/sysctl", json!({ "kernel.shmmni": wanted }));
    b.args(&["cat", "/proc/sys/kernel/shmmni"]);
    assert_eq!(run_ok(&rt, &b), format!("{wanted}\n"));
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/shmmni").unwrap(),
        host_shmmni
    );
    b.remove_namespace("ipc");
    refused(&rt, &b, &["kernel.shmmni", "ipc"]);
    b.add_namespace("ipc");
    b.set("/linux/sysctl", json!({ "kernel.domainname": "x.example" }));
    b.remove_namespace("uts");
    b.remove("/hostname");
    refused(&rt, &b, &["kernel.domainname", "uts"]);
}

#[test]
fn a_config_without_root_is_refused() {
    let rt = Runtime::new("noroot");
    let mut b = Bundle::new("noroot");
    b.remove("/root");
    refused(&rt, &b, &["root"]);
    // `"root": {}` must not make the bundle directory the container's root.
    b.set("/root", json!({}));
    refused(&rt, &b, &["root.path"]);
}

#[test]
fn id_mappings_without_a_new_user_namespace_are_refused() {
    let rt = Runtime::new("maps");
    let mut b = Bundle::new("maps");
    b.set(
        "/linux/uidMappings",
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]),
    );
    refused(&rt, &b, &["linux.uidMappings"]);
    b.remove("/linux/uidMappings");
    b.set(
        "/linux/gidMappings",
        json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]),
    );
    refused(&rt, &b, &["linux.gidMappings"]);
}

#[test]
fn lsm_labels_are_refused_by_name() {
    let rt = Runtime::new("lsm");
    for (pointer, value, field) in [
        (
            "/process/apparmorProfile",
            "docker-default",
            "process.apparmorProfile",
        ),
        (
            "/process/selinuxLabel",
            "system_u:system_r:container_t:s0",
            "process.selinuxLabel",
        ),
        (
            "/linux/mountLabel",
            "system_u:object_r:container_file_t:s0",
            "linux.mountLabel",
        ),
    ] {
        let mut b = Bundle::new("lsm");
        b.set(pointer, json!(value));
        refused(&rt, &b, &[field]);
    }
}

/// The pty master a `run --detach --console-socket` sent, and everything the container
/// wrote to it until it closed (bounded by TIMEOUT).
fn console_output(rt: &Runtime, b: &Bundle) -> String {
    use std::io::Read;

    use std::os::unix::net::UnixListener;

    let socket = rt.scratch().join("console.sock");
    let _ = fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    listener.set_nonblocking(true).unwrap();
    let c = rt.container(b);
    let running = rt.spawn(&[
        "run",
        "--detach",
        "--bundle",
        b.dir_str(),
        "--console-socket",
        socket.to_str().unwrap(),
        &c.id,
    ]);
    let master = receive_console(&listener);
    running.wait(TIMEOUT).assert_ok();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut file = fs::File::from(master);
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        // EIO once the container's side of the pty is gone.
        while let Ok(n @ 1..) = file.read(&mut chunk) {
            seen.extend_from_slice(&chunk[..n]);
        }
        let _ = tx.send(seen);
    });
    let seen = rx.recv_timeout(TIMEOUT).expect("the pty never closed");
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    c.assert_nothing_left();
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_pty_belongs_to_the_devpts_gid() {
    let rt = Runtime::new("ptygid");
    let mut b = Bundle::new("ptygid");
    b.set("/process/terminal", json!(true));
    b.set("/process/user", json!({ "uid": 1000, "gid": 1000 }));
    b.sh("stat -c 'owner-%u-%g' $(tty)");
    let out = console_output(&rt, &b);
    assert!(out.contains("owner-1000-5"), "{out:?}");
    // With a read-only /dev the console is still bound (its file is made before /dev
    // turns read-only).
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push(json!("ro"));
            }
        }
    });
    b.sh("stat -c 'console-%t' /dev/console");
    let out = console_output(&rt, &b);
    assert!(out.contains("console-88"), "{out:?}");
}

#[test]
fn devices_in_a_user_namespace_bind_only_the_device_asked_for() {
    let rt = Runtime::new("userns-dev");
    let mut b = Bundle::new("userns-dev");
    b.userns();
    // A host file named as a device: binding it would hand the container a host file.
    let host_file = b.scratch().join("host-secret");
    fs::write(&host_file, "host data\n").unwrap();
    b.set(
        "/linux/devices",
        json!([{ "path": host_file, "type": "c", "major": 1, "minor": 3 }]),
    );
    refused(&rt, &b, &["not the character device 1:3"]);
    // A real device with the wrong number.
    b.set(
        "/linux/devices",
        json!([{ "path": "/dev/full", "type": "c", "major": 1, "minor": 3 }]),
    );
    refused(&rt, &b, &["/dev/full"]);
    b.set(
        "/linux/devices",
        json!([{ "path": "/dev/full", "type": "b", "major": 1, "minor": 7 }]),
    );
    refused(&rt, &b, &["/dev/full"]);
    // The right one is bound.
    b.set(
        "/linux/devices",
        json!([{ "path": "/dev/full", "type": "c", "major": 1, "minor": 7 }]),
    );
    b.sh("stat -c '%t:%T' /dev/full");
    assert_eq!(run_ok(&rt, &b), "1:7\n");
}

/// A process in a user namespace with `setgroups` denied (util-linux `unshare -r`) and a
/// mount namespace of its own, killed on drop.
struct DeniedSetgroupsNamespaces {
    child: std::process::Child,
}

impl DeniedSetgroupsNamespaces {
    fn start() -> DeniedSetgroupsNamespaces {
        let child = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sleep", "60"])
            .spawn()
            .expect("running unshare");
        let setgroups = format!("/proc/{}/setgroups", child.id());
        let deadline = std::time::Instant::now() + TIMEOUT;
        while fs::read_to_string(&setgroups)
            .map(|s| s.trim() != "deny")
            .unwrap_or(true)
        {
            assert!(std::time::Instant::now() < deadline, "unshare never set up");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        DeniedSetgroupsNamespaces { child }
    }
}

impl Drop for DeniedSetgroupsNamespaces {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config whose container joins the user and mount namespaces of `holder`.
fn join_denied_setgroups(b: &mut Bundle, holder: &DeniedSetgroupsNamespaces) {
    let pid = holder.child.id();
    b.edit(|c| {
        c["linux"]["namespaces"] = json!([
            { "type": "user", "path": format!("/proc/{pid}/ns/user") },
            { "type": "mount", "path": format!("/proc/{pid}/ns/mnt") },
        ]);
    });
}

#[test]
fn additional_gids_with_setgroups_denied_are_refused() {
    let rt = Runtime::new("setgroups");
    let mut b = Bundle::new("setgroups");
    b.remove("/hostname");
    // Only what a user namespace that owns no pid, network or ipc namespace may mount;
    // /proc is the host's, as seen from that namespace.
    b.set(
        "/mounts",
        json!([
            { "destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "mode=755"] },
        ]),
    );
    b.set(
        "/process/user",
        json!({ "uid": 0, "gid": 0, "additionalGids": [10] }),
    );
    b.sh("id -G");
    // Each container pivots the mount namespace it joins: one holder per container.
    let holder = DeniedSetgroupsNamespaces::start();
    join_denied_setgroups(&mut b, &holder);
    refused(&rt, &b, &["process.user.additionalGids"]);
    // Without them the same container runs.
    let holder = DeniedSetgroupsNamespaces::start();
    join_denied_setgroups(&mut b, &holder);
    b.set("/process/user", json!({ "uid": 0, "gid": 0 }));
    assert_eq!(run_ok(&rt, &b), "0\n");
}

#[test]
fn masks_follow_image_symlinks_only_inside_the_root() {
    let rt = Runtime::new("masklink");
    let mut b = Bundle::new("masklink");
    // A masked path that the image made a symlink to one of its directories: the
    // directory it resolves to inside the root is what gets hidden.
    fs::create_dir_all(b.rootfs.join("etc/secrets")).unwrap();
    fs::write(b.rootfs.join("etc/secrets/key"), "secret\n").unwrap();
    std::os::unix::fs::symlink("/etc/secrets", b.rootfs.join("etc/masked")).unwrap();
    b.set(
        "/linux/maskedPaths",
        json!(["/etc/masked", "/proc/timer_list"]),
    );
    b.sh("ls -A /etc/secrets; echo listed; stat -c '%t:%T' /proc/timer_list");
    assert_eq!(run_ok(&rt, &b), "listed\n1:3\n");
    assert!(b.rootfs.join("etc/secrets/key").exists());

    // Without a pid namespace /proc/1/root is the host's root: a masked or read-only path
    // planted as a link through it must not reach the host.
    let host_dir = b.scratch().join("host-dir");
    fs::create_dir_all(&host_dir).unwrap();
    fs::write(host_dir.join("data"), "host\n").unwrap();
    b.remove_namespace("pid");
    let through_proc = format!("/proc/1/root{}", host_dir.display());
    std::os::unix::fs::symlink(&through_proc, b.rootfs.join("etc/escape")).unwrap();
    for field in ["/linux/maskedPaths", "/linux/readonlyPaths"] {
        b.set("/linux/maskedPaths", json!([]));
        b.set("/linux/readonlyPaths", json!([]));
        b.set(field, json!(["/etc/escape"]));
        b.args(&["true"]);
        refused(&rt, &b, &["/etc/escape"]);
        assert_eq!(fs::read_to_string(host_dir.join("data")).unwrap(), "host\n");
    }
}
