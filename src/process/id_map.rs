//! Writing a new user namespace's ID mappings from the parent. Root writes them directly.
//! An unprivileged caller may write only a single mapping of its own ID, and for groups
//! only once setgroups(2) is denied in the namespace (else the container could drop a
//! group the caller was denied by); anything larger goes through the setuid helpers
//! newuidmap/newgidmap, which allow the ranges /etc/subuid and /etc/subgid grant.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxIdMapping;

use super::parent::write_id_map;

pub fn write(
    pid: i32,
    uid_mappings: &[LinuxIdMapping],
    gid_mappings: &[LinuxIdMapping],
) -> Result<()> {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        write_id_map(pid, "uid_map", uid_mappings).context("writing linux.uidMappings")?;
        return write_id_map(pid, "gid_map", gid_mappings).context("writing linux.gidMappings");
    }
    if is_only(uid_mappings, euid.as_raw()) {
        write_id_map(pid, "uid_map", uid_mappings).context("writing linux.uidMappings")?;
    } else {
        helper("newuidmap", pid, uid_mappings).context("writing linux.uidMappings")?;
    }
    let egid = nix::unistd::getegid().as_raw();
    if is_only(gid_mappings, egid) {
        let setgroups = format!("/proc/{pid}/setgroups");
        std::fs::write(&setgroups, "deny")
            .with_context(|| format!("writing deny to {setgroups}"))?;
        write_id_map(pid, "gid_map", gid_mappings).context("writing linux.gidMappings")
    } else {
        helper("newgidmap", pid, gid_mappings).context("writing linux.gidMappings")
    }
}

/// Whether `mappings` is one mapping of `own` alone: what an unprivileged caller may write.
fn is_only(mappings: &[LinuxIdMapping], own: u32) -> bool {
    matches!(mappings, [m] if m.host_id() == own && m.size() == 1)
}

/// Runs newuidmap or newgidmap for `pid` with `mappings`.
fn helper(name: &str, pid: i32, mappings: &[LinuxIdMapping]) -> Result<()> {
    let Some(program) = find_in_path(name) else {
        bail!(
            "mapping more than the caller's own ID needs {name} (package uidmap) and a range \
             in /etc/sub{}id: {name} is not in PATH",
            if name == "newuidmap" { "u" } else { "g" }
        );
    };
    let mut command = Command::new(&program);
    command.arg(pid.to_string());
    for m in mappings {
        command.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    if !output.status.success() {
        bail!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn find_in_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| Path::new(candidate).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(host: u32, size: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": 0, "hostID": host, "size": size}))
            .unwrap()
    }

    #[test]
    fn only_a_single_mapping_of_the_own_id_is_written_directly() {
        assert!(is_only(&[mapping(1000, 1)], 1000));
        assert!(!is_only(&[mapping(1000, 2)], 1000));
        assert!(!is_only(&[mapping(1001, 1)], 1000));
        assert!(!is_only(&[mapping(1000, 1), mapping(100000, 10)], 1000));
    }
}
