//! The thin adapter over `libcgroups` plus skiff's own placement: where a container's
//! cgroup lives, which directories skiff makes for it (recorded before they are made, so a
//! later `delete` removes exactly those), putting the init in it with its limits, finding
//! its processes, and undoing it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcgroups::common::{
    create_cgroup_manager, AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt,
};
use nix_for_cgroups::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, Spec};
use serde::{Deserialize, Serialize};

mod entry;
mod freeze;
mod hierarchy;
mod stats;
mod v1;
mod v2;
mod v2_devices;

pub use entry::Entry;
pub use hierarchy::CGROUP_ROOT;
use hierarchy::{Hierarchy, LevelVanished};

/// The cgroup path for a container. Absolute paths are used as given. A relative path, and
/// the default `<id>` when the config names none (or `""`), sit under the root of each
/// hierarchy (runc nests them under its own cgroup instead; the runtime spec leaves this to
/// the runtime, and skiff's choice keeps containers out of the caller's own cgroup).
pub fn path_for(spec: &Spec, id: &str, systemd: bool) -> PathBuf {
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .filter(|p| !p.as_os_str().is_empty());
    match configured {
        Some(path) if systemd || path.is_absolute() => path,
        Some(path) => Path::new("/").join(path),
        None if systemd => PathBuf::from(format!("system.slice:skiff:{id}")),
        None => Path::new("/").join(id),
    }
}

/// Which driver made a container's cgroup: recorded, so later commands undo it the same
/// way whatever flags they are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    /// v1 controllers (and, on a hybrid host, the cgroup2 hierarchy), placed by skiff.
    CgroupfsV1,
    /// A pure cgroup v2 host: directories, weights and the device program by skiff, the
    /// other limits by libcgroups.
    CgroupfsV2,
    /// systemd's transient units, through libcgroups.
    Systemd,
}

/// What the state remembers of a container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupRecord {
    pub driver: Driver,
    /// The path as handed to the cgroup manager.
    pub path: PathBuf,
    /// The container's own directory in every hierarchy it is placed in: verified free
    /// (no processes, not frozen) at create, so what is in them is the container's.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Every directory skiff made for the container, parents first, recorded before it
    /// was made. Only these are ever removed.
    #[serde(default)]
    pub made: Vec<PathBuf>,
}

/// Whether systemd runs this host (as sd_booted(3) tells), which its driver needs.
pub fn systemd_available() -> bool {
    Path::new("/run/systemd/system").exists()
}

/// A container's cgroup.
pub struct Cgroup {
    record: CgroupRecord,
    id: String,
    /// The hierarchies, when skiff places the container itself (not with systemd).
    hierarchies: Vec<Hierarchy>,
    manager: std::cell::OnceCell<AnyCgroupManager>,
}

impl Cgroup {
    /// The cgroup a new container will get. Nothing is touched yet.
    pub fn plan(path: &Path, systemd: bool, id: &str) -> Result<Cgroup> {
        let (driver, hierarchies) = if systemd {
            if !systemd_available() {
                bail!("--systemd-cgroup: systemd is not running on this host, so its cgroup driver cannot be used");
            }
            (Driver::Systemd, Vec::new())
        } else if is_unified() {
            (Driver::CgroupfsV2, hierarchy::discover(path)?)
        } else {
            (Driver::CgroupfsV1, hierarchy::discover(path)?)
        };
        Ok(Cgroup {
            record: CgroupRecord {
                driver,
                path: path.to_path_buf(),
                dirs: hierarchies.iter().map(|h| h.dir.clone()).collect(),
                made: Vec::new(),
            },
            id: id.to_string(),
            hierarchies,
            manager: std::cell::OnceCell::new(),
        })
    }

    /// The cgroup a recorded container has. A record naming a directory that is not
    /// strictly below a hierarchy's root is refused: skiff never acts on a root.
    pub fn from_record(record: &CgroupRecord, id: &str) -> Result<Cgroup> {
        let roots = hierarchy::Roots::of_host()?;
        for dir in record.dirs.iter().chain(&record.made) {
            if !roots.are_above(dir) {
                bail!(
                    "the state of container {id:?} names cgroup {}, which is not below a \
                     cgroup hierarchy's root: refusing to touch it",
                    dir.display()
                );
            }
        }
        Ok(Cgroup {
            record: record.clone(),
            id: id.to_string(),
            hierarchies: Vec::new(),
            manager: std::cell::OnceCell::new(),
        })
    }

    pub fn record(&self) -> &CgroupRecord {
        &self.record
    }

