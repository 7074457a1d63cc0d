//! The state directory: one directory per container under `--root`, holding `state.json`
//! (written atomically) and, while the container is `created`, the `exec.fifo` that `start`
//! writes to. A `flock` on the directory serialises commands on one container.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};

use super::state::Record;

const STATE_FILE: &str = "state.json";
/// The previous record, rewritten in place by the next update (see `ContainerDir::save`).
const SPARE_STATE_FILE: &str = ".state.json.spare";
/// The longest record written over the old one in place: one page, which the kernel
/// copies whole or not at all (see `ContainerDir::save`).
const IN_PLACE_MAX: usize = 4096;
/// The container's configuration as `create` read it.
const CONFIG_FILE: &str = "config.json";
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

/// How long a command waits for another command on the same container to finish.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the creates of earlier skiff versions filled a container's directory
/// before renaming it under its ID, `<root>/.creating/<pid>`: what one of them killed
/// midway left is still swept by `delete --force` (`remove_abandoned`).
const CREATING_DIR: &str = ".creating";

/// An open, locked container directory. The lock is released when this is dropped.
pub struct ContainerDir {
    pub path: PathBuf,
    _lock: Flock<File>,
    /// Whether `state.json` exists: a new directory's first record has nothing to swap
    /// with, and is renamed into place.
    recorded: std::cell::Cell<bool>,
}

