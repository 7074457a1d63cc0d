//! `pause` and `resume`: freezing and thawing every process in the container's cgroup.
//! Only the cgroup the state records for the container is ever frozen.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::state::{Record, Status};
use super::store::{self, ContainerDir};
use crate::cgroups::Cgroup;

/// The recorded cgroup of a container, refusing one that has none.
pub fn cgroup_of(record: &Record) -> Result<Cgroup> {
    let recorded = record
        .cgroup
        .as_ref()
        .with_context(|| format!("container {:?} has no cgroup in its state", record.id))?;
    Cgroup::from_record(recorded, &record.id)
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    // Locked, so a concurrent delete or start waits rather than racing the freeze.
    let _dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    match super::status_of(root, &record) {
        Status::Running => {}
        Status::Paused => bail!("container {id:?} is already paused"),
        Status::Created => {
            return Err(super::errors::not_running_because(
                id,
                "it is created (start it first)",
            ))
        }
        Status::Creating => {
            return Err(super::errors::not_running_because(
                id,
                "it is still being created",
            ))
        }
        Status::Stopped => return Err(super::errors::not_running(id)),
    }
    cgroup_of(&record)?.freeze()
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    let _dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    match super::status_of(root, &record) {
        Status::Paused => {}
        Status::Stopped => bail!("container {id:?} is not paused: it is stopped"),
        other => bail!("container {id:?} is not paused: it is {}", other.as_str()),
    }
    cgroup_of(&record)?.thaw()
}
