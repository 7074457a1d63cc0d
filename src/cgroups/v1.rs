//! What cgroup v1 needs beyond placement: the device allow-list, written by skiff itself
//! while the cgroup is still empty, and cpuset's empty-until-inherited CPUs and nodes.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxDeviceCgroup;

use super::hierarchy::{self, Hierarchy};

/// The device rules every container gets after its own: mknod of anything, and the nodes
/// skiff creates in /dev plus the pty devices and tun.
pub(super) const DEFAULT_ALLOWED: &[&str] = &[
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

/// The config's device rules in order, then the defaults every container needs, written
/// to the container's directory in the devices hierarchy.
pub fn apply_devices(devices: &Hierarchy, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    // The kernel takes one rule per write, so one descriptor per file serves them all.
    let open = |file: &str| -> Result<(File, PathBuf)> {
        let path = devices.dir.join(file);
        let opened = devices.open_file(file, libc::O_WRONLY);
        let file = opened.with_context(|| format!("opening {}", path.display()))?;
        Ok((file, path))
    };
    let (mut allow, mut deny) = (open("devices.allow")?, open("devices.deny")?);
    let write = |(file, path): &mut (File, PathBuf), rule: &str| {
        file.write_all(rule.as_bytes())
            .with_context(|| format!("writing {rule:?} to {}", path.display()))
    };
    for rule in rules {
        let target = if rule.allow() { &mut allow } else { &mut deny };
        write(target, &crate::spec::cgroups::device_rule_line(rule))?;
    }
    for rule in DEFAULT_ALLOWED {
        write(&mut allow, rule)?;
    }
    Ok(())
}

/// A new v1 cpuset starts with no CPUs or memory nodes, and no task can join it: give each
/// empty level what the nearest level above it with a value has. The container's own
/// directory, the usual empty one, is read and written through its handle.
pub fn inherit_cpuset(cpuset: &Hierarchy) -> Result<()> {
    let open = |level: &Path, file: &str, flags: i32| -> std::io::Result<File> {
        if level == cpuset.dir {
            cpuset.open_file(file, flags)
        } else {
            hierarchy::open(&level.join(file), flags).map(File::from)
        }
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        // From the container's directory up to the first level with a value...
        let mut empty = Vec::new();
        let mut value = String::new();
        for level in cpuset
            .dir
            .ancestors()
            .take_while(|a| a.starts_with(&cpuset.mount_point))
        {
            value.clear();
            let _ =
                open(level, file, libc::O_RDONLY).and_then(|mut f| f.read_to_string(&mut value));
            value = value.trim().to_string();
            if !value.is_empty() {
                break;
            }
            empty.push(level);
        }
        // ...and that value down to each empty level, parents first.
        for level in empty.iter().rev() {
            open(level, file, libc::O_WRONLY)
                .and_then(|mut f| f.write_all(value.as_bytes()))
                .with_context(|| format!("writing {}", level.join(file).display()))?;
        }
    }
    Ok(())
}
