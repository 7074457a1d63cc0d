//! skiff only ever touches the cgroups it made: root and `..` paths are refused before any
//! cgroup is touched, a cgroup holding processes or frozen is refused at create, a
//! pre-existing empty cgroup is used but not removed, the hybrid host's cgroup2 hierarchy
//! is used and cleaned like the others, and bad resources are refused by name.
//!
//! Never a real root path against the host: the root-path configs also name a network
//! namespace path that does not exist, so a build without the check fails on that before
//! it reaches any cgroup.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// A config that a build without cgroupsPath validation refuses before touching cgroups.
fn harmless_if_unchecked(b: &mut Bundle, cgroups_path: &str) {
    let missing = b.scratch().join("no-such-netns");
    b.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "network", "path": missing}));
        c["linux"]["cgroupsPath"] = json!(cgroups_path);
    });
}

#[test]
fn root_and_parent_paths_are_refused_before_any_cgroup_is_touched() {
    let rt = Runtime::new("cg-root");
    let mut canary = Sleeper::start();
    for path in [
        "/",
        "//",
        "/.",
        ".",
        "a/..",
        "/skiff-test-x/../..",
        "../skiff-test-x",
    ] {
        let mut b = Bundle::new("cg-root");
        harmless_if_unchecked(&mut b, path);
        let id = b.name.clone();
        let out = rt.exec(&["create", "--bundle", b.dir_str(), &id]);
        out.assert_error("linux.cgroupsPath");
        assert!(
            !rt.root.join(&id).exists(),
            "{path:?}: a refused create left its state directory"
        );
        assert!(
            canary.is_alive(),
            "{path:?}: a process outside the container was killed"
        );
    }
    let left: Vec<_> = fs::read_dir(&rt.root).unwrap().flatten().collect();
    assert!(
        left.is_empty(),
        "refused creates left {left:?} in the state root"
    );
}

/// Whether this build refuses "/" (checked before any test lets it near a real cgroup).
fn assert_root_is_refused(rt: &Runtime) {
    let mut b = Bundle::new("cg-guard");
    harmless_if_unchecked(&mut b, "/");
    let id = b.name.clone();
    rt.exec(&["create", "--bundle", b.dir_str(), &id])
        .assert_error("linux.cgroupsPath");
}

#[test]
fn an_empty_path_means_the_default_one() {
    let rt = Runtime::new("cg-empty");
    assert_root_is_refused(&rt);
    let mut b = Bundle::new("cg-empty");
    b.set("/linux/cgroupsPath", json!(""));
    b.sh("grep memory /proc/self/cgroup");
    // The default path is /<id>: an ID under /skiff-test- keeps it a test cgroup.
    let id = format!("skiff-test-{}", b.name);
    let c = rt.container_with_id(&b, &id);
    let out = c.run(&[]);
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!(":memory:/{id}")),
        "the container should be in /{id}: {}",
        out.stdout
    );
    assert!(cgroup_dirs_left(&format!("/{id}")).is_empty());
}

#[test]
fn a_cgroup_holding_processes_is_refused_and_they_survive() {
    let rt = Runtime::new("cg-busy");
    let b = Bundle::new("cg-busy");
    let taken = TestCgroup::new("pids", &b.cgroup);
    let mut stranger = Sleeper::start();
    taken.add(stranger.pid());
    let c = rt.container(&b);
    let out = c.create(&[]);
    out.assert_error("already holds processes");
    assert!(
        out.stderr
            .contains(&taken.dir.to_string_lossy().into_owned()),
        "the error should name the cgroup: {}",
        out.stderr
    );
    assert!(!rt.root.join(&c.id).exists(), "a refused create left state");
    c.delete(true).assert_ok();
    std::thread::sleep(Duration::from_millis(100));
    assert!(stranger.is_alive(), "the stranger in the cgroup was killed");
    assert!(
        taken.dir.exists(),
        "a cgroup skiff did not make was removed"
    );
    let procs = fs::read_to_string(taken.dir.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), stranger.pid().to_string());
    for other in ["memory", "devices", "freezer", "unified"] {
        let dir = format!("/sys/fs/cgroup/{other}{}", b.cgroup);
        assert!(
            !Path::new(&dir).exists(),
            "{dir} was made by a refused create"
        );
    }
}

