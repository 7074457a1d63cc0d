//! `delete`: remove a stopped (or, with `--force`, any) container: its processes, cgroup and
//! state directory.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use super::state::Status;
use super::store::{self, ContainerDir};
use crate::cgroups::Cgroup;

pub fn delete(root: &Path, id: &str, force: bool, systemd: bool) -> Result<()> {
    store::validate_id(id)?;
    let dir = match ContainerDir::open(root, id) {
        Ok(dir) => dir,
        // As runc does, a forced delete of a container that is gone (or whose create was
        // interrupted before it wrote its state) succeeds, removing any leftover directory.
        Err(_) if force => {
            let leftover = root.join(id);
            if leftover.is_dir() {
                std::fs::remove_dir_all(&leftover)?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    if status == Status::Running && !force {
        bail!("cannot delete container {id:?}: it is running (stop it first or use --force)");
    }
    let cgroup = Cgroup::open(&record.cgroup_path, systemd, id)?;
    if status != Status::Stopped {
        let _ = super::kill::signal_cgroup(&cgroup, libc::SIGKILL);
        let _ = crate::sys::send_signal(record.pid, libc::SIGKILL);
        if !super::wait_until_dead(&record, Duration::from_secs(10)) {
            bail!(
                "container {id:?}: its init {} did not die after SIGKILL",
                record.pid
            );
        }
    }
    remove(dir, &cgroup)
}

/// The last step of every delete: the cgroup, then the state directory.
pub fn remove(dir: ContainerDir, cgroup: &Cgroup) -> Result<()> {
    cgroup.remove()?;
    dir.remove()
}
