//! The cgroup directories skiff manages itself (every driver but systemd): which
//! hierarchies the host has, whether the container's directory in each may be used, making
//! only the missing levels, placing processes, and undoing exactly what was made.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The controllers libcgroups manages on v1. A v1 hierarchy with none of them but a name
/// (`name=systemd`) is joined too, as runc joins it: tools that find a process's unit or
/// container through that hierarchy must see the container in its own cgroup there, not
/// in the host's.
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

/// Where every hierarchy skiff places containers in is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One mounted hierarchy and the container's directory in it.
#[derive(Debug)]
pub struct Hierarchy {
    /// The v1 controllers bound to it; empty for cgroup2.
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
    pub dir: PathBuf,
    pub unified: bool,
    /// The deepest level of `dir` known to exist, with a handle on it: found by
    /// `check_and_plan`, moved down by `make_level`, `dir` itself once that exists. What
    /// is done below it looks up one name from it instead of the whole path from `/`:
    /// every level of /sys/fs/cgroup takes a kernel lock (sysfs' above the mount point,
    /// the hierarchy's below it) that the mkdirs of parallel creates hold for writing.
    anchor: Option<(PathBuf, OwnedFd)>,
}

/// A level of the plan went away before the next one was made in it: another container's
/// removal of an intermediate level both had found (its `rmdir` came first, while this
/// create's directory below it did not exist yet). Planning again makes that level anew.
#[derive(Debug)]
pub struct LevelVanished(pub PathBuf);

impl std::fmt::Display for LevelVanished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cgroup {}: a level above it was removed while it was being made",
            self.0.display()
        )
    }
}

impl std::error::Error for LevelVanished {}

impl Hierarchy {
    /// The hierarchy mounted at `mount_point`, the container's directory `dir` in it; not
    /// planned yet.
    pub fn new(
        controllers: Vec<String>,
        dir: PathBuf,
        mount_point: PathBuf,
        unified: bool,
    ) -> Self {
        Hierarchy {
            controllers,
            mount_point,
            dir,
            unified,
            anchor: None,
        }
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// A handle on the container's directory, once it exists and was opened.
    pub fn dir_handle(&self) -> Option<&OwnedFd> {
        self.anchor
            .as_ref()
            .filter(|(level, _)| *level == self.dir)
            .map(|(_, handle)| handle)
    }

    /// Makes `dir`, the level below the anchor, and moves the anchor onto it. With
    /// `may_exist` (an intermediate level, which a create of a sibling container may make
    /// meanwhile) an existing one is used; otherwise it is refused.
    pub fn make_level(&mut self, dir: &Path, may_exist: bool) -> Result<()> {
        let anchor = self
            .anchor
            .as_ref()
            .filter(|(level, _)| Some(level.as_path()) == dir.parent())
            .map(|(_, handle)| handle);
        let (Some(anchor), Some(name)) = (anchor, dir.file_name()) else {
            bail!(
                "cgroup {} is not the next level of the plan `check_and_plan` made",
                dir.display()
            );
        };
        match nix::sys::stat::mkdirat(anchor.as_fd(), name, Mode::from_bits_truncate(0o777)) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) if may_exist => {}
            Err(nix::errno::Errno::EEXIST) => bail!(
                "linux.cgroupsPath: cgroup {} was created by someone else while this \
                 container was being created",
                dir.display()
            ),
            // ENODEV: kernfs' answer for a directory removed while it was open.
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENODEV) => {
                return Err(LevelVanished(dir.to_path_buf()).into())
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
        let opened = match open_in(anchor, Path::new(name), DIRECTORY) {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LevelVanished(dir.to_path_buf()).into())
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", dir.display())),
        };
        self.anchor = Some((dir.to_path_buf(), opened));
        Ok(())
    }

    /// Opens the file `name` of the container's directory: from its handle once there is
    /// one, else by path.
    pub fn open_file(&self, name: &str, flags: i32) -> std::io::Result<File> {
        match self.dir_handle() {
            Some(dir) => open_in(dir, Path::new(name), flags).map(File::from),
            None => open(&self.dir.join(name), flags).map(File::from),
        }
    }
}

/// `O_PATH` handles on cgroup directories.
const DIRECTORY: i32 = libc::O_PATH | libc::O_DIRECTORY;

/// Opens `name` below the cgroup directory `dir` (cgroup file systems have no symlinks;
/// none is followed).
pub fn open_in(dir: &OwnedFd, name: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    crate::sys::open_beneath(dir.as_raw_fd(), name, flags)
}

/// Reads the file `name` of the cgroup directory `dir`.
pub fn read_in(dir: &OwnedFd, name: impl AsRef<Path>) -> std::io::Result<String> {
    let mut text = String::new();
    File::from(open_in(dir, name.as_ref(), libc::O_RDONLY)?).read_to_string(&mut text)?;
    Ok(text)
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    open(dir, DIRECTORY).with_context(|| format!("opening {}", dir.display()))
}

