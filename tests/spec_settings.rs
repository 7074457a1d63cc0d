//! The runtime spec's process and kernel settings that skiff once refused: each is shown
//! to take effect inside the container, and each hostile value (out of range, unknown
//! name, missing on this host) is refused with its field named, leaving nothing behind.

mod common;

use common::*;
use serde_json::json;

/// `run` of the bundle fails with a one-line error containing `needle`, and leaves nothing.
#[track_caller]
fn refused(rt: &Runtime, b: &Bundle, needle: &str) {
    let c = rt.container(b);
    let out = c.run(&[]);
    out.assert_error(needle);
    c.assert_nothing_left();
}

/// Adds busybox applets the common rootfs does not link.
fn link_applets(b: &Bundle, applets: &[&str]) {
    for applet in applets {
        let link = b.rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).unwrap();
        }
    }
}

/// Fields 19 (nice), 40 (rt_priority) and 41 (policy) of the shell's /proc/<pid>/stat.
const SCHED_OF_SHELL: &str = "cut -d')' -f2 /proc/$$/stat | awk '{print $17, $38, $39}'";

#[test]
fn process_scheduler_policies_are_applied() {
    let rt = Runtime::new("spx-sched");
    for (scheduler, want) in [
        (json!({"policy": "SCHED_OTHER", "nice": 7}), "7 0 0"),
        (json!({"policy": "SCHED_BATCH", "nice": -3}), "-3 0 3"),
        (json!({"policy": "SCHED_IDLE"}), "0 0 5"),
        (json!({"policy": "SCHED_FIFO", "priority": 12}), "0 12 1"),
        (
            json!({"policy": "SCHED_RR", "priority": 3, "flags": ["SCHED_RESET_ON_FORK"]}),
            "0 3 2",
        ),
    ] {
        let mut b = Bundle::new("spx-sched");
        // A real-time task in a v1 cpu cgroup needs real-time runtime there.
        b.set("/linux/resources/cpu/realtimeRuntime", json!(10000));
        b.set("/linux/resources/cpu/realtimePeriod", json!(1000000));
        b.set("/process/scheduler", scheduler.clone());
        b.sh(SCHED_OF_SHELL);
        let out = run_ok(&rt, &b);
        assert_eq!(out.trim(), want, "{scheduler}: nice rt_priority policy");
    }
}

#[test]
fn a_deadline_scheduler_is_applied() {
    let rt = Runtime::new("spx-dl");
    let mut b = Bundle::new("spx-dl");
    // A deadline task cannot fork: the program reads its own scheduling state.
    b.set(
        "/process/scheduler",
        json!({"policy": "SCHED_DEADLINE", "runtime": 100000, "deadline": 1000000, "period": 1000000}),
    );
    b.set("/linux/resources/cpu/realtimeRuntime", json!(10000));
    b.set("/process/args", json!(["cat", "/proc/self/sched"]));
    let out = rt.container(&b).run(&[]);
    let out = out.assert_ok();
    let policy = out
        .stdout
        .lines()
        .find(|l| l.starts_with("policy"))
        .unwrap_or_default()
        .to_string();
    assert!(
        policy.ends_with(" 6"),
        "policy must be SCHED_DEADLINE (6): {}",
        out.stdout
    );
    assert!(out.stdout.contains("dl.deadline"), "{}", out.stdout);
}

#[test]
fn hostile_scheduler_values_are_refused_by_field() {
    let rt = Runtime::new("spx-sched-bad");
    let mut b = Bundle::new("spx-sched-bad");
    for (scheduler, needle) in [
        (json!({"policy": "SCHED_BOGUS"}), "process.scheduler"),
        (json!({"policy": "SCHED_ISO"}), "process.scheduler.policy"),
        (
            json!({"policy": "SCHED_OTHER", "nice": 100}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_OTHER", "nice": -2147483648i64}),
            "process.scheduler.nice",
        ),
        (
            json!({"policy": "SCHED_FIFO", "priority": 1000}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_RR", "priority": -5}),
            "process.scheduler.priority",
        ),
        (
            json!({"policy": "SCHED_OTHER", "runtime": 5}),
            "process.scheduler.runtime",
        ),
        (
            json!({"policy": "SCHED_DEADLINE", "runtime": 18446744073709551615u64,
                   "deadline": 18446744073709551615u64}),
            "process.scheduler.runtime",
        ),
        (
            json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]}),
            "process.scheduler",
        ),
    ] {
        b.set("/process/scheduler", scheduler);
        refused(&rt, &b, needle);
    }
}