#[test]
fn a_pre_existing_empty_cgroup_is_used_but_not_removed() {
    let rt = Runtime::new("cg-reuse");
    let mut b = Bundle::new("cg-reuse");
    b.sh("cat /proc/self/cgroup");
    let given = TestCgroup::new("memory", &b.cgroup);
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_ok();
    assert!(
        out.stdout.contains(&format!(":memory:{}", b.cgroup)),
        "the container should use the given cgroup: {}",
        out.stdout
    );
    assert!(given.dir.exists(), "the pre-existing cgroup was removed");
    let left = cgroup_dirs_left(&b.cgroup);
    assert_eq!(
        left,
        vec![given.dir.to_string_lossy().into_owned()],
        "only the pre-existing cgroup may be left"
    );
}

#[test]
fn intermediate_levels_skiff_made_are_removed_and_others_kept() {
    let rt = Runtime::new("cg-levels");
    let mut b = Bundle::new("cg-levels");
    let parent = b.cgroup.clone();
    let nested = format!("{parent}/a/b");
    b.set("/linux/cgroupsPath", json!(nested));
    let kept = TestCgroup::new("pids", &parent);
    // Whatever a failing build leaves below the test's own parent, in every hierarchy.
    let _cleanup = CgroupCleanup(parent.clone());
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(rt.root.join(&c.id).join("state.json")).unwrap()).unwrap();
    let made: Vec<String> = state["cgroup"]["made"]
        .as_array()
        .expect("the state lists the cgroup directories skiff made")
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    assert!(made.contains(&format!("/sys/fs/cgroup/memory{parent}")));
    assert!(made.contains(&format!("/sys/fs/cgroup/pids{parent}/a")));
    assert!(!made.contains(&format!("/sys/fs/cgroup/pids{parent}")));
    c.delete(true).assert_ok();
    assert!(kept.dir.exists(), "a level skiff did not make was removed");
    assert!(!kept.dir.join("a").exists(), "a level skiff made was left");
    assert_eq!(
        cgroup_dirs_left(&parent),
        vec![kept.dir.to_string_lossy().into_owned()]
    );
}

#[test]
fn the_hybrid_hosts_cgroup2_hierarchy_is_used_and_cleaned() {
    assert!(
        Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists(),
        "this test needs the hybrid host's cgroup2 hierarchy at /sys/fs/cgroup/unified"
    );
    let rt = Runtime::new("cg-unified");
    let mut b = Bundle::new("cg-unified");
    b.sh("grep '^0::' /proc/self/cgroup");
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let unified = format!("/sys/fs/cgroup/unified{}", b.cgroup);
    let pid = c.state()["pid"].as_i64().unwrap();
    let procs = fs::read_to_string(format!("{unified}/cgroup.procs")).unwrap_or_default();
    assert_eq!(
        procs.trim(),
        pid.to_string(),
        "the init is not in {unified}"
    );
    c.delete(true).assert_ok();
    assert!(!Path::new(&unified).exists(), "{unified} was left behind");
    assert!(cgroup_dirs_left(&b.cgroup).is_empty());
}

fn assert_refused_in_time(rt: &Runtime, b: &Bundle, needle: &str) {
    let c = rt.container(b);
    let mut create = c.rt.spawn(&["create", "--bundle", b.dir_str(), &c.id]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !create.has_exited() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        create.has_exited(),
        "create into a frozen cgroup hangs instead of being refused"
    );
    create.wait(TIMEOUT).assert_error(needle);
    assert!(!rt.root.join(&c.id).exists(), "a refused create left state");
}

#[test]
fn a_frozen_cgroup_is_refused_not_hung_in() {
    let rt = Runtime::new("cg-frozen");
    // Frozen itself (v1).
    let b = Bundle::new("cg-frozen");
    let frozen = TestCgroup::new("freezer", &b.cgroup);
    frozen.write("freezer.state", "FROZEN");
    assert_refused_in_time(&rt, &b, "unexpectedly frozen");
    drop(frozen);

    // Frozen through an ancestor (v1): the container's own level does not exist yet.
    let mut b = Bundle::new("cg-frozen");
    let ancestor = TestCgroup::new("freezer", &b.cgroup);
    let inner = TestCgroup::new("freezer", &format!("{}/inner", b.cgroup));
    ancestor.write("freezer.state", "FROZEN");
    b.set("/linux/cgroupsPath", json!(format!("{}/inner/c", b.cgroup)));
    assert_refused_in_time(&rt, &b, "unexpectedly frozen");
    drop(inner);
    drop(ancestor);

    // Frozen in cgroup2 (the hybrid host's unified hierarchy).
    let b = Bundle::new("cg-frozen");
    let frozen = TestCgroup::new("unified", &b.cgroup);
    frozen.write("cgroup.freeze", "1");
    assert_refused_in_time(&rt, &b, "unexpectedly frozen");
    drop(frozen);
}