/// Opens the cgroup file or directory at `path`, from the handle on /sys/fs/cgroup when it
/// lies below it.
pub fn open(path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    if let Some((root, below)) = below_root(path) {
        match open_in(root, below, flags) {
            // A symlink on the way (none is expected: mount points come from mountinfo).
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
            opened => return opened,
        }
    }
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, Mode::empty()).map_err(std::io::Error::from)
}

/// Removes the (empty) cgroup directory `dir`.
fn remove_dir(dir: &Path) -> std::io::Result<()> {
    if let Some((root, below)) = below_root(dir) {
        return nix::unistd::unlinkat(root, below, nix::unistd::UnlinkatFlags::RemoveDir)
            .map_err(std::io::Error::from);
    }
    std::fs::remove_dir(dir)
}

/// `dir` as a handle on /sys/fs/cgroup and the path below it: the lookups under
/// /sys/fs/cgroup then start there, without the two sysfs levels above it (whose lock
/// every new network namespace takes for writing, for its loopback device's files).
fn below_root(dir: &Path) -> Option<(&'static OwnedFd, &Path)> {
    static ROOT: std::sync::OnceLock<Option<OwnedFd>> = std::sync::OnceLock::new();
    let root = ROOT
        .get_or_init(|| {
            nix::fcntl::open(
                CGROUP_ROOT,
                OFlag::from_bits_truncate(DIRECTORY) | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()
        })
        .as_ref()?;
    let below = dir.strip_prefix(CGROUP_ROOT).ok()?;
    below
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some((root, below))
        .filter(|(_, below)| !below.as_os_str().is_empty())
}

/// The hierarchies a container at `path` is placed in: every managed v1 hierarchy and, on
/// a hybrid host, the cgroup2 one as well (as runc does); on a pure v2 host, just that one.
pub fn discover(path: &Path) -> Result<Vec<Hierarchy>> {
    let relative = relative(path)?;
    let mounts = mounted()?;
    if mounts.is_empty() {
        bail!("no cgroup hierarchy is mounted under {CGROUP_ROOT}");
    }
    Ok(mounts
        .into_iter()
        .map(|(mount_point, controllers, unified)| {
            Hierarchy::new(
                controllers,
                mount_point.join(&relative),
                mount_point,
                unified,
            )
        })
        .collect())
}

/// `path` without its leading `/`, to join under a mount point. Validation refuses `..`
/// and paths naming a root; this refuses them again, since a mistake here would hand the
/// whole host to the caller.
pub fn relative(path: &Path) -> Result<PathBuf> {
    crate::spec::cgroups::check_path(path)?;
    if path.as_os_str().is_empty() {
        bail!("linux.cgroupsPath is empty");
    }
    Ok(path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect())
}

/// Mount points of the cgroup hierarchies under /sys/fs/cgroup, from one read of
/// mountinfo: (mount point, v1 controllers, is cgroup2).
fn mounted() -> Result<Vec<(PathBuf, Vec<String>, bool)>> {
    let mountinfo = crate::mountinfo::read()?;
    let mut found: Vec<(PathBuf, Vec<String>, bool)> = Vec::new();
    for mount in crate::mountinfo::entries(&mountinfo) {
        let (mount_point, fstype, super_options) =
            (mount.mount_point, mount.fstype, mount.super_options);
        if !mount_point.starts_with(CGROUP_ROOT) {
            continue;
        }
        let entry = match fstype {
            "cgroup" => {
                let mut controllers: Vec<String> = super_options
                    .split(',')
                    .filter(|o| CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() {
                    match super_options.split(',').find(|o| o.starts_with("name=")) {
                        Some(name) => controllers.push(name.to_string()),
                        None => continue,
                    }
                }
                (mount_point, controllers, false)
            }
            "cgroup2" => (mount_point, Vec::new(), true),
            _ => continue,
        };
        // A hierarchy mounted twice is still one hierarchy.
        if !found
            .iter()
            .any(|(m, c, u)| *m == entry.0 || (*u == entry.2 && *c == entry.1))
        {
            found.push(entry);
        }
    }
    Ok(found)
}

/// Checks the container's directory in every hierarchy and returns the directories to
/// make there, parents first. Refuses a directory that is already in use: one holding
/// processes (they would become the container's, and its delete would kill them), or one
/// that is frozen, itself or through an ancestor (the init would block in it for ever).
///
/// Each hierarchy's levels are looked up once, until the deepest that exists is found
/// (`deepest_existing`): a level exists only below existing ones, so that level decides
/// all three questions (every path lookup under /sys/fs/cgroup takes the kernfs lock that
/// parallel creates contend on). Its handle becomes the hierarchy's anchor for `make_level`.
pub fn check_and_plan(hierarchies: &mut [Hierarchy]) -> Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    for hierarchy in hierarchies {
        let dir = &hierarchy.dir;
        let levels: Vec<&Path> = dir
            .ancestors()
            .take_while(|a| *a != hierarchy.mount_point)
            .collect();
        let existing = deepest_existing(&levels);
        if let Some((0, _)) = existing {
            let mut pids = Vec::new();
            collect_pids(dir, &mut pids)?;
            if !pids.is_empty() {
                bail!(
                    "linux.cgroupsPath: cgroup {} already holds processes ({}); a container \
                     needs a cgroup of its own",
                    dir.display(),
                    pids.len()
                );
            }
        }
        if let Some((index, handle)) = &existing {
            if is_frozen(hierarchy, handle) {
                bail!(
                    "linux.cgroupsPath: cgroup {} is unexpectedly frozen ({})",
                    dir.display(),
                    levels[*index].display()
                );
            }
        }
        let absent = &levels[..existing.as_ref().map_or(levels.len(), |(index, _)| *index)];
        missing.extend(absent.iter().rev().map(|level| level.to_path_buf()));
        // With no level there yet, the first is made in the hierarchy's root.
        hierarchy.anchor = Some(match existing {
            Some((index, handle)) => (levels[index].to_path_buf(), handle),
            None => (
                hierarchy.mount_point.clone(),
                open_dir(&hierarchy.mount_point)?,
            ),
        });
    }
    Ok(missing)
}

/// The deepest of `levels` (a directory, then its ancestors) that exists, opened. The
/// parent is tried first, as it usually exists: the directory itself is then one name
/// below its handle instead of a whole path.
fn deepest_existing(levels: &[&Path]) -> Option<(usize, OwnedFd)> {
    let Some(parent) = levels.get(1) else {
        return levels
            .first()
            .and_then(|dir| open_dir(dir).ok())
            .map(|fd| (0, fd));
    };
    if let Ok(parent) = open_dir(parent) {
        let own = levels[0]
            .file_name()
            .and_then(|name| open_in(&parent, Path::new(name), DIRECTORY).ok());
        return Some(match own {
            Some(own) => (0, own),
            None => (1, parent),
        });
    }
    levels
        .iter()
        .enumerate()
        .skip(2)
        .find_map(|(index, level)| open_dir(level).ok().map(|handle| (index, handle)))
}

/// Whether the level of the hierarchy open as `level` is frozen or freezing.
fn is_frozen(hierarchy: &Hierarchy, level: &OwnedFd) -> bool {
    let read = |file: &str| read_in(level, file).ok();
    if hierarchy.unified {
        read("cgroup.events").is_some_and(|events| events.lines().any(|l| l.trim() == "frozen 1"))
    } else if hierarchy.has("freezer") {
        let state = read("freezer.state").unwrap_or_default();
        let parent = read("freezer.parent_freezing").unwrap_or_default();
        matches!(state.trim(), "FROZEN" | "FREEZING") || parent.trim() == "1"
    } else {
        false
    }
}

/// Whether this process may use the container's directory in every hierarchy: write its
/// `cgroup.procs` where it exists, else make it below its nearest existing ancestor. What
/// a rootless caller can do only in a subtree delegated to it.
pub fn writable(hierarchies: &[Hierarchy]) -> bool {
    use nix::unistd::{access, AccessFlags};
    hierarchies.iter().all(|hierarchy| {
        if hierarchy.dir.is_dir() {
            return access(&hierarchy.dir.join("cgroup.procs"), AccessFlags::W_OK).is_ok();
        }
        hierarchy
            .dir
            .ancestors()
            .find(|a| a.is_dir())
            .is_some_and(|a| access(a, AccessFlags::W_OK | AccessFlags::X_OK).is_ok())
    })
}

/// This process' own directory in each v1 hierarchy (by /proc/self/cgroup), with the
/// hierarchy's name under /sys/fs/cgroup: what a container without a cgroup of its own
/// sees of the one it is in. The cgroup2 hierarchy of a hybrid host is left out, as it is
/// for a container with its own cgroup.
pub fn own_v1_dirs() -> Result<Vec<(std::ffi::OsString, PathBuf)>> {
    let own = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    let mut dirs = Vec::new();
    for (mount_point, controllers, unified) in mounted()? {
        let Some(first) = controllers.first().filter(|_| !unified) else {
            continue;
        };
        let path = own.lines().find_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, names, path) = (fields.next()?, fields.next()?, fields.next()?);
            names.split(',').any(|n| n == first).then_some(path)
        });
        let (Some(path), Some(name)) = (path, mount_point.file_name()) else {
            continue;
        };
        let name = name.to_owned();
        let relative: PathBuf = Path::new(path)
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        dirs.push((name, mount_point.join(relative)));
    }
    Ok(dirs)
}