#[test]
fn io_priority_is_applied() {
    let rt = Runtime::new("spx-ioprio");
    for (priority, want) in [
        (
            json!({"class": "IOPRIO_CLASS_RT", "priority": 2}),
            "realtime: prio 2",
        ),
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
            "best-effort: prio 6",
        ),
        (json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}), "idle"),
    ] {
        let mut b = Bundle::new("spx-ioprio");
        link_applets(&b, &["ionice"]);
        b.set("/process/ioPriority", priority.clone());
        b.sh("ionice -p $$");
        let out = run_ok(&rt, &b);
        assert_eq!(out.trim(), want, "{priority}");
    }
}

#[test]
fn hostile_io_priorities_are_refused_by_field() {
    let rt = Runtime::new("spx-ioprio-bad");
    let mut b = Bundle::new("spx-ioprio-bad");
    for (priority, needle) in [
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "process.ioPriority.priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_RT", "priority": -1}),
            "process.ioPriority.priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 9223372036854775807i64}),
            "process.ioPriority.priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_IDLE", "priority": 3}),
            "process.ioPriority.priority",
        ),
        (
            json!({"class": "IOPRIO_CLASS_NONE", "priority": 0}),
            "process.ioPriority",
        ),
    ] {
        b.set("/process/ioPriority", priority);
        refused(&rt, &b, needle);
    }
}

