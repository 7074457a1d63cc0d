//! `delete`: remove a stopped (or, with `--force`, any) container: its processes, the
//! cgroup directories its record says skiff made, and its state directory. Nothing that
//! the record does not name is touched.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use super::create::Created;
use super::state::Status;
use super::store::{self, ContainerDir};
use crate::cgroups::Cgroup;
use crate::hooks::Kind;
use crate::oci_state::ContainerState;
use oci_spec::runtime::Hooks;

/// The cgroup driver comes from the record, whatever `--systemd-cgroup` says now.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    store::validate_id(id)?;
    if force {
        store::remove_abandoned(root);
    }
    // The lock (waited for, within a bound) keeps this from racing a create, start or
    // delete of the same container; what is read after it is current.
    let Some(dir) = ContainerDir::open_existing(root, id)? else {
        if !force {
            return Err(super::errors::does_not_exist(id));
        }
        // As runc does, a forced delete of a container that is gone succeeds; a state
        // directory whose removal was cut short (no state file left) is finished off.
        if let Some(leftover) = ContainerDir::open_leftover(root, id)? {
            leftover.remove()?;
        }
        return Ok(());
    };
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    match status {
        Status::Running if !force => {
            bail!("cannot delete container {id:?}: it is running (stop it first or use --force)")
        }
        Status::Paused if !force => {
            bail!("cannot delete container {id:?}: it is paused (stop it first or use --force)")
        }
        Status::Creating => {
            bail!("cannot delete container {id:?}: it is still being created")
        }
        _ => {}
    }
    let cgroup = match &record.cgroup {
        Some(recorded) => Some(Cgroup::from_record(recorded, id)?),
        None => None,
    };
    // A stopped container's cgroup is usually empty already: then a bare rmdir of each
    // directory is the whole job (the kernel refuses it while anything is left inside).
    if status == Status::Stopped {
        if let Some(cgroup) = &cgroup {
            if cgroup.remove_if_empty()? {
                return remove(dir, None);
            }
        }
    }
    // Also after a killed create, whose init may still be dying with its creator.
    if let Some(cgroup) = &cgroup {
        let _ = super::kill::signal_cgroup(cgroup, libc::SIGKILL);
        // Frozen tasks do not die on v1 until thawed (nor can the cgroup be removed with
        // them in it); thawed after the signal, they never run another instruction. Also
        // when the init is gone but processes it left are still frozen.
        if cgroup.is_frozen().unwrap_or(false) {
            let _ = cgroup.thaw();
        }
    }
    if super::state::process_is_alive(record.pid, record.pid_start_time) {
        let _ = crate::sys::send_signal(record.pid, libc::SIGKILL);
        if !super::wait_until_dead(&record, Duration::from_secs(10)) {
            bail!(
                "container {id:?}: its init {} did not die after SIGKILL",
                record.pid
            );
        }
    }
    remove(dir, cgroup.as_ref())
}

/// The last step of every delete: the cgroup (if the container has one), then the state
/// directory and the poststop hooks of the saved configuration. A failing hook is a
/// warning: the container is gone either way.
pub fn remove(dir: ContainerDir, cgroup: Option<&Cgroup>) -> Result<()> {
    let hooks = saved_hooks_of(&dir);
    remove_with_hooks(dir, cgroup, hooks.as_ref())
}

/// Removes a container this process created (`run`, its init reaped or killed) with the
/// cgroup and the hooks it still has in hand: the saved configuration is not read back.
pub fn remove_created(created: &Created, root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    remove_with_hooks(dir, created.cgroup.as_ref(), created.hooks.as_ref())
}

fn remove_with_hooks(
    dir: ContainerDir,
    cgroup: Option<&Cgroup>,
    hooks: Option<&Hooks>,
) -> Result<()> {
    if let Some(cgroup) = cgroup {
        cgroup.remove()?;
    }
    // The state the hooks get is read first: it goes with the directory.
    let state = if Kind::Poststop.of(hooks).is_empty() {
        None
    } else {
        stopped_state(&dir)
    };
    dir.remove()?;
    if let Some(state) = state {
        crate::hooks::run_warning_on_failure(hooks, Kind::Poststop, &state);
    }
    Ok(())
}

/// The hooks of the container's saved configuration; none, with a warning, when it
/// cannot be read (nothing can be done about it any more, and the delete goes on).
fn saved_hooks_of(dir: &ContainerDir) -> Option<Hooks> {
    let (root, id) = root_and_id(dir)?;
    match super::start::saved_hooks(root, id) {
        Ok(hooks) => hooks,
        Err(error) => {
            crate::hooks::warn(&format!("hooks.poststop not run: {error:#}"));
            None
        }
    }
}

/// The state poststop hooks get; `None`, with a warning, when the record is unreadable.
fn stopped_state(dir: &ContainerDir) -> Option<ContainerState> {
    let (root, id) = root_and_id(dir)?;
    let record = match store::load(root, id) {
        Ok(record) => record,
        Err(error) => {
            crate::hooks::warn(&format!("hooks.poststop not run: {error:#}"));
            return None;
        }
    };
    // pid 0: the init is gone, and its PID may already be another process'.
    Some(ContainerState::new(
        id,
        "stopped",
        0,
        &record.bundle,
        &record.annotations,
    ))
}

fn root_and_id(dir: &ContainerDir) -> Option<(&Path, &str)> {
    Some((dir.path.parent()?, dir.path.file_name()?.to_str()?))
}
