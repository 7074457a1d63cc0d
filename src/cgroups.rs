//! The thin adapter over `libcgroups`: where a container's cgroup lives, putting the init
//! in it with its limits, finding its processes, and removing it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use nix_for_cgroups::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroupBuilder, Spec};

/// The cgroup path for a container. Absolute paths are used as given. A relative path, and
/// the default `<id>` when the config names none, sit under the root of each hierarchy
/// (runc nests them under its own cgroup instead; the runtime spec leaves this to the
/// runtime, and skiff's choice keeps containers out of the caller's own cgroup).
pub fn path_for(spec: &Spec, id: &str, systemd: bool) -> PathBuf {
    let configured = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    match configured {
        Some(path) if systemd || path.is_absolute() => path,
        Some(path) => Path::new("/").join(path),
        None if systemd => PathBuf::from(format!("system.slice:skiff:{id}")),
        None => Path::new("/").join(id),
    }
}

pub struct Cgroup {
    manager: AnyCgroupManager,
}

impl Cgroup {
    pub fn open(path: &Path, systemd: bool, id: &str) -> Result<Cgroup> {
        if systemd && !Path::new("/run/systemd/system").exists() {
            bail!("--systemd-cgroup: systemd is not running on this host, so its cgroup driver cannot be used");
        }
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: path.to_path_buf(),
            systemd_cgroup: systemd,
            container_name: id.to_string(),
        })
        .with_context(|| format!("opening cgroup {}", path.display()))?;
        Ok(Cgroup { manager })
    }

    /// Moves `pid` into the container's cgroup (creating it) and applies the spec's limits.
    pub fn enter_and_limit(&self, pid: i32, spec: &Spec) -> Result<()> {
        self.manager
            .add_task(Pid::from_raw(pid))
            .context("joining the container's cgroup")?;
        let linux = spec.linux().as_ref();
        let mut resources = linux
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        // Devices the config creates must also be usable: allow each one in the device
        // controller after the config's own rules, as runc does.
        let mut rules = resources.devices().clone().unwrap_or_default();
        for device in linux.and_then(|l| l.devices().as_ref()).into_iter().flatten() {
            let rule = LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(device.typ())
                .major(device.major())
                .minor(device.minor())
                .access("rwm")
                .build()
                .context("building a device rule")?;
            rules.push(rule);
        }
        resources.set_devices(Some(rules));
        let disable_oom_killer = resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        let options = ControllerOpt {
            resources: &resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        };
        self.manager
            .apply(&options)
            .context("applying linux.resources to the container's cgroup")
    }

    /// Every process in the cgroup, including ones that left the init's process tree.
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(self
            .manager
            .get_all_pids()
            .context("listing the container's processes")?
            .into_iter()
            .map(Pid::as_raw)
            .collect())
    }

    /// Kills whatever is left in the cgroup and removes it.
    pub fn remove(&self) -> Result<()> {
        self.manager
            .remove()
            .context("removing the container's cgroup")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(path: Option<&str>) -> Spec {
        let mut config = crate::spec::template(false);
        if let Some(path) = path {
            config["linux"]["cgroupsPath"] = serde_json::json!(path);
        }
        serde_json::from_value(config).unwrap()
    }

    #[test]
    fn absolute_paths_are_kept() {
        let spec = spec_with(Some("/a/b"));
        assert_eq!(path_for(&spec, "c", false), PathBuf::from("/a/b"));
    }

    #[test]
    fn relative_and_default_paths_sit_under_the_hierarchy_root() {
        assert_eq!(
            path_for(&spec_with(Some("a/b")), "c", false),
            PathBuf::from("/a/b")
        );
        assert_eq!(path_for(&spec_with(None), "c", false), PathBuf::from("/c"));
    }

    #[test]
    fn systemd_paths_are_passed_through() {
        assert_eq!(
            path_for(&spec_with(Some("system.slice:x:y")), "c", true),
            PathBuf::from("system.slice:x:y")
        );
        assert_eq!(
            path_for(&spec_with(None), "c", true),
            PathBuf::from("system.slice:skiff:c")
        );
    }
}