#[test]
fn an_exec_gets_its_own_scheduler_and_io_priority() {
    let rt = Runtime::new("spx-exec-sched");
    let mut b = Bundle::new("spx-exec-sched");
    link_applets(&b, &["ionice"]);
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.run(&["-d"]).assert_ok();
    let process = b.scratch().join("process.json");
    let mut spec = b.config["process"].clone();
    spec["args"] = json!(["sh", "-c", format!("{SCHED_OF_SHELL}; ionice -p $$")]);
    spec["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 4});
    spec["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 1});
    std::fs::write(&process, spec.to_string()).unwrap();
    let out = rt.exec(&["exec", "--process", process.to_str().unwrap(), &b.name]);
    out.assert_ok();
    assert_eq!(
        out.stdout.trim(),
        "4 0 3\nbest-effort: prio 1",
        "{}",
        out.stdout
    );
    c.kill(Some("KILL")).assert_ok();
}

#[test]
fn linux32_personality_reports_a_32_bit_machine() {
    let rt = Runtime::new("spx-persona");
    let mut b = Bundle::new("spx-persona");
    b.set("/linux/personality", json!({"domain": "LINUX32"}));
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.run(&["-d"]).assert_ok();
    // The init and an exec both run in the 32-bit domain.
    let pid = c.state()["pid"].as_i64().unwrap();
    let persona = std::fs::read_to_string(format!("/proc/{pid}/personality")).unwrap();
    assert_eq!(persona.trim(), "00000008", "the init's personality");
    let out = rt.exec(&["exec", &b.name, "uname", "-m"]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "i686");
    c.kill(Some("KILL")).assert_ok();

    let mut b = Bundle::new("spx-persona-linux");
    b.set("/linux/personality", json!({"domain": "LINUX"}));
    b.args(&["uname", "-m"]);
    assert_eq!(run_ok(&rt, &b).trim(), std::env::consts::ARCH);
}

#[test]
fn hostile_personalities_are_refused_by_field() {
    let rt = Runtime::new("spx-persona-bad");
    let mut b = Bundle::new("spx-persona-bad");
    for (personality, needle) in [
        (json!({"domain": "LINUX64"}), "linux.personality"),
        (
            json!({"domain": "LINUX32", "flags": ["READ_IMPLIES_EXEC"]}),
            "linux.personality.flags",
        ),
        (json!({"flags": []}), "linux.personality"),
    ] {
        b.set("/linux/personality", personality);
        refused(&rt, &b, needle);
    }
}

/// The first mapping in the container's /proc/self/numa_maps, without its address.
fn numa_policy_seen(rt: &Runtime, policy: serde_json::Value) -> String {
    let mut b = Bundle::new("spx-mempolicy");
    b.set("/linux/memoryPolicy", policy);
    b.sh("head -1 /proc/self/numa_maps | cut -d' ' -f2-");
    run_ok(rt, &b).trim().to_string()
}

#[test]
fn memory_policies_are_applied() {
    let rt = Runtime::new("spx-mempolicy");
    for (policy, want) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (
            json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
            "prefer (many):0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
            "bind=relative:0",
        ),
    ] {
        let seen = numa_policy_seen(&rt, policy.clone());
        assert!(seen.starts_with(&format!("{want} ")), "{policy}: {seen}");
    }
}

#[test]
fn hostile_memory_policies_are_refused_by_field() {
    let rt = Runtime::new("spx-mempolicy-bad");
    let mut b = Bundle::new("spx-mempolicy-bad");
    let online = std::fs::read_to_string("/sys/devices/system/node/online").unwrap();
    assert_eq!(
        online.trim(),
        "0",
        "this test expects a host with NUMA node 0 only"
    );
    for (policy, needle) in [
        (
            json!({"mode": "MPOL_BIND", "nodes": "1"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-4096"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "-3"}),
            "linux.memoryPolicy.nodes",
        ),
        (json!({"mode": "MPOL_BIND"}), "linux.memoryPolicy.nodes"),
        (
            json!({"mode": "MPOL_LOCAL", "nodes": "0"}),
            "linux.memoryPolicy.nodes",
        ),
        (
            json!({"mode": "MPOL_SOMEWHERE", "nodes": "0"}),
            "linux.memoryPolicy",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"]}),
            "linux.memoryPolicy",
        ),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "linux.memoryPolicy.flags",
        ),
    ] {
        b.set("/linux/memoryPolicy", policy);
        refused(&rt, &b, needle);
    }
}

/// Whole seconds of the host's boot time.
fn host_uptime() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split('.').next().unwrap().parse().unwrap()
}

#[test]
fn a_time_namespace_gets_its_offsets_before_the_program_starts() {
    let rt = Runtime::new("spx-time");
    let mut b = Bundle::new("spx-time");
    let day = 86400u64;
    b.add_namespace("time");
    b.set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": 10 * day, "nanosecs": 5}, "monotonic": {"secs": 3 * day}}),
    );
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.run(&["-d"]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap();
    let host_ns = std::fs::read_link("/proc/self/ns/time").unwrap();
    let init_ns = std::fs::read_link(format!("/proc/{pid}/ns/time")).unwrap();
    assert_ne!(
        init_ns, host_ns,
        "the program must run in its own time namespace"
    );
    // An exec joins the same namespace and sees the same offsets. The host's uptime is
    // read first: the container's, read later, can only be the same second or later.
    let host = host_uptime();
    let out = rt.exec(&[
        "exec",
        &b.name,
        "sh",
        "-c",
        "cat /proc/self/timens_offsets; cat /proc/uptime",
    ]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        [words(lines[0]), words(lines[1])],
        [
            format!("monotonic {} 0", 3 * day),
            format!("boottime {} 5", 10 * day)
        ],
        "{}",
        out.stdout
    );
    let uptime: u64 = lines[2].split('.').next().unwrap().parse().unwrap();
    assert!(
        uptime >= host + 10 * day && uptime < host + 10 * day + 60,
        "the container's /proc/uptime ({uptime}) must be the host's ({host}) plus 10 days"
    );
    // A container joining that namespace by path is born in it.
    let mut joiner = Bundle::new("spx-time-join");
    joiner.join_namespace("time", &format!("/proc/{pid}/ns/time"));
    joiner.args(&["readlink", "/proc/self/ns/time"]);
    assert_eq!(run_ok(&rt, &joiner).trim(), init_ns.to_str().unwrap());
    c.kill(Some("KILL")).assert_ok();
}

#[test]
fn hostile_time_offsets_are_refused_by_field() {
    let rt = Runtime::new("spx-time-bad");
    let mut b = Bundle::new("spx-time-bad");
    b.set("/linux/timeOffsets", json!({"boottime": {"secs": 5}}));
    refused(&rt, &b, "no new time namespace");
    b.add_namespace("time");
    for (offsets, needle) in [
        (
            json!({"realtime": {"secs": 5}}),
            "linux.timeOffsets.realtime",
        ),
        (
            json!({"boottime": {"secs": 9223372036854775807i64}}),
            "linux.timeOffsets.boottime.secs",
        ),
        (
            json!({"monotonic": {"nanosecs": 4000000000u32}}),
            "linux.timeOffsets.monotonic.nanosecs",
        ),
        (
            json!({"monotonic": {"nanosecs": -1}}),
            "linux.timeOffsets.monotonic",
        ),
        (
            json!({"monotonic": {"secs": "soon"}}),
            "linux.timeOffsets.monotonic",
        ),
        // Within the kernel's bounds, but it would set the clock before the boot.
        (
            json!({"boottime": {"secs": -2000000000i64}}),
            "linux.timeOffsets",
        ),
    ] {
        b.set("/linux/timeOffsets", offsets);
        refused(&rt, &b, needle);
    }
}

#[test]
fn intel_rdt_is_refused_saying_the_host_has_no_resctrl() {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(" - resctrl "),
        "this test expects a host without resctrl"
    );
    let rt = Runtime::new("spx-rdt");
    let mut b = Bundle::new("spx-rdt");
    b.set(
        "/linux/intelRdt",
        json!({"closID": "skspx", "l3CacheSchema": "L3:0=f"}),
    );
    refused(&rt, &b, "linux.intelRdt cannot be honoured");
    let out = rt.container(&b).run(&[]);
    assert!(out.stderr.contains("resctrl"), "{}", out.stderr);
}

