//! How a new container process enters its cgroup without waiting on the kernel.
//!
//! Moving a process into a cgroup through `cgroup.procs` (whoever writes it) takes the
//! kernel's global cgroup threadgroup lock for writing, and after an idle moment that waits
//! for a full RCU grace period: 7 ms measured here per write, the largest single cost of a
//! cold start. Two ways around it, both prepared by the parent before the clone:
//! - v1: the new process, still single-threaded, writes `0` to each hierarchy's `tasks`
//!   itself. Moving only the caller's own thread skips the global lock (0.05 ms measured).
//!   The descriptors are opened by the parent, and the kernel checks a write to them
//!   against the credentials they were opened with, so a process already in a new user
//!   namespace can use them.
//! - cgroup2 (a pure v2 host, or the unified hierarchy of a hybrid one): clone3's
//!   CLONE_INTO_CGROUP makes the process there, with no migration at all. On v2 this also
//!   means the init never runs outside its limits and device program, and never sees its
//!   cgroup before it exists (it bind-mounts it for its /sys/fs/cgroup).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::hierarchy::{self, Hierarchy};

/// The descriptors a new process uses to enter the container's cgroup.
#[derive(Default)]
pub struct Entry {
    /// Each v1 hierarchy's `tasks` file in the container's directory.
    tasks: Vec<(PathBuf, OwnedFd)>,
    /// The container's cgroup2 directory, for CLONE_INTO_CGROUP.
    unified: Option<OwnedFd>,
}

impl Entry {
    /// Opens the entry points of every hierarchy in `hierarchies` (their directories must
    /// exist), from the handles planning and making them left.
    pub(super) fn open(hierarchies: &[Hierarchy]) -> Result<Entry> {
        let mut entry = Entry::default();
        for h in hierarchies {
            entry.add(&h.dir, h.unified, |name, flags| {
                h.open_file(name, flags).map(OwnedFd::from)
            })?;
        }
        Ok(entry)
    }

    /// Opens the entry point of each container directory, given with whether it is the
    /// cgroup2 one.
    pub(super) fn open_dirs<'a>(dirs: impl Iterator<Item = (&'a Path, bool)>) -> Result<Entry> {
        let mut entry = Entry::default();
        for (dir, unified) in dirs {
            entry.add(dir, unified, |name, flags| {
                hierarchy::open(&dir.join(name), flags)
            })?;
        }
        Ok(entry)
    }

    /// Adds the entry point of the container directory `dir`, whose files `open` opens:
    /// the directory itself for cgroup2, its `tasks` file on v1.
    fn add(
        &mut self,
        dir: &Path,
        unified: bool,
        open: impl Fn(&str, i32) -> std::io::Result<OwnedFd>,
    ) -> Result<()> {
        if unified {
            let opened = open(".", libc::O_RDONLY | libc::O_DIRECTORY);
            self.unified = Some(opened.with_context(|| format!("opening {}", dir.display()))?);
        } else {
            let tasks = dir.join("tasks");
            let opened = open("tasks", libc::O_WRONLY);
            let file = opened.with_context(|| format!("opening {}", tasks.display()))?;
            self.tasks.push((tasks, file));
        }
        Ok(())
    }

    /// Whether this entry places the process in the cgroup by itself, leaving the parent
    /// nothing to move.
    pub fn is_complete(&self) -> bool {
        !self.tasks.is_empty() || self.unified.is_some()
    }

    /// The cgroup2 directory to clone the process into, if any.
    pub fn clone_into(&self) -> Option<RawFd> {
        self.unified.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Run by the new process itself, while it is single-threaded: moves it into the
    /// container's directory in every v1 hierarchy.
    pub fn join_self(&self) -> Result<()> {
        for (path, fd) in &self.tasks {
            nix::unistd::write(fd, b"0").with_context(|| {
                format!(
                    "joining the container's cgroup: writing 0 to {}",
                    path.display()
                )
            })?;
        }
        Ok(())
    }
}