impl ContainerDir {
    /// Creates the directory for a new container, locked, with its configuration in it;
    /// fails if the ID is taken. The `mkdir` of `<root>/<id>` takes the ID; until the
    /// first record is in it (the caller's first `save`), every reader treats the
    /// directory as absent (as a leftover of an interrupted `delete`, which `delete
    /// --force` removes), and the creator holds its lock from the start. One directory
    /// operation on the shared root per create: parallel creates all queue on that
    /// directory's lock, and a temporary directory renamed into place took three more and
    /// the filesystem's rename lock. The configuration is written in place, not through
    /// a temporary file: no one reads it before the first record is there.
    pub fn create(root: &Path, id: &str, config: &oci_spec::runtime::Spec) -> Result<ContainerDir> {
        validate_id(id)?;
        // A plain lookup first: mkdir of an existing directory still takes its parent's
        // lock for writing.
        if !root.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(root)
                .with_context(|| format!("creating state root {}", root.display()))?;
        }
        let path = root.join(id);
        match std::fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(super::errors::id_exists(id))
            }
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        let dir = Self::claim_made(path, id)?;
        dir.recorded.set(false);
        if let Err(error) = dir.write_config(config) {
            let _ = std::fs::remove_dir_all(&dir.path);
            return Err(error);
        }
        Ok(dir)
    }

    /// Locks the directory this create has just made at `path`. Between the `mkdir` and
    /// the lock, a `delete --force` may remove the empty directory and another create of
    /// the ID make its own there: whichever locks that one first has it. The loser finds
    /// the winner's record in it (or the directory gone) and fails, touching nothing:
    /// removing it would remove a whole container's record.
    fn claim_made(path: PathBuf, id: &str) -> Result<ContainerDir> {
        let dir = match Self::lock(path.clone()) {
            Ok(dir) => dir,
            Err(error) => {
                // Empty still unless someone else has it: then it is theirs.
                let _ = std::fs::remove_dir(&path);
                return Err(error);
            }
        };
        // A `delete --force` of the ID may have removed the empty directory (or replaced
        // it) before the lock was taken: that container is gone.
        if !dir.is_in_place() {
            bail!("container {id:?} was deleted while it was being created");
        }
        if dir.path.join(STATE_FILE).exists() {
            return Err(super::errors::id_exists(id));
        }
        Ok(dir)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir> {
        Self::open_existing(root, id)?.ok_or_else(|| super::errors::does_not_exist(id))
    }

    /// Like `open`, with `None` when there is no such container (also when it was
    /// removed, or replaced, while this command waited for the lock).
    pub fn open_existing(root: &Path, id: &str) -> Result<Option<ContainerDir>> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.join(STATE_FILE).exists() {
            return Ok(None);
        }
        let dir = match Self::lock(path) {
            Ok(dir) => dir,
            Err(_) if !root.join(id).exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        if !dir.is_in_place() || !dir.path.join(STATE_FILE).exists() {
            return Ok(None);
        }
        Ok(Some(dir))
    }

    /// Opens and locks `<root>/<id>` when it has no state file: what an interrupted
    /// `delete` leaves. `None` if there is no such directory (or it has a state file by
    /// the time the lock is held).
    pub fn open_leftover(root: &Path, id: &str) -> Result<Option<ContainerDir>> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Ok(None);
        }
        let dir = Self::lock(path)?;
        if !dir.is_in_place() || dir.path.join(STATE_FILE).exists() {
            return Ok(None);
        }
        Ok(Some(dir))
    }

    /// Locks `path`, waiting at most `LOCK_TIMEOUT` for whoever holds it.
    fn lock(path: PathBuf) -> Result<ContainerDir> {
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let lock = lock_file(file, FlockArg::LockExclusiveNonblock, &path)?;
        Ok(ContainerDir {
            path,
            _lock: lock,
            recorded: std::cell::Cell::new(true),
        })
    }

    /// Whether the locked directory is still the one at `path` (not removed, or replaced
    /// by a new container's, while this command waited for the lock).
    fn is_in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let locked = std::fs::File::metadata(&self._lock);
        let current = std::fs::symlink_metadata(&self.path);
        match (locked, current) {
            (Ok(locked), Ok(current)) => {
                locked.dev() == current.dev() && locked.ino() == current.ino()
            }
            _ => false,
        }
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Replaces the record atomically: readers see the old or the new one, whole.
    ///
    /// A record that fits in one page, replacing one that does too, is written over the
    /// old one in place, in one `pwrite` at offset 0, padded with spaces (which JSON
    /// allows after the value) to the old length so that no truncation follows. The
    /// kernel copies a one-page write into the page cache whole or not at all (a fatal
    /// signal is only acted on between pages), so a SIGKILL leaves the old record or the
    /// new one; readers hold a shared `flock` while they read, the writer an exclusive one
    /// while it writes. No file is made: on a journal-less ext4 (this bench machine's
    /// `/run`) each new inode scans past every inode freed in the last minutes, and a
    /// `run` made four.
    ///
    /// Otherwise (the first record, or a long one: annotations can be large) the new
    /// record is written into a spare file that is then swapped with `state.json`
    /// (`RENAME_EXCHANGE`), so the spare always holds the previous record and no file is
    /// freed per update. A rename over the old file instead costs ~0.2 ms per update on
    /// ext4 (the old inode freed, and the new file's data written out at once by
    /// `auto_da_alloc`). A reader that opened the previous record may still be reading it
    /// when the next update rewrites the spare in place: the same locks keep them apart.
    pub fn save(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec(record).context("serialising state")?;
        if self.recorded.get() && bytes.len() <= IN_PLACE_MAX && self.save_in_place(&bytes)? {
            return Ok(());
        }
        let spare = self.path.join(SPARE_STATE_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&spare)
            .with_context(|| format!("opening {}", spare.display()))?;
        let mut file = lock_file(file, FlockArg::LockExclusiveNonblock, &spare)?;
        file.write_all(&bytes)
            .and_then(|()| file.set_len(bytes.len() as u64))
            .with_context(|| format!("writing {}", spare.display()))?;
        // Unlocked before the swap: a reader blocked on it then reads the new record.
        drop(file);
        let target = self.path.join(STATE_FILE);
        if !self.recorded.get() {
            std::fs::rename(&spare, &target)
                .with_context(|| format!("renaming {} into place", spare.display()))?;
            self.recorded.set(true);
            return Ok(());
        }
        match nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &spare,
            nix::fcntl::AT_FDCWD,
            &target,
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        ) {
            Ok(()) => Ok(()),
            // The first record (nothing to swap with yet), or a filesystem that cannot
            // swap: the spare becomes the record.
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::EINVAL) => {
                std::fs::rename(&spare, &target)
                    .with_context(|| format!("renaming {} into place", spare.display()))
            }
            Err(e) => Err(e).with_context(|| format!("swapping {} into place", spare.display())),
        }
    }

    /// Writes `bytes` over `state.json` in place (see `save`); `false`, touching nothing,
    /// when the record there is longer than one page.
    fn save_in_place(&self, bytes: &[u8]) -> Result<bool> {
        use std::os::unix::fs::FileExt;
        let target = self.path.join(STATE_FILE);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&target)
            .with_context(|| format!("opening {}", target.display()))?;
        let file = lock_file(file, FlockArg::LockExclusiveNonblock, &target)?;
        let old_len = file
            .metadata()
            .with_context(|| format!("inspecting {}", target.display()))?
            .len() as usize;
        if old_len > IN_PLACE_MAX {
            return Ok(false);
        }
        let padded;
        let bytes = if bytes.len() < old_len {
            let mut longer = bytes.to_vec();
            longer.resize(old_len, b' ');
            padded = longer;
            &padded
        } else {
            bytes
        };
        let written = file
            .write_at(bytes, 0)
            .with_context(|| format!("writing {}", target.display()))?;
        if written != bytes.len() {
            bail!(
                "writing {}: {written} of {} bytes written",
                target.display(),
                bytes.len()
            );
        }
        Ok(true)
    }

    /// Keeps the configuration the container was created with: `exec`, `start` and
    /// `delete` use it (process defaults, seccomp, hooks) even after the bundle changed or
    /// went away.
    pub fn save_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let bytes = serde_json::to_vec(spec).context("serialising the configuration")?;
        self.replace_file(CONFIG_FILE, &bytes)
    }

    /// A new directory's configuration: written in place (see `create`).
    fn write_config(&self, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let bytes = serde_json::to_vec(spec).context("serialising the configuration")?;
        let path = self.path.join(CONFIG_FILE);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    }

    /// Writes `name` in the directory atomically (temp file + rename).
    fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let target = self.path.join(name);
        let temp = self.path.join(format!(".{name}.tmp"));
        let mut file =
            File::create(&temp).with_context(|| format!("writing {}", temp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing {}", temp.display()))?;
        drop(file);
        std::fs::rename(&temp, &target)
            .with_context(|| format!("renaming {} into place", temp.display()))
    }

    /// Removes the directory, its state file last: a removal cut short leaves either the
    /// whole record or an empty directory, never a record missing what it described.
    pub fn remove(self) -> Result<()> {
        let entries = std::fs::read_dir(&self.path)
            .with_context(|| format!("reading {}", self.path.display()))?;
        for entry in entries.flatten() {
            if entry.file_name() != STATE_FILE {
                let path = entry.path();
                let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.with_context(|| format!("removing {}", path.display()))?;
            }
        }
        let state = self.path.join(STATE_FILE);
        match std::fs::remove_file(&state) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", state.display())),
        }
        std::fs::remove_dir(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }

    pub fn raw_fd(&self) -> i32 {
        self._lock.as_raw_fd()
    }
}