/// Moves `pid` into `dir`.
pub fn join(dir: &Path, pid: i32) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    std::fs::write(&procs, pid.to_string())
        .with_context(|| format!("writing {pid} to {}", procs.display()))
}

/// Every process in `dir` and below it.
pub fn collect_pids(dir: &Path, pids: &mut Vec<i32>) -> Result<()> {
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

/// Removes the directories skiff made, children first. A container directory skiff made
/// is removed with any cgroups the container made below it; an intermediate level that
/// now holds someone else's cgroup is left alone.
pub fn remove_made(made: &[PathBuf], leaves: &[PathBuf]) -> Result<()> {
    for dir in made.iter().rev() {
        if leaves.contains(dir) {
            remove_tree(dir)?;
            continue;
        }
        match remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }
    Ok(())
}

/// The quick removal for a container whose processes are all gone: a bare `rmdir` of each
/// directory skiff made, children first, with no listing of processes or children. The
/// kernel refuses to remove a cgroup that still holds a process or a child cgroup (EBUSY),
/// so success proves there was nothing to kill or walk. `false` when a container directory
/// is still busy, or is not skiff's own (a pre-existing cgroup the config named, which
/// must be emptied, not removed): the caller then goes the full way.
pub fn remove_made_if_empty(made: &[PathBuf], leaves: &[PathBuf]) -> Result<bool> {
    if !leaves.iter().all(|leaf| made.contains(leaf)) {
        return Ok(false);
    }
    for dir in made.iter().rev() {
        match remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                if leaves.contains(dir) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
        }
    }
    Ok(true)
}

