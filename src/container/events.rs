//! `events`: the container's resource usage as runc's JSON events, one snapshot
//! (`--stats`) or one every interval, with an `oom` event whenever its memory cgroup
//! records an OOM, until the container stops.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::state::Status;
use super::store;
use crate::cgroups::Cgroup;

/// How often the OOM counters (and whether the container still runs) are looked at
/// between stats events.
const POLL: Duration = Duration::from_millis(100);

#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

fn emit<T: Serialize>(out: &mut impl Write, kind: &str, id: &str, data: Option<T>) -> Result<()> {
    let line = serde_json::to_string(&Event { kind, id, data })?;
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("writing an event to stdout")
}

/// The container's cgroup, refusing a stopped container as runc does.
fn running_cgroup(root: &Path, id: &str) -> Result<Cgroup> {
    let record = store::load(root, id)?;
    match super::status_of(root, &record) {
        Status::Stopped => return Err(super::errors::not_running(id)),
        Status::Creating => bail!("container {id:?} is still being created"),
        Status::Created | Status::Running | Status::Paused => {}
    }
    super::pause::cgroup_of(&record)
}

/// One stats event.
pub fn stats_once(root: &Path, id: &str) -> Result<()> {
    let cgroup = running_cgroup(root, id)?;
    emit(
        &mut std::io::stdout().lock(),
        "stats",
        id,
        Some(cgroup.stats()?),
    )
}

/// Stats every `interval` and OOM events as they happen, until the container stops.
pub fn follow(root: &Path, id: &str, interval: Duration) -> Result<()> {
    let cgroup = running_cgroup(root, id)?;
    let mut out = std::io::stdout().lock();
    let mut last_oom = cgroup.oom_counter()?;
    let mut next_stats = Instant::now();
    loop {
        // Looked at before the OOM counters, so that an OOM that killed the init is still
        // reported before the stream ends.
        let still_there = match store::load(root, id) {
            Ok(record) => super::status_of(root, &record) != Status::Stopped,
            Err(_) => false,
        };
        // The cgroup may vanish meanwhile (a delete): that ends the stream rather than
        // failing it.
        let oom = match cgroup.oom_counter() {
            Ok(oom) => oom,
            Err(_) if !cgroup_exists(&cgroup) => return Ok(()),
            Err(error) => return Err(error),
        };
        if let (Some(before), Some(now)) = (last_oom, oom) {
            if now.kills > before.kills || (now.under_oom && !before.under_oom) {
                emit::<()>(&mut out, "oom", id, None)?;
            }
        }
        last_oom = oom.or(last_oom);
        if !still_there {
            return Ok(());
        }
        if Instant::now() >= next_stats {
            match cgroup.stats() {
                Ok(stats) => emit(&mut out, "stats", id, Some(stats))?,
                Err(_) if !cgroup_exists(&cgroup) => return Ok(()),
                Err(error) => return Err(error),
            }
            next_stats += interval;
        }
        let until_stats = next_stats.saturating_duration_since(Instant::now());
        std::thread::sleep(until_stats.min(POLL));
    }
}

fn cgroup_exists(cgroup: &Cgroup) -> bool {
    cgroup.record().dirs.iter().all(|d| d.is_dir())
}

/// A Go duration (`5s`, `100ms`, `1m30s`, `1.5h`, `250us`): what runc's `--interval`
/// takes. Zero and negative intervals are refused.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let invalid =
        || anyhow::anyhow!("--interval: invalid duration {text:?} (like 5s, 100ms, 1m30s)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    if !(total > 0.0 && total < 1e9) {
        bail!("--interval: {text:?} is not a positive duration");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_are_parsed() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in [
            "",
            "5",
            "s",
            "5x",
            "-1s",
            "0s",
            "1..2s",
            "5 s",
            "99999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