#[test]
fn lsm_labels_are_refused_saying_the_host_lacks_the_lsm() {
    // This host runs neither AppArmor nor SELinux (checked here, so the test fails loudly
    // on one that does instead of passing for the wrong reason).
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|v| v.trim() == "Y")
        .unwrap_or(false);
    assert!(!apparmor, "this test expects a host without AppArmor");
    assert!(
        !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        "this test expects a host without SELinux"
    );
    let rt = Runtime::new("spx-lsm");
    for (pointer, value, needle) in [
        ("/process/apparmorProfile", "skspx-profile", "process.apparmorProfile \"skspx-profile\" cannot be applied: this host has no AppArmor"),
        ("/process/selinuxLabel", "system_u:system_r:container_t:s0", "process.selinuxLabel \"system_u:system_r:container_t:s0\" cannot be applied: this host has no SELinux"),
        ("/linux/mountLabel", "system_u:object_r:container_file_t:s0", "linux.mountLabel \"system_u:object_r:container_file_t:s0\" cannot be applied: this host has no SELinux"),
        ("/process/apparmorProfile", "two\nlines", "process.apparmorProfile"),
    ] {
        let mut b = Bundle::new("spx-lsm");
        b.set(pointer, json!(value));
        refused(&rt, &b, needle);
    }
    // An empty label means none, as in runc.
    let mut b = Bundle::new("spx-lsm-empty");
    b.set("/process/apparmorProfile", json!(""));
    b.set("/process/selinuxLabel", json!(""));
    run_ok(&rt, &b);
    // exec's flags take the same path.
    let mut b = Bundle::new("spx-lsm-exec");
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.run(&["-d"]).assert_ok();
    rt.exec(&["exec", "--apparmor", "p", &b.name, "true"])
        .assert_error("--apparmor \"p\" cannot be applied: this host has no AppArmor");
    rt.exec(&["exec", "--process-label", "l", &b.name, "true"])
        .assert_error("--process-label \"l\" cannot be applied: this host has no SELinux");
    c.kill(Some("KILL")).assert_ok();
}

/// A veth pair the test made on the host, removed on drop (if the container's namespace
/// has not taken it with it already).
struct Veth {
    name: String,
    peer: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        let base = format!("skspx{}{tag}", std::process::id() % 100000);
        let veth = Veth {
            name: format!("{base}a"),
            peer: format!("{base}b"),
        };
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip")
                .args(args)
                .status()
                .expect("running ip");
            assert!(status.success(), "ip {args:?} failed");
        };
        ip(&[
            "link", "add", &veth.name, "type", "veth", "peer", "name", &veth.peer,
        ]);
        ip(&["link", "set", &veth.name, "address", "02:5c:00:00:00:07"]);
        ip(&["addr", "add", "10.213.7.1/24", "dev", &veth.name]);
        veth
    }

    fn on_host(name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for name in [&self.name, &self.peer] {
            if Veth::on_host(name) {
                let _ = std::process::Command::new("ip")
                    .args(["link", "del", name])
                    .status();
            }
        }
    }
}

