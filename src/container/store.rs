//! The state directory: one directory per container under `--root`, holding `state.json`
//! (written atomically) and, while the container is `created`, the `exec.fifo` that `start`
//! writes to. A `flock` on the directory serialises commands on one container.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

use super::state::Record;

const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// Container IDs become directory names, so only a safe alphabet is accepted.
pub fn validate_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if !first_ok || !rest_ok || id.len() > 1024 {
        bail!("invalid container id {id:?}: it must match [A-Za-z0-9][A-Za-z0-9_.+-]*");
    }
    Ok(())
}

/// An open, locked container directory. The lock is released when this is dropped.
pub struct ContainerDir {
    pub path: PathBuf,
    _lock: Flock<File>,
}

impl ContainerDir {
    /// Creates the directory for a new container; fails if the ID is taken.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .with_context(|| format!("creating state root {}", root.display()))?;
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container {id:?} already exists")
            }
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", path.display()));
            }
        }
        Self::lock(path)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            bail!("container {id:?} does not exist");
        }
        let dir = Self::lock(path)?;
        // A concurrent delete may have removed it while this command waited for the lock.
        if !dir.path.join(STATE_FILE).exists() {
            bail!("container {id:?} does not exist");
        }
        Ok(dir)
    }

    fn lock(path: PathBuf) -> Result<ContainerDir> {
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(ContainerDir { path, _lock: lock })
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    pub fn save(&self, record: &Record) -> Result<()> {
        let target = self.path.join(STATE_FILE);
        let temp = self.path.join(".state.json.tmp");
        let bytes = serde_json::to_vec(record).context("serialising state")?;
        let mut file =
            File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(&bytes)
            .with_context(|| format!("writing {}", temp.display()))?;
        drop(file);
        std::fs::rename(&temp, &target)
            .with_context(|| format!("renaming {} into place", temp.display()))
    }

    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))
    }

    pub fn raw_fd(&self) -> i32 {
        self._lock.as_raw_fd()
    }
}

/// Reads a container's record without taking its lock: the file is replaced atomically, so a
/// reader sees either the old or the new record.
pub fn load(root: &Path, id: &str) -> Result<Record> {
    validate_id(id)?;
    let path = root.join(id).join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("container {id:?} does not exist")
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Every container ID with a state file under `root`, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", root.display())),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join(STATE_FILE).exists())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_style_ids() {
        for id in ["a", "abc-123", "A.b_c+d", "0"] {
            validate_id(id).unwrap();
        }
    }

    #[test]
    fn refuses_ids_that_could_escape_the_root() {
        for id in ["", "..", ".", "a/b", "-x", "_x", "a b", "/abs", "a\0b"] {
            let err = validate_id(id).unwrap_err().to_string();
            assert!(err.contains("invalid container id"), "{id:?}: {err}");
        }
    }
}
