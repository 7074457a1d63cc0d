//! The thin adapter over `libcgroups`: where a container's cgroup lives, putting the init
//! in it with its limits, finding its processes, and removing it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use nix_for_cgroups::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, Spec};

mod v1;

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

/// `path` without its leading `/`, to join under a hierarchy's mount point.
fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect()
}

/// A container's cgroup. On v1 hosts skiff places processes itself and uses libcgroups for
/// the resource controllers only when the config sets limits; on v2 and with systemd,
/// libcgroups does everything.
pub struct Cgroup {
    path: PathBuf,
    systemd: bool,
    id: String,
    v1: Option<v1::V1Cgroup>,
    manager: std::cell::OnceCell<AnyCgroupManager>,
}

impl Cgroup {
    pub fn open(path: &Path, systemd: bool, id: &str) -> Result<Cgroup> {
        if systemd && !Path::new("/run/systemd/system").exists() {
            bail!("--systemd-cgroup: systemd is not running on this host, so its cgroup driver cannot be used");
        }
        let v1 = if !systemd && !is_unified() {
            Some(v1::V1Cgroup::new(path)?)
        } else {
            None
        };
        Ok(Cgroup {
            path: path.to_path_buf(),
            systemd,
            id: id.to_string(),
            v1,
            manager: std::cell::OnceCell::new(),
        })
    }

    fn manager(&self) -> Result<&AnyCgroupManager> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager);
        }
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: self.path.clone(),
            systemd_cgroup: self.systemd,
            container_name: self.id.clone(),
        })
        .with_context(|| format!("opening cgroup {}", self.path.display()))?;
        Ok(self.manager.get_or_init(|| manager))
    }

    /// Everything that can be done before the init exists. On v1: the cgroup directories
    /// (the init's /sys/fs/cgroup mount binds them), the device rules and the limits, all
    /// written while the cgroup is still empty, so the init never sees a half-written
    /// device list. Elsewhere joining creates the cgroup and limits follow it.
    pub fn prepare(&self, spec: &Spec) -> Result<()> {
        let Some(v1) = &self.v1 else {
            if !self.systemd && can_make_devices(spec) {
                bail!(
                    "process.capabilities.bounding has CAP_MKNOD, but skiff cannot enforce \
                     linux.resources.devices on cgroup v2 yet: drop CAP_MKNOD"
                );
            }
            return Ok(());
        };
        v1.create().context("creating the container's cgroup")?;
        let (mut resources, rules) = resources_of(spec)?;
        v1.apply_devices(&rules)
            .context("applying linux.resources.devices")?;
        if has_limits(&resources) {
            // libcgroups would rewrite the device list starting with the config's deny
            // rules; it is already complete.
            resources.set_devices(None);
            self.apply(&resources)?;
        }
        Ok(())
    }

    /// Moves `pid` into the container's cgroup; on v2 and systemd also creates it and
    /// applies the limits.
    pub fn enter(&self, pid: i32, spec: &Spec) -> Result<()> {
        if let Some(v1) = &self.v1 {
            return v1.join(pid).context("joining the container's cgroup");
        }
        self.manager()?
            .add_task(Pid::from_raw(pid))
            .context("joining the container's cgroup")?;
        let (mut resources, rules) = resources_of(spec)?;
        resources.set_devices(Some(rules));
        self.apply(&resources)
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let disable_oom_killer = resources
            .memory()
            .as_ref()
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        let options = ControllerOpt {
            resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        };
        self.manager()?
            .apply(&options)
            .context("applying linux.resources to the container's cgroup")
    }

    /// On v1, each hierarchy's name and the container's directory in it (see
    /// `V1Cgroup::views`); `None` on v2 and with systemd.
    pub fn v1_views(&self) -> Option<Vec<(std::ffi::OsString, PathBuf)>> {
        self.v1.as_ref().map(v1::V1Cgroup::views)
    }

    /// Every process in the cgroup, including ones that left the init's process tree.
    pub fn pids(&self) -> Result<Vec<i32>> {
        if let Some(v1) = &self.v1 {
            return v1.pids();
        }
        Ok(self
            .manager()?
            .get_all_pids()
            .context("listing the container's processes")?
            .into_iter()
            .map(Pid::as_raw)
            .collect())
    }

    /// Kills whatever is left in the cgroup and removes it.
    pub fn remove(&self) -> Result<()> {
        if let Some(v1) = &self.v1 {
            return v1.remove().context("removing the container's cgroup");
        }
        self.manager()?
            .remove()
            .context("removing the container's cgroup")
    }
}

/// The config's resources and its device rules. Devices from `linux.devices` are not
/// allowed implicitly: like runc, only `linux.resources.devices` and the defaults decide.
fn resources_of(spec: &Spec) -> Result<(LinuxResources, Vec<LinuxDeviceCgroup>)> {
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    let rules = resources.devices().clone().unwrap_or_default();
    Ok((resources, rules))
}

/// Whether the container could create device nodes of its choosing: CAP_MKNOD in its
/// bounding set, outside a user namespace (where mknod of devices is refused anyway).
/// On cgroup v2 only an eBPF program can restrict which devices it may then open, and
/// skiff does not load one yet.
fn can_make_devices(spec: &Spec) -> bool {
    let in_user_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        });
    let mknod = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .is_some_and(|b| b.contains(&oci_spec::runtime::Capability::Mknod));
    mknod && !in_user_ns
}

/// Whether /sys/fs/cgroup is a cgroup2 mount (a pure v2 host).
fn is_unified() -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type().0 == CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// Whether the resources set anything beyond device rules.
fn has_limits(resources: &LinuxResources) -> bool {
    resources.memory().is_some()
        || resources.cpu().is_some()
        || resources.pids().is_some()
        || resources.block_io().is_some()
        || resources
            .hugepage_limits()
            .as_ref()
            .is_some_and(|h| !h.is_empty())
        || resources.network().is_some()
        || resources.rdma().as_ref().is_some_and(|r| !r.is_empty())
        || resources.unified().as_ref().is_some_and(|u| !u.is_empty())
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
    fn only_mknod_outside_a_user_namespace_can_make_devices() {
        assert!(!can_make_devices(&spec_with(None)));
        let mut config = crate::spec::template(false);
        config["process"]["capabilities"]["bounding"] = serde_json::json!(["CAP_MKNOD"]);
        let spec: Spec = serde_json::from_value(config.clone()).unwrap();
        assert!(can_make_devices(&spec));
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let spec: Spec = serde_json::from_value(config).unwrap();
        assert!(!can_make_devices(&spec));
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
