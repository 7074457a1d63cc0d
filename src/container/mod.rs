//! A container's lifecycle: one file per operation, sharing the state store and the rule
//! that status is derived from the live init.

pub mod checkpoint;
pub mod create;
pub mod criu_common;
pub mod delete;
pub mod errors;
pub mod events;
pub mod exec;
mod exec_user;
pub mod kill;
pub mod pause;
mod pid_file;
pub mod ps;
pub mod restore;
pub mod start;
pub mod state;
pub mod store;
pub mod update;

use std::path::Path;

use state::{Record, Status};

/// The live status of a recorded container. A running init whose cgroup is frozen is
/// `paused`. A record whose creator is still alive is
/// `creating`; one whose creator died before finishing is what is left of a killed
/// `create`, reported `stopped` so that `delete` removes it.
pub fn status_of(root: &Path, record: &Record) -> Status {
    if let Some(creator) = &record.creator {
        return if creator.is_alive() {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    if !state::process_is_alive(record.pid, record.pid_start_time) {
        return Status::Stopped;
    }
    if root.join(&record.id).join(store::EXEC_FIFO).exists() {
        Status::Created
    } else if record
        .cgroup
        .as_ref()
        .is_some_and(crate::cgroups::record_is_frozen)
    {
        Status::Paused
    } else {
        Status::Running
    }
}

/// Polls until the recorded init is gone (or a zombie), for up to `timeout`.
pub fn wait_until_dead(record: &Record, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let mut pause = std::time::Duration::from_micros(200);
    while state::process_is_alive(record.pid, record.pid_start_time) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(20));
    }
    true
}