#[test]
fn a_net_device_is_moved_into_the_container_renamed_with_its_address() {
    let rt = Runtime::new("spx-netdev");
    let veth = Veth::new("m");
    let mut b = Bundle::new("spx-netdev");
    b.set(
        "/linux/netDevices",
        json!({ veth.name.clone(): {"name": "ctr9"} }),
    );
    b.sh("cat /sys/class/net/ctr9/address; ip -4 addr show ctr9 | grep -o 'inet [0-9./]*'; ls /sys/class/net | tr '\\n' ' '");
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["02:5c:00:00:00:07", "inet 10.213.7.1/24", "ctr9 lo "],
        "the container must see the device under its new name, with its MAC and address"
    );
    c.assert_nothing_left();
    // A veth dies with the namespace it was moved into (a physical device would return).
    // The kernel tears a network namespace down in a work queue after its last process
    // exits, so the pair goes a moment after `run` returns: wait for it, within a bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while (Veth::on_host(&veth.name) || Veth::on_host(&veth.peer))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!Veth::on_host(&veth.name) && !Veth::on_host(&veth.peer));
}

#[test]
fn a_net_device_keeps_its_name_when_none_is_given() {
    let rt = Runtime::new("spx-netdev-keep");
    let veth = Veth::new("k");
    let mut b = Bundle::new("spx-netdev-keep");
    b.set("/linux/netDevices", json!({ veth.name.clone(): {} }));
    b.args(&["ls", "/sys/class/net"]);
    let out = run_ok(&rt, &b);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["lo", veth.name.as_str()]
    );
}

#[test]
fn hostile_net_devices_are_refused_and_nothing_moves() {
    let rt = Runtime::new("spx-netdev-bad");
    let veth = Veth::new("h");
    let mut b = Bundle::new("spx-netdev-bad");
    for (devices, needle) in [
        (
            json!({"skspxnone0": {}}),
            "the host has no network interface \"skspxnone0\"",
        ),
        (
            json!({"a/b": {}}),
            "\"a/b\" is not a network interface name",
        ),
        (
            json!({ veth.name.clone(): {"name": "much-too-long-name"} }),
            "name \"much-too-long-name\" is not a network interface name",
        ),
        (
            json!({ veth.name.clone(): {"name": 5} }),
            "linux.netDevices",
        ),
        (
            json!({ veth.name.clone(): {"name": "x"}, "zz-skspx": {"name": "x"} }),
            "would both be named \"x\"",
        ),
    ] {
        b.set("/linux/netDevices", devices);
        refused(&rt, &b, needle);
    }
    b.set("/linux/netDevices", json!({ veth.name.clone(): {} }));
    b.join_namespace("network", "/proc/1/ns/net");
    refused(&rt, &b, "joined by path");
    b.remove_namespace("network");
    refused(&rt, &b, "no network namespace of its own");
    assert!(
        Veth::on_host(&veth.name),
        "a refused config must not move the device"
    );
}

/// A bundle without a mount namespace, and without the settings that need one.
fn without_mount_namespace(tag: &str) -> Bundle {
    let mut b = Bundle::new(tag);
    b.remove_namespace("mount");
    b.set("/mounts", json!([]));
    b.set("/linux/maskedPaths", json!([]));
    b.set("/linux/readonlyPaths", json!([]));
    b
}

