//! `kill`: a signal to the init, or with `--all` to every process in the container's cgroup.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::state::{self, Record, Status};
use super::store;
use crate::cgroups::Cgroup;
use crate::sys;

/// The cgroup driver comes from the record, whatever `--systemd-cgroup` says now.
pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    if all {
        // Only the container's own directories, which held no one else when it was made.
        let Some(recorded) = &record.cgroup else {
            return Ok(());
        };
        let cgroup = Cgroup::from_record(recorded, &record.id)?;
        signal_cgroup(&cgroup, signal)?;
        return thaw_after_kill(&cgroup, status, signal);
    }
    match status {
        Status::Stopped => return Err(super::errors::not_running(id)),
        Status::Creating => bail!("container {id:?} is still being created"),
        Status::Created | Status::Running | Status::Paused => {}
    }
    signal_init(&record, signal)?;
    match &record.cgroup {
        Some(recorded) if status == Status::Paused => {
            thaw_after_kill(&Cgroup::from_record(recorded, &record.id)?, status, signal)
        }
        _ => Ok(()),
    }
}

/// A v1 freezer holds even SIGKILL until the tasks thaw, so a paused container that was
/// sent SIGKILL is thawed to let it die. Other signals wait for `resume`, and on cgroup2
/// SIGKILL reaches frozen tasks, so the freeze is kept there.
fn thaw_after_kill(cgroup: &Cgroup, status: Status, signal: i32) -> Result<()> {
    if status != Status::Paused
        || signal != libc::SIGKILL
        || cgroup.record().driver != crate::cgroups::Driver::CgroupfsV1
    {
        return Ok(());
    }
    cgroup
        .thaw()
        .context("thawing the paused container so that SIGKILL can end it")
}

/// Signals the recorded init through a pidfd: once the descriptor is open and the start
/// time behind it checked, the signal can only reach that process, never one that was
/// given its PID after it exited.
fn signal_init(record: &Record, signal: i32) -> Result<()> {
    let not_running = || super::errors::not_running(&record.id);
    let pidfd = match sys::pidfd::open(record.pid) {
        Ok(pidfd) => pidfd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(not_running()),
        Err(e) => return Err(e).with_context(|| format!("opening a pidfd for {}", record.pid)),
    };
    if !state::process_is_alive(record.pid, record.pid_start_time) {
        return Err(not_running());
    }
    match sys::pidfd::send_signal(&pidfd, signal) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(not_running()),
        Err(e) => Err(e).with_context(|| format!("sending signal {signal} to {}", record.pid)),
    }
}

/// Signals every process in the container's cgroup, including any that left the init's
/// process tree.
pub fn signal_cgroup(cgroup: &Cgroup, signal: i32) -> Result<()> {
    for pid in cgroup.pids()? {
        match sys::send_signal(pid, signal) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("sending signal {signal} to {pid}")),
        }
    }
    Ok(())
}

/// A signal given as a number (`9`), a name (`KILL`) or a SIG-name (`SIGKILL`).
pub fn parse_signal(text: &str) -> Result<i32> {
    if let Ok(number) = text.parse::<i32>() {
        if (0..=libc::SIGRTMAX()).contains(&number) {
            return Ok(number);
        }
        bail!("invalid signal number {number}");
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(offset) = name.strip_prefix("RTMIN+") {
        let offset: i32 = offset
            .parse()
            .with_context(|| format!("invalid signal {text:?}"))?;
        return Ok(libc::SIGRTMIN() + offset);
    }
    if let Some(offset) = name.strip_prefix("RTMAX-") {
        let offset: i32 = offset
            .parse()
            .with_context(|| format!("invalid signal {text:?}"))?;
        return Ok(libc::SIGRTMAX() - offset);
    }
    let signal: nix::sys::signal::Signal = format!("SIG{name}")
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid signal {text:?}"))?;
    Ok(signal as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_names_and_sig_names() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
    }

    #[test]
    fn refuses_unknown_signals() {
        for bad in ["-1", "999", "NOPE", "SIG", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