/// Removes a cgroup and any children nested processes made, retrying while the kernel
/// still counts exiting tasks.
fn remove_tree(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&entry.path())?;
        }
    }
    let mut pause = Duration::from_micros(500);
    for _ in 0..40 {
        match remove_dir(dir) {
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

/// The host's hierarchy roots, to check recorded directories against.
pub struct Roots(Vec<PathBuf>);

impl Roots {
    pub fn of_host() -> Result<Roots> {
        Ok(Roots(mounted()?.into_iter().map(|(m, _, _)| m).collect()))
    }

    /// Whether `dir` lies strictly below one of the roots: the only kind of directory a
    /// record may name for skiff to act on.
    pub fn are_above(&self, dir: &Path) -> bool {
        self.0.iter().any(|mount_point| {
            dir.strip_prefix(mount_point).is_ok_and(|rest| {
                rest.components().all(|c| matches!(c, Component::Normal(_)))
                    && rest.components().next().is_some()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_refuses_what_validation_refuses() {
        for bad in ["/", "", "a/..", "/a/../..", "//", "/."] {
            assert!(relative(Path::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(relative(Path::new("/a/./b")).unwrap(), PathBuf::from("a/b"));
    }

    #[test]
    fn missing_levels_are_listed_parents_first() {
        // Planning opens the hierarchy's root when no level exists: a real directory.
        let root = std::env::temp_dir().join(format!("skiff-plan-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let hierarchy = Hierarchy::new(vec![], root.join("a/b"), root.clone(), true);
        let planned = check_and_plan(&mut [hierarchy]);
        std::fs::remove_dir(&root).unwrap();
        assert_eq!(planned.unwrap(), vec![root.join("a"), root.join("a/b")]);
    }

    #[test]
    fn a_level_removed_after_planning_is_reported_as_vanished() {
        let root = std::env::temp_dir().join(format!("skiff-vanished-{}", std::process::id()));
        std::fs::create_dir_all(root.join("a")).unwrap();
        let mut hierarchies = [Hierarchy::new(vec![], root.join("a/b"), root.clone(), true)];
        let planned = check_and_plan(&mut hierarchies).unwrap();
        assert_eq!(planned, vec![root.join("a/b")]);
        std::fs::remove_dir(root.join("a")).unwrap();
        let made = hierarchies[0].make_level(&root.join("a/b"), false);
        std::fs::remove_dir(&root).unwrap();
        let error = made.expect_err("made below a removed directory");
        assert!(error.is::<LevelVanished>(), "{error:#}");
    }

    #[test]
    fn mount_roots_are_not_below_a_root() {
        let roots = Roots::of_host().unwrap();
        assert!(!roots.are_above(Path::new("/sys/fs/cgroup")));
        assert!(!roots.are_above(Path::new("/tmp/x")));
        for (mount_point, _, _) in mounted().unwrap() {
            assert!(!roots.are_above(&mount_point));
            assert!(!roots.are_above(&mount_point.join("a/../..")));
            assert!(roots.are_above(&mount_point.join("skiff-test-x")));
        }
    }
}