#[test]
fn without_a_mount_namespace_the_container_is_chrooted_and_nothing_is_mounted() {
    let rt = Runtime::new("spx-nomnt");
    let mut b = without_mount_namespace("spx-nomnt");
    std::fs::write(b.rootfs.join("marker"), "inside the rootfs\n").unwrap();
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.run(&["-d"]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap();
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_eq!(
        ns(&pid.to_string()),
        ns("self"),
        "the init shares the host's mount namespace"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        std::fs::canonicalize(&b.rootfs).unwrap(),
        "its root is root.path"
    );
    // An exec gets the same root, by chroot.
    let out = rt.exec(&["exec", &b.name, "cat", "/marker"]);
    out.assert_ok();
    assert_eq!(out.stdout, "inside the rootfs\n");
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    // Nothing was mounted on the host for it (checked by assert_nothing_left too).
    c.assert_nothing_left();
}

#[test]
fn without_a_mount_namespace_settings_that_need_mounts_are_refused() {
    let rt = Runtime::new("spx-nomnt-bad");
    let mut b = Bundle::new("spx-nomnt-bad");
    b.remove_namespace("mount");
    refused(&rt, &b, "mounts needs a mount namespace");
    let mut b = without_mount_namespace("spx-nomnt-bad");
    for (pointer, value, needle) in [
        (
            "/linux/maskedPaths",
            json!(["/proc/kcore"]),
            "linux.maskedPaths needs a mount namespace",
        ),
        (
            "/linux/readonlyPaths",
            json!(["/proc/sys"]),
            "linux.readonlyPaths needs a mount namespace",
        ),
        (
            "/root/readonly",
            json!(true),
            "root.readonly needs a mount namespace",
        ),
        (
            "/linux/rootfsPropagation",
            json!("shared"),
            "linux.rootfsPropagation needs a mount namespace",
        ),
        (
            "/linux/sysctl",
            json!({"kernel.shmmax": "1"}),
            "linux.sysctl needs a mount namespace",
        ),
        (
            "/process/terminal",
            json!(true),
            "process.terminal needs a mount namespace",
        ),
    ] {
        let saved = b.config.pointer(pointer).cloned();
        b.set(pointer, value);
        refused(&rt, &b, needle);
        match saved {
            Some(saved) => b.set(pointer, saved),
            None => b.remove(pointer),
        };
    }
}

#[test]
fn a_uts_namespace_joined_by_path_keeps_its_name() {
    let rt = Runtime::new("spx-uts");
    let mut owner = Bundle::new("spx-uts-a");
    owner.set("/hostname", json!("skspx-a"));
    owner.args(&["sleep", "1000"]);
    let a = rt.container(&owner);
    a.run(&["-d"]).assert_ok();
    let a_pid = a.state()["pid"].as_i64().unwrap();

    // The same name: accepted, nothing to change.
    let mut same = Bundle::new("spx-uts-b");
    same.join_namespace("uts", &format!("/proc/{a_pid}/ns/uts"));
    same.set("/hostname", json!("skspx-a"));
    same.args(&["hostname"]);
    assert_eq!(run_ok(&rt, &same).trim(), "skspx-a");
    // Another name would rename A's namespace: refused with the reason.
    same.set("/hostname", json!("skspx-other"));
    refused(
        &rt,
        &same,
        "the uts namespace joined by path is named \"skspx-a\"",
    );
    same.remove("/hostname");
    same.set("/domainname", json!("skspx.example"));
    refused(&rt, &same, "domainname \"skspx.example\"");
    let out = rt.exec(&["exec", &owner.name, "hostname"]);
    assert_eq!(out.stdout.trim(), "skspx-a", "A's hostname is unchanged");
    a.kill(Some("KILL")).assert_ok();

    // Without any uts namespace the hostname would be the host's: refused.
    let mut none = Bundle::new("spx-uts-none");
    none.remove_namespace("uts");
    none.set("/hostname", json!("skspx-x"));
    refused(
        &rt,
        &none,
        "hostname is set but linux.namespaces has no uts namespace",
    );
}

/// A bind source under the bundle's scratch directory, with a file owned by `owner`.
fn idmap_source(b: &Bundle, owner: u32) -> std::path::PathBuf {
    let source = b.scratch().join("idmap-source");
    std::fs::create_dir_all(&source).unwrap();
    set_mode(&source, 0o777);
    let existing = source.join("existing");
    std::fs::write(&existing, "x").unwrap();
    std::os::unix::fs::chown(&existing, Some(owner), Some(owner)).unwrap();
    source
}

fn owner_on_host(path: &std::path::Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    (m.uid(), m.gid())
}

#[test]
fn an_idmapped_mount_shows_and_stores_mapped_owners() {
    let rt = Runtime::new("spx-idmap");
    let mut b = Bundle::new("spx-idmap");
    // On disk 1000 (uid) / 2000 (gid) is the container's root through this mount.
    let source = idmap_source(&b, 1000);
    std::os::unix::fs::chown(source.join("existing"), Some(1000), Some(2000)).unwrap();
    std::os::unix::fs::chown(&source, Some(1000), Some(2000)).unwrap();
    b.add_mount(json!({
        "destination": "/mnt/idmapped",
        "type": "bind",
        "source": source,
        "options": ["bind", "idmap"],
        "uidMappings": [{"containerID": 1000, "hostID": 0, "size": 1}],
        "gidMappings": [{"containerID": 2000, "hostID": 0, "size": 1}],
    }));
    b.sh("stat -c %u:%g /mnt/idmapped/existing; stat -c %u:%g /mnt/idmapped; echo made > /mnt/idmapped/new; stat -c %u:%g /mnt/idmapped/new; grep -c ',idmapped' /proc/self/mountinfo");
    let out = run_ok(&rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["0:0", "0:0", "0:0"],
        "inside, the directory and both files are root's: {out}"
    );
    assert!(
        lines[3].parse::<u32>().unwrap() >= 1,
        "the mount is idmapped: {out}"
    );
    assert_eq!(
        owner_on_host(&source.join("new")),
        (1000, 2000),
        "on the host, the new file is stored with the mapped owner"
    );
    assert_eq!(
        std::fs::read_to_string(source.join("new")).unwrap(),
        "made\n"
    );
}

#[test]
fn ridmap_with_the_containers_user_namespace_mappings() {
    let rt = Runtime::new("spx-ridmap");
    let mut b = Bundle::new("spx-ridmap");
    b.userns();
    // Host root's files: without the idmap they would be nobody's in the container.
    let source = idmap_source(&b, 0);
    let sub = HostTmpfs::mount(&source.join("sub"));
    set_mode(&sub.path, 0o777);
    b.add_mount(json!({
        "destination": "/mnt/idmapped",
        "type": "bind",
        "source": source,
        "options": ["rbind", "ridmap"],
    }));
    std::fs::create_dir_all(b.rootfs.join("mnt/idmapped")).unwrap();
    b.sh("id -u; stat -c %u /mnt/idmapped/existing; touch /mnt/idmapped/new /mnt/idmapped/sub/deep; stat -c %u /mnt/idmapped/new /mnt/idmapped/sub/deep");
    let out = run_ok(&rt, &b);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0", "0", "0", "0"],
        "{out}"
    );
    // The container's root is host uid 100000, yet what it made is stored as uid 0.
    assert_eq!(owner_on_host(&source.join("new")).0, 0);
    assert_eq!(
        owner_on_host(&sub.path.join("deep")).0,
        0,
        "ridmap reaches the submount"
    );
}

