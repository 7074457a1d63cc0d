//! Cgroup v1 placement on hybrid and legacy hosts: where each hierarchy is mounted (one read
//! of mountinfo), joining the container's cgroup in each, the device allow-list, and
//! removal. libcgroups' v1 manager re-reads mountinfo and /proc/self/cgroup once per
//! controller (measured 1.6 ms per command here), so it is only used for resource limits.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxDeviceCgroup;

/// The controllers libcgroups manages on v1; hierarchies with none of them (name=systemd)
/// are left alone, as libcgroups does.
const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// The device rules every container gets after its own: mknod of anything, and the nodes
/// skiff creates in /dev plus the pty devices and tun.
const DEFAULT_ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

pub struct V1Cgroup {
    /// The container's directory in each managed hierarchy.
    hierarchies: Vec<Hierarchy>,
}

struct Hierarchy {
    controllers: Vec<String>,
    mount_point: PathBuf,
    dir: PathBuf,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

impl V1Cgroup {
    pub fn new(path: &Path) -> Result<V1Cgroup> {
        let relative = super::relative(path);
        let hierarchies = mount_points()?
            .into_iter()
            .map(|(mount_point, controllers)| Hierarchy {
                controllers,
                dir: mount_point.join(&relative),
                mount_point,
            })
            .collect();
        Ok(V1Cgroup { hierarchies })
    }

    /// For each hierarchy, its name under /sys/fs/cgroup and the container's directory in
    /// it: what the container's own cgroup mount shows.
    pub fn views(&self) -> Vec<(OsString, PathBuf)> {
        self.hierarchies
            .iter()
            .filter_map(|h| Some((h.mount_point.file_name()?.to_owned(), h.dir.clone())))
            .collect()
    }

    /// Creates the container's cgroup in every hierarchy.
    pub fn create(&self) -> Result<()> {
        for hierarchy in &self.hierarchies {
            let dir = &hierarchy.dir;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            if hierarchy.has("cpuset") {
                inherit_cpuset(dir)?;
            }
        }
        Ok(())
    }

    /// Moves `pid` into the container's cgroup in every hierarchy.
    pub fn join(&self, pid: i32) -> Result<()> {
        for hierarchy in &self.hierarchies {
            let procs = hierarchy.dir.join("cgroup.procs");
            std::fs::write(&procs, pid.to_string())
                .with_context(|| format!("writing {pid} to {}", procs.display()))?;
        }
        Ok(())
    }

    /// The config's device rules in order, then the defaults every container needs.
    pub fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        let Some(dir) = self
            .hierarchies
            .iter()
            .find(|h| h.has("devices"))
            .map(|h| &h.dir)
        else {
            return Ok(());
        };
        // The kernel takes one rule per write, so one descriptor per file serves them all.
        let open = |file: &str| -> Result<(std::fs::File, PathBuf)> {
            let path = dir.join(file);
            let opened = std::fs::OpenOptions::new().write(true).open(&path);
            let file = opened.with_context(|| format!("opening {}", path.display()))?;
            Ok((file, path))
        };
        let (mut allow, mut deny) = (open("devices.allow")?, open("devices.deny")?);
        let write = |(file, path): &mut (std::fs::File, PathBuf), rule: &str| {
            use std::io::Write;
            file.write_all(rule.as_bytes())
                .with_context(|| format!("writing {rule:?} to {}", path.display()))
        };
        for rule in rules {
            let target = if rule.allow() { &mut allow } else { &mut deny };
            write(target, &rule.to_string())?;
        }
        for rule in DEFAULT_ALLOWED {
            write(&mut allow, rule)?;
        }
        Ok(())
    }

    /// Every process in the container's cgroup and below it.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let devices = self.hierarchies.iter().find(|h| h.has("devices"));
        let Some(dir) = devices.or(self.hierarchies.first()).map(|h| &h.dir) else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        collect_pids(dir, &mut pids)?;
        Ok(pids)
    }

    /// Kills what is left and removes the container's directory in every hierarchy.
    pub fn remove(&self) -> Result<()> {
        for dir in self.hierarchies.iter().map(|h| &h.dir) {
            // The common case, an empty cgroup, needs nothing but the rmdir.
            match std::fs::remove_dir(dir) {
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => {}
            }
            let mut pids = Vec::new();
            let _ = collect_pids(dir, &mut pids);
            for pid in pids {
                let _ = crate::sys::send_signal(pid, libc::SIGKILL);
            }
            remove_tree(dir)?;
        }
        Ok(())
    }
}

/// Mount points of the managed v1 hierarchies and their controllers, from one read of
/// mountinfo.
fn mount_points() -> Result<Vec<(PathBuf, Vec<String>)>> {
    let mountinfo = crate::sys::read_to_string("/proc/self/mountinfo")?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mut fields = after.split_whitespace();
            if fields.next()? != "cgroup" {
                return None;
            }
            let super_options = fields.nth(1)?;
            let controllers: Vec<String> = super_options
                .split(',')
                .filter(|o| CONTROLLERS.contains(o))
                .map(str::to_string)
                .collect();
            let mount_point = PathBuf::from(unescape(before.split_whitespace().nth(4)?));
            (!controllers.is_empty()).then_some((mount_point, controllers))
        })
        .collect())
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// A new v1 cpuset starts with no CPUs or memory nodes, and no task can join it: give each
/// empty level what its parent has.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    let mut levels: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| a.join("cpuset.cpus").exists())
        .collect();
    levels.reverse();
    for pair in levels.windows(2) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = pair[1].join(file);
            if std::fs::read_to_string(&own)
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                let parent = std::fs::read_to_string(pair[0].join(file)).unwrap_or_default();
                std::fs::write(&own, parent.trim())
                    .with_context(|| format!("writing {}", own.display()))?;
            }
        }
    }
    Ok(())
}

fn collect_pids(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    let text =
        std::fs::read_to_string(&procs).with_context(|| format!("reading {}", procs.display()))?;
    pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
    {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect_pids(&entry.path(), pids)?;
        }
    }
    Ok(())
}

/// Removes a cgroup and any children nested processes made, retrying while the kernel
/// still counts exiting tasks.
fn remove_tree(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
    {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    let mut pause = Duration::from_micros(500);
    for _ in 0..12 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }
    std::fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))
}
