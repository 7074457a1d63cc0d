//! What cgroup v1 needs beyond placement: the device allow-list, written by skiff itself
//! while the cgroup is still empty, and cpuset's empty-until-inherited CPUs and nodes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxDeviceCgroup;

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
pub fn apply_devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
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
        write(target, &crate::spec::cgroups::device_rule_line(rule))?;
    }
    for rule in DEFAULT_ALLOWED {
        write(&mut allow, rule)?;
    }
    Ok(())
}

/// A new v1 cpuset starts with no CPUs or memory nodes, and no task can join it: give each
/// empty level what its parent has.
pub fn inherit_cpuset(dir: &Path) -> Result<()> {
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