#[test]
fn hostile_idmapped_mounts_are_refused_by_field() {
    let rt = Runtime::new("spx-idmap-bad");
    let mut b = Bundle::new("spx-idmap-bad");
    let source = idmap_source(&b, 0);
    let map = |c: u64, h: u64, s: u64| json!([{"containerID": c, "hostID": h, "size": s}]);
    for (extra, needle) in [
        (
            json!({"options": ["bind", "idmap"]}),
            "option \"idmap\" without uidMappings",
        ),
        (
            json!({"options": ["bind"], "uidMappings": map(0, 1, 1)}),
            "given together",
        ),
        (
            json!({"uidMappings": map(0, 1, 0), "gidMappings": map(0, 1, 1)}),
            "mounts[7].uidMappings[0].size is 0",
        ),
        (
            json!({"uidMappings": map(0, 4294967295, 5), "gidMappings": map(0, 1, 1)}),
            "past the largest ID",
        ),
        (
            json!({"uidMappings": map(0, 1, 1), "gidMappings": map(0, 4294967296, 1)}),
            "mounts[7]",
        ),
        (
            json!({"type": "tmpfs", "uidMappings": map(0, 1, 1), "gidMappings": map(0, 1, 1)}),
            "must be a bind mount",
        ),
    ] {
        b.edit(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.retain(|m| m["destination"] != "/mnt/idmapped");
            let mut mount = json!({"destination": "/mnt/idmapped", "type": "bind", "source": source, "options": ["bind"]});
            if extra["type"] == "tmpfs" {
                mount["options"] = json!([]);
            }
            for (k, v) in extra.as_object().unwrap() {
                mount[k] = v.clone();
            }
            mounts.push(mount);
            assert_eq!(mounts.len(), 8, "the template has 7 mounts");
        });
        refused(&rt, &b, needle);
    }
}