#[test]
fn unified_resources_on_a_v1_host_are_refused() {
    let rt = Runtime::new("cg-unif-res");
    let mut b = Bundle::new("cg-unif-res");
    b.set("/linux/resources/unified", json!({"pids.max": "10"}));
    let c = rt.container(&b);
    c.create(&[]).assert_error("linux.resources.unified");
    assert!(cgroup_dirs_left(&b.cgroup).is_empty());
    assert!(!rt.root.join(&c.id).exists());
}

#[test]
fn invalid_device_rules_are_refused_by_name() {
    let rt = Runtime::new("cg-devrule");
    let bad_rules = [
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwx"}),
        json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": ""}),
        json!({"allow": true, "type": "p", "major": 1, "minor": 3, "access": "r"}),
    ];
    for rule in bad_rules {
        let mut b = Bundle::new("cg-devrule");
        b.set(
            "/linux/resources/devices",
            json!([{"allow": false, "access": "rwm"}, rule]),
        );
        let c = rt.container(&b);
        c.create(&[]).assert_error("linux.resources.devices[1]");
        assert!(cgroup_dirs_left(&b.cgroup).is_empty(), "{rule}");
        assert!(!rt.root.join(&c.id).exists());
    }
}

/// The init enters its cgroup by itself (v1 `tasks` descriptors its parent opened, and
/// CLONE_INTO_CGROUP for the hybrid host's cgroup2 hierarchy): also when it is already in a
/// new user namespace whose root is an unprivileged host user, and in every hierarchy.
#[test]
fn an_init_in_a_new_user_namespace_is_in_its_cgroup_everywhere() {
    let rt = Runtime::new("cg-userns");
    let mut b = Bundle::new("cg-userns");
    b.userns();
    b.args(&["sleep", "1000"]);
    let c = rt.container(&b);
    c.create(&[]).assert_ok();
    let pid = c.state()["pid"].as_i64().unwrap().to_string();
    let mut hierarchies: Vec<&str> = CGROUP_CONTROLLERS.to_vec();
    if Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists() {
        hierarchies.push("unified");
    }
    for hierarchy in hierarchies {
        let procs_file = format!("/sys/fs/cgroup/{hierarchy}{}/cgroup.procs", c.cgroup);
        let procs = fs::read_to_string(&procs_file).unwrap_or_else(|e| panic!("{procs_file}: {e}"));
        assert!(
            procs.split_whitespace().any(|p| p == pid),
            "init {pid} is not in {procs_file}: {procs:?}"
        );
    }
    c.delete(true).assert_ok();
    c.assert_nothing_left();
}

/// A v1 hierarchy with no controller but a name (`name=systemd` here) is joined like the
/// others, as runc joins it, and the container's directory there is removed with the rest.
#[test]
fn named_v1_hierarchies_are_joined_and_cleaned() {
    let named = Path::new("/sys/fs/cgroup/systemd");
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.contains(" /sys/fs/cgroup/systemd ") && l.contains("name=systemd")),
        "this test needs the host's name=systemd hierarchy at {}",
        named.display()
    );
    let rt = Runtime::new("cg-named");
    let mut b = Bundle::new("cg-named");
    b.sh("grep name=systemd /proc/self/cgroup; ls /sys/fs/cgroup");
    let c = rt.container(&b);
    let out = c.run(&[]);
    out.assert_ok();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.ends_with(&format!(":name=systemd:{}", b.cgroup))),
        "the container is not in its own name=systemd cgroup: {}",
        out.stdout
    );
    assert!(
        out.stdout.lines().any(|l| l == "systemd"),
        "the container's /sys/fs/cgroup has no systemd view: {}",
        out.stdout
    );
    assert!(!named.join(b.cgroup.trim_start_matches('/')).exists());
    c.assert_nothing_left();
}

/// No systemd runs on these machines, so `--systemd-cgroup` cannot place a container: it is
/// refused by name before anything is made, rather than quietly falling back to cgroupfs.
#[test]
fn systemd_driver_without_systemd_is_refused() {
    assert!(
        !Path::new("/run/systemd/system").exists(),
        "this test needs a host without systemd running"
    );
    let rt = Runtime::new("cg-systemd");
    let b = Bundle::new("cg-systemd");
    let c = rt.container(&b);
    for command in ["create", "run"] {
        rt.exec(&["--systemd-cgroup", command, "--bundle", b.dir_str(), &c.id])
            .assert_error("--systemd-cgroup: systemd is not running");
        c.assert_nothing_left();
    }
}