    fn manager(&self) -> Result<&AnyCgroupManager> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager);
        }
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: self.record.path.clone(),
            systemd_cgroup: self.record.driver == Driver::Systemd,
            container_name: self.id.clone(),
        })
        .with_context(|| format!("opening cgroup {}", self.record.path.display()))?;
        Ok(self.manager.get_or_init(|| manager))
    }

    /// Refuses what the container cannot safely use (a cgroup that already holds
    /// processes or is frozen; with systemd on v2, device rules skiff cannot enforce
    /// there), and decides which directories are to be made: afterwards `record()` lists
    /// them, and the caller saves that before calling `make`.
    pub fn check_and_plan(&mut self, spec: &Spec) -> Result<()> {
        if self.record.driver == Driver::Systemd && is_unified() && can_make_devices(spec) {
            bail!(
                "process.capabilities.bounding has CAP_MKNOD, but skiff cannot enforce \
                 linux.resources.devices with --systemd-cgroup on cgroup v2: drop CAP_MKNOD"
            );
        }
        self.record.made = hierarchy::check_and_plan(&mut self.hierarchies)?;
        Ok(())
    }

    /// Whether the caller may make and use this cgroup (rootless mode asks: an
    /// unprivileged caller may only in a delegated subtree). With systemd, the manager
    /// decides when it is used.
    pub fn is_writable(&self) -> bool {
        self.record.driver == Driver::Systemd || hierarchy::writable(&self.hierarchies)
    }

    /// Makes the planned directories. On failure the record keeps only those made. A
    /// missing intermediate level that appears meanwhile was made by a create of another
    /// container below the same new parent (parallel starts): it is used, not refused;
    /// its removal stays as before (only when empty). The container's own directory
    /// appearing meanwhile is still refused.
    pub fn make(&mut self) -> Result<()> {
        for (index, dir) in self.record.made.iter().enumerate() {
            let may_exist = !self.record.dirs.contains(dir);
            let made = match self.hierarchies.iter_mut().find(|h| h.dir.starts_with(dir)) {
                Some(hierarchy) => hierarchy.make_level(dir, may_exist),
                None => Err(anyhow::anyhow!(
                    "cgroup {} is in none of the planned hierarchies",
                    dir.display()
                )),
            };
            if let Err(error) = made {
                self.record.made.truncate(index);
                return Err(error);
            }
        }
        Ok(())
    }

    /// After `check_and_plan`: has `save` record the plan, then makes it. A level that a
    /// sibling container's removal takes away in between (`LevelVanished`: both found it,
    /// the sibling's `rmdir` came before this create's directory below it) is planned and
    /// made again, what this made meanwhile removed first, a few times at most.
    pub fn make_recorded(
        &mut self,
        spec: &Spec,
        mut save: impl FnMut(&CgroupRecord) -> Result<()>,
    ) -> Result<()> {
        const ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            save(&self.record)?;
            match self.make() {
                Ok(()) => return Ok(()),
                Err(e) if attempt < ATTEMPTS && e.is::<LevelVanished>() => {
                    self.remove_unused()?;
                    self.check_and_plan(spec)?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Everything that can be done before the init exists: the device rules and the
    /// limits, all in place while the cgroup is still empty, so the init never runs with a
    /// half-written device list or without its limits. With systemd limits follow joining.
    pub fn prepare(&self, spec: &Spec) -> Result<()> {
        match self.record.driver {
            Driver::CgroupfsV1 => self.prepare_v1(spec),
            Driver::CgroupfsV2 => self.prepare_v2(spec),
            Driver::Systemd => Ok(()),
        }
    }

    /// On v2 the init is cloned straight into its directory (see `entry`), so the
    /// directory is finished first: controllers enabled above it, limits written, and
    /// the device program attached.
    fn prepare_v2(&self, spec: &Spec) -> Result<()> {
        let [unified] = self.hierarchies.as_slice() else {
            bail!(
                "a pure cgroup v2 host has exactly one hierarchy, found {}",
                self.hierarchies.len()
            );
        };
        v2::enable_controllers(&unified.mount_point, &unified.dir)?;
        let (mut resources, rules) = resources_of(spec)?;
        let weights = v2::Weights::take(&mut resources);
        weights.check()?;
        resources.set_devices(None);
        if has_limits(&resources) {
            self.apply(&resources)?;
        }
        weights.write(&unified.dir)?;
        v2_devices::apply(&unified.dir, &rules)
    }

    fn prepare_v1(&self, spec: &Spec) -> Result<()> {
        for hierarchy in self.hierarchies.iter().filter(|h| h.has("cpuset")) {
            v1::inherit_cpuset(hierarchy)?;
        }
        let (mut resources, rules) = resources_of(spec)?;
        if let Some(devices) = self.hierarchies.iter().find(|h| h.has("devices")) {
            v1::apply_devices(devices, &rules).context("applying linux.resources.devices")?;
        }
        if has_limits(&resources) {
            // libcgroups would rewrite the device list starting with the config's deny
            // rules; it is already complete.
            resources.set_devices(None);
            self.apply(&resources)?;
        }
        Ok(())
    }

    /// The descriptors through which a process about to be cloned enters the container's
    /// cgroup itself (see `Entry`), once the directories exist: on v1 its `tasks` files,
    /// on cgroup2 the directory to clone it into. With systemd empty, and `enter` moves it.
    pub fn entry(&self) -> Result<Entry> {
        match self.record.driver {
            // A cgroup read back from a record knows only its directories; a v1 one has
            // `tasks`, a cgroup2 one never does.
            Driver::CgroupfsV1 if self.hierarchies.is_empty() => Entry::open_dirs(
                self.record
                    .dirs
                    .iter()
                    .map(|dir| (dir.as_path(), !dir.join("tasks").exists())),
            ),
            // On v2 the only directory is the cgroup2 one.
            Driver::CgroupfsV2 if self.hierarchies.is_empty() => {
                Entry::open_dirs(self.record.dirs.iter().map(|dir| (dir.as_path(), true)))
            }
            Driver::CgroupfsV1 | Driver::CgroupfsV2 => Entry::open(&self.hierarchies),
            Driver::Systemd => Ok(Entry::default()),
        }
    }

    /// Moves `pid` into the container's cgroup in every hierarchy `entry` did not already
    /// place it in; with systemd also applies the limits (elsewhere `prepare` did).
    pub fn enter(&self, pid: i32, spec: &Spec, entry: &Entry) -> Result<()> {
        match self.record.driver {
            // Placed by the clone or by itself, into a directory `prepare` finished.
            Driver::CgroupfsV1 | Driver::CgroupfsV2 if entry.is_complete() => Ok(()),
            Driver::CgroupfsV1 => {
                for hierarchy in &self.hierarchies {
                    hierarchy::join(&hierarchy.dir, pid)
                        .context("joining the container's cgroup")?;
                }
                Ok(())
            }
            Driver::CgroupfsV2 | Driver::Systemd => {
                self.manager()?
                    .add_task(Pid::from_raw(pid))
                    .context("joining the container's cgroup")?;
                let (mut resources, rules) = resources_of(spec)?;
                resources.set_devices(Some(rules));
                self.apply(&resources)
            }
        }
    }

    /// Moves `pid` into the container's cgroup in every hierarchy the record names, without
    /// touching its limits: how an `exec` process joins a container that is already set up.
    pub fn add_process(&self, pid: i32, entry: &Entry) -> Result<()> {
        if self.record.driver != Driver::Systemd && entry.is_complete() {
            return Ok(());
        }
        if self.record.driver == Driver::Systemd {
            return self
                .manager()?
                .add_task(Pid::from_raw(pid))
                .context("joining the container's cgroup");
        }
        for dir in &self.record.dirs {
            hierarchy::join(dir, pid).context("joining the container's cgroup")?;
        }
        Ok(())
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

    /// On v1, each hierarchy's name under /sys/fs/cgroup and the container's directory in
    /// it: what the container's own cgroup mount shows. `None` on v2 and with systemd.
    pub fn v1_views(&self) -> Option<Vec<(std::ffi::OsString, PathBuf)>> {
        if self.record.driver != Driver::CgroupfsV1 {
            return None;
        }
        Some(
            self.hierarchies
                .iter()
                .filter(|h| !h.unified)
                .filter_map(|h| Some((h.mount_point.file_name()?.to_owned(), h.dir.clone())))
                .collect(),
        )
    }

    /// Every process in the container's directories (and below them), including ones
    /// that left the init's process tree.
    pub fn pids(&self) -> Result<Vec<i32>> {
        if self.record.driver == Driver::Systemd {
            return Ok(self
                .manager()?
                .get_all_pids()
                .context("listing the container's processes")?
                .into_iter()
                .map(Pid::as_raw)
                .collect());
        }
        let mut pids = Vec::new();
        for dir in self.record.dirs.iter().filter(|d| d.is_dir()) {
            hierarchy::collect_pids(dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Removes the directories skiff made without signalling anyone: the undo of a create
    /// that failed before any of its processes were placed.
    pub fn remove_unused(&self) -> Result<()> {
        if self.record.driver == Driver::Systemd {
            return self.remove();
        }
        hierarchy::remove_made(&self.record.made, &self.record.dirs)
            .context("removing the container's cgroup")
    }

    /// Removes the directories skiff made if they are already empty, as they are once a
    /// stopped container's processes have all exited: the common `delete`, without
    /// listing each hierarchy's processes and children. `false` means something is left
    /// (or the driver is systemd), and `remove` must do it.
    pub fn remove_if_empty(&self) -> Result<bool> {
        if self.record.driver == Driver::Systemd {
            return Ok(false);
        }
        hierarchy::remove_made_if_empty(&self.record.made, &self.record.dirs)
            .context("removing the container's cgroup")
    }

    /// Kills whatever is left in the container's directories and removes the directories
    /// skiff made; a pre-existing cgroup the config named is left in place.
    pub fn remove(&self) -> Result<()> {
        if self.record.driver == Driver::Systemd {
            return self
                .manager()?
                .remove()
                .context("removing the container's cgroup");
        }
        // Usually everything has exited already (`run` removes the cgroup once its init
        // is reaped): then the bare rmdirs are the whole job, without reading every
        // hierarchy's process list first.
        if self.remove_if_empty()? {
            return Ok(());
        }
        for pid in self.pids().unwrap_or_default() {
            let _ = crate::sys::send_signal(pid, libc::SIGKILL);
        }
        hierarchy::remove_made(&self.record.made, &self.record.dirs)
            .context("removing the container's cgroup")
    }

    /// `update`: writes new limits to a live container's cgroup through the same code
    /// `create` uses. Device rules are never rewritten here (on v1 that would briefly
    /// deny every device to running processes); `update` refuses changes to them.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let mut resources = resources.clone();
        resources.set_devices(None);
        self.apply(&resources)
    }
}

/// Whether a recorded container's cgroup is frozen, read from its files without opening
/// a manager: cheap enough for `state` and `list` to call for every container. An
/// unreadable file counts as not frozen.
pub fn record_is_frozen(record: &CgroupRecord) -> bool {
    let cgroup = Cgroup {
        record: record.clone(),
        id: String::new(),
        hierarchies: Vec::new(),
        manager: std::cell::OnceCell::new(),
    };
    cgroup.is_frozen().unwrap_or(false)
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
/// skiff loads one only for the cgroups it manages itself (not with systemd).
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

/// What the cgroup mount of a container without a cgroup of its own shows on v1: the
/// caller's own directory in each hierarchy. `None` on a pure v2 host.
pub fn callers_v1_views() -> Result<Option<Vec<(std::ffi::OsString, PathBuf)>>> {
    if is_unified() {
        return Ok(None);
    }
    hierarchy::own_v1_dirs().map(Some)
}

/// Whether /sys/fs/cgroup is a cgroup2 mount (a pure v2 host).
pub fn is_unified() -> bool {
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
    fn a_parent_removed_between_plan_and_make_is_made_again() {
        // As when a sibling container's delete removes the parent both found: here the
        // removal comes while the plan is being saved.
        let root = std::env::temp_dir().join(format!("skiff-remake-{}", std::process::id()));
        let (parent, dir) = (root.join("p"), root.join("p/c"));
        std::fs::create_dir_all(&parent).unwrap();
        let mut cgroup = Cgroup {
            record: CgroupRecord {
                driver: Driver::CgroupfsV2,
                path: PathBuf::from("/p/c"),
                dirs: vec![dir.clone()],
                made: Vec::new(),
            },
            id: "c".to_string(),
            hierarchies: vec![Hierarchy::new(vec![], dir.clone(), root.clone(), true)],
            manager: std::cell::OnceCell::new(),
        };
        let spec = spec_with(None);
        cgroup.check_and_plan(&spec).unwrap();
        let mut saved = Vec::new();
        let made = cgroup.make_recorded(&spec, |planned| {
            if saved.is_empty() {
                std::fs::remove_dir(&parent).unwrap();
            }
            saved.push(planned.made.clone());
            Ok(())
        });
        let exists = dir.is_dir();
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir(&parent);
        std::fs::remove_dir(&root).unwrap();
        made.unwrap();
        assert!(exists, "the container's directory was not made");
        // The second plan, saved before it was made, lists the parent made again.
        assert_eq!(
            saved,
            vec![vec![dir.clone()], vec![parent.clone(), dir.clone()]]
        );
        assert_eq!(cgroup.record().made, vec![parent, dir]);
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
    fn an_empty_path_means_the_default() {
        assert_eq!(
            path_for(&spec_with(Some("")), "c", false),
            PathBuf::from("/c")
        );
        assert_eq!(
            path_for(&spec_with(Some("")), "c", true),
            PathBuf::from("system.slice:skiff:c")
        );
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