/// `flock`s `file` (the non-blocking `how`), waiting at most `LOCK_TIMEOUT` for whoever
/// holds it; `path` names it in errors.
fn lock_file(mut file: File, how: FlockArg, path: &Path) -> Result<Flock<File>> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    let mut pause = Duration::from_micros(200);
    loop {
        match Flock::lock(file, how) {
            Ok(lock) => return Ok(lock),
            Err((returned, nix::errno::Errno::EWOULDBLOCK | nix::errno::Errno::EINTR)) => {
                if Instant::now() > deadline {
                    bail!(
                        "{} is still locked by another command after {} s",
                        path.display(),
                        LOCK_TIMEOUT.as_secs()
                    );
                }
                file = returned;
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err((_, errno)) => {
                return Err(errno).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// Removes the temporary directories of earlier creates that died before publishing them
/// (see `CREATING_DIR`): they hold nothing but a record of nothing made yet. Reads
/// `<root>/.creating` only (usually it does not exist), so the cost does not grow with the
/// number of containers.
pub fn remove_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root.join(CREATING_DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive =
            pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    // Gone with the last of them, unless another one is in flight.
    let _ = std::fs::remove_dir(root.join(CREATING_DIR));
}

/// Reads a container's record without taking the container's lock: the record is swapped
/// in whole (see `ContainerDir::save`), and the shared lock on the file keeps the next
/// update from rewriting it while it is read.
pub fn load(root: &Path, id: &str) -> Result<Record> {
    use std::io::Read;
    validate_id(id)?;
    let path = root.join(id).join(STATE_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(super::errors::does_not_exist(id))
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut file = lock_file(file, FlockArg::LockSharedNonblock, &path)?;
    let mut bytes = Vec::with_capacity(4096);
    file.read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    drop(file);
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// The configuration a container was created with (see `ContainerDir::save_config`).
pub fn load_config(root: &Path, id: &str) -> Result<oci_spec::runtime::Spec> {
    read_saved_config(root, id)
}

/// The saved configuration as `T`: the whole spec, or only the part a command needs
/// (serde skips the rest without building it).
fn read_saved_config<T: serde::de::DeserializeOwned>(root: &Path, id: &str) -> Result<T> {
    validate_id(id)?;
    let path = root.join(id).join(CONFIG_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Only the hooks of the configuration a container was created with: `start` and
/// `delete` need nothing else, and building the whole spec (with podman's seccomp profile
/// in it, thousands of strings) would be most of their parsing.
pub fn load_saved_hooks(root: &Path, id: &str) -> Result<Option<oci_spec::runtime::Hooks>> {
    #[derive(serde::Deserialize)]
    struct HooksOnly {
        hooks: Option<oci_spec::runtime::Hooks>,
    }
    Ok(read_saved_config::<HooksOnly>(root, id)?.hooks)
}

/// The entries under `root` whose names are valid container IDs, sorted. Not every one is
/// a container: the caller loads each, and one without a state file (a delete cut short,
/// or a stray file) fails to load. Checking for the state file here as well would cost a
/// `stat` per container on top of the read that follows.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", root.display())),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| validate_id(name).is_ok())
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

    fn record(id: &str) -> Record {
        Record {
            id: id.to_string(),
            pid: 0,
            pid_start_time: 0,
            bundle: PathBuf::from("/b"),
            rootfs: PathBuf::from("/b/rootfs"),
            created: String::new(),
            annotations: Default::default(),
            creator: None,
            cgroup: None,
        }
    }

    fn spec() -> oci_spec::runtime::Spec {
        serde_json::from_str(r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"}}"#).unwrap()
    }

    /// A new container's directory with its first record.
    fn created(root: &Path, id: &str) -> ContainerDir {
        let dir = ContainerDir::create(root, id, &spec()).unwrap();
        dir.save(&record(id)).unwrap();
        dir
    }

    fn scratch_root(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("skiff-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_published_directory_has_its_record_and_the_id_is_taken_once() {
        let root = scratch_root("publish");
        let dir = created(&root, "a");
        assert_eq!(dir.path, root.join("a"));
        assert_eq!(load(&root, "a").unwrap().id, "a");
        let err = ContainerDir::create(&root, "a", &spec()).err().unwrap();
        assert!(
            err.to_string().contains("container with id exists"),
            "{err}"
        );
        // Nothing but the container is left in the root: no temporary directories.
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a")]);
        dir.remove().unwrap();
        assert!(!root.join("a").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_saved_hooks_are_read_without_the_rest_of_the_configuration() {
        let root = scratch_root("hooks");
        let dir = created(&root, "a");
        let mut spec: oci_spec::runtime::Spec = serde_json::from_str(
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "hooks": {"poststop": [{"path": "/bin/echo", "args": ["echo", "gone"]}]}}"#,
        )
        .unwrap();
        dir.save_config(&spec).unwrap();
        let hooks = load_saved_hooks(&root, "a").unwrap().expect("hooks");
        let poststop = hooks.poststop().as_ref().expect("poststop");
        assert_eq!(poststop[0].path(), Path::new("/bin/echo"));
        assert_eq!(
            poststop[0].args().as_deref(),
            Some(&["echo".to_string(), "gone".to_string()][..])
        );
        spec.set_hooks(None);
        dir.save_config(&spec).unwrap();
        assert!(load_saved_hooks(&root, "a").unwrap().is_none());
        dir.remove().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_create_that_loses_its_directory_to_another_leaves_the_winner_alone() {
        let root = scratch_root("lost-claim");
        std::fs::create_dir_all(&root).unwrap();
        // This create's mkdir of the ID; before it takes the lock, a delete --force
        // removes the empty directory and another create makes, locks and records its own.
        let path = root.join("a");
        std::fs::create_dir(&path).unwrap();
        std::fs::remove_dir(&path).unwrap();
        let winner = created(&root, "a");
        let mut theirs = record("a");
        theirs.pid = 42;
        winner.save(&theirs).unwrap();
        drop(winner);
        let err = ContainerDir::claim_made(path, "a").err().expect("refused");
        assert!(
            err.to_string().contains("container with id exists"),
            "{err}"
        );
        assert_eq!(
            load(&root, "a").unwrap().pid,
            42,
            "the winner's record is kept"
        );
        ContainerDir::open(&root, "a").unwrap().remove().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_existing_empty_directory_is_not_replaced() {
        let root = scratch_root("empty");
        std::fs::create_dir_all(root.join("a")).unwrap();
        assert!(ContainerDir::create(&root, "a", &spec()).is_err());
        let leftover = ContainerDir::open_leftover(&root, "a")
            .unwrap()
            .expect("leftover");
        leftover.remove().unwrap();
        assert!(ContainerDir::open_leftover(&root, "a").unwrap().is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn temporary_directories_of_dead_creators_are_removed() {
        let root = scratch_root("abandoned");
        let creating = root.join(CREATING_DIR);
        let dead = creating.join(i32::MAX.to_string());
        let alive = creating.join(std::process::id().to_string());
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&alive).unwrap();
        remove_abandoned(&root);
        assert!(!dead.exists());
        assert!(alive.exists());
        // The last one gone, `.creating` goes too: the root is left as it was.
        std::fs::remove_dir_all(&alive).unwrap();
        remove_abandoned(&root);
        assert!(!creating.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_create_leaves_no_creating_dir_behind() {
        let root = scratch_root("no-creating-left");
        // Also after a failed one (the ID is taken).
        let dir = created(&root, "a");
        assert!(ContainerDir::create(&root, "a", &spec()).is_err());
        assert!(!root.join(CREATING_DIR).exists());
        // A create does not remove another create's directory in flight.
        let other = root.join(CREATING_DIR).join("1");
        std::fs::create_dir_all(&other).unwrap();
        let b = created(&root, "b");
        assert!(other.exists());
        b.remove().unwrap();
        dir.remove().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn short_updates_are_written_in_place_and_wait_for_readers() {
        use std::os::unix::fs::MetadataExt;
        let root = scratch_root("in-place");
        let dir = created(&root, "a");
        let state = root.join("a").join(STATE_FILE);
        let inode = std::fs::metadata(&state).unwrap().ino();
        let mut updated = record("a");
        updated.bundle = PathBuf::from("/a/much/longer/bundle/path/than/before");
        for pid in [10, 200, 3] {
            updated.pid = pid;
            dir.save(&updated).unwrap();
            assert_eq!(load(&root, "a").unwrap().pid, pid);
        }
        // A shorter record over a longer one: the rest is blank, and it still parses.
        dir.save(&record("a")).unwrap();
        let text = std::fs::read_to_string(&state).unwrap();
        assert!(text.ends_with(' '), "{text:?}");
        assert_eq!(load(&root, "a").unwrap().bundle, PathBuf::from("/b"));
        // No file was made or freed for any of them.
        assert_eq!(std::fs::metadata(&state).unwrap().ino(), inode);
        assert!(!root.join("a").join(SPARE_STATE_FILE).exists());
        // A reader's shared lock on the record holds the next update back.
        let reader = Flock::lock(File::open(&state).unwrap(), FlockArg::LockShared)
            .map_err(|(_, e)| e)
            .unwrap();
        drop(dir);
        let writer = std::thread::spawn({
            let root = root.clone();
            move || {
                let dir = ContainerDir::open(&root, "a").unwrap();
                let mut last = record("a");
                last.pid = 4;
                dir.save(&last).unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!writer.is_finished());
        assert_eq!(std::fs::read_to_string(&state).unwrap(), text);
        drop(reader);
        writer.join().unwrap();
        assert_eq!(load(&root, "a").unwrap().pid, 4);
        ContainerDir::open(&root, "a").unwrap().remove().unwrap();
        assert!(!root.join("a").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn long_records_are_swapped_in_with_a_spare() {
        use std::os::unix::fs::MetadataExt;
        let root = scratch_root("swap");
        let dir = created(&root, "a");
        let state = root.join("a").join(STATE_FILE);
        let spare = root.join("a").join(SPARE_STATE_FILE);
        let mut long = record("a");
        long.annotations
            .insert("big".to_string(), "x".repeat(IN_PLACE_MAX));
        for pid in [10, 200] {
            let before = std::fs::metadata(&state).unwrap().ino();
            long.pid = pid;
            dir.save(&long).unwrap();
            assert_eq!(load(&root, "a").unwrap().pid, pid);
            // The previous record's file became the spare.
            assert_eq!(std::fs::metadata(&spare).unwrap().ino(), before);
        }
        let previous: Record = serde_json::from_slice(&std::fs::read(&spare).unwrap()).unwrap();
        assert_eq!(previous.pid, 10);
        // A short record after a long one is swapped in too (the record there is longer
        // than a page), and the next one goes in place again.
        dir.save(&record("a")).unwrap();
        assert_eq!(load(&root, "a").unwrap().pid, 0);
        let short_inode = std::fs::metadata(&state).unwrap().ino();
        let mut short = record("a");
        short.pid = 7;
        dir.save(&short).unwrap();
        assert_eq!(load(&root, "a").unwrap().pid, 7);
        assert_eq!(std::fs::metadata(&state).unwrap().ino(), short_inode);
        dir.remove().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
