//! What skiff remembers about a container between commands, and how its status is derived
//! from the live process rather than trusted from the file.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still at work (the runtime spec's "creating").
    Creating,
    /// The init is set up and blocked, waiting for `start`.
    Created,
    Running,
    /// The init is alive and the container's cgroup is frozen (`pause`).
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A process as recorded: its PID and its start time, so a reused PID never matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessRef {
    pub fn of(pid: i32) -> anyhow::Result<ProcessRef> {
        Ok(ProcessRef {
            pid,
            start_time: start_time_of(pid)?,
        })
    }

    pub fn is_alive(&self) -> bool {
        process_is_alive(self.pid, self.start_time)
    }
}

/// The record kept in `<root>/<id>/state.json`. It is written before `create` makes
/// anything outside the state directory and updated before each thing it makes, so a
/// `create` killed at any instant leaves a record of everything there is to undo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The init, or 0 before it is cloned.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (`/proc/<pid>/stat` field 22): a PID
    /// that was reused by another process will not match it.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub annotations: HashMap<String, String>,
    /// The `create` (or `run`) process while it is still creating the container; `None`
    /// once the container is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<ProcessRef>,
    /// The container's cgroup: driver, directories, and which of them skiff made.
    pub cgroup: Option<crate::cgroups::CgroupRecord>,
}

/// What `state` prints: the runtime spec's state plus runc's `rootfs`, `created`, `owner`.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub pid: i32,
    pub status: &'a str,
    pub bundle: &'a PathBuf,
    pub rootfs: &'a PathBuf,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

impl Record {
    /// The first record of a container this process is about to make (`create`, `run`,
    /// `restore`): no init and no cgroup yet, and this process as its creator.
    pub fn new_creation(id: &str, bundle: &crate::spec::Bundle) -> anyhow::Result<Record> {
        Ok(Record {
            id: id.to_string(),
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: rfc3339_now(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            creator: Some(ProcessRef::of(std::process::id() as i32)?),
            cgroup: None,
        })
    }

    pub fn report<'a>(&'a self, status: Status, owner: &'a str) -> Report<'a> {
        Report {
            oci_version: crate::SPEC_VERSION,
            id: &self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner,
            annotations: &self.annotations,
        }
    }
}

/// Whether `pid` is still the process that was recorded: alive, not a zombie, and started at
/// the recorded time.
pub fn process_is_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match read_stat(pid) {
        Some((state, started)) => started == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

pub fn start_time_of(pid: i32) -> anyhow::Result<u64> {
    use anyhow::Context;
    read_stat(pid)
        .map(|(_, started)| started)
        .with_context(|| format!("reading /proc/{pid}/stat"))
}

/// The state and start time in `/proc/<pid>/stat`: one open and read, as `list` does it for
/// every container (a general /proc parser costs twice the system calls).
fn read_stat(pid: i32) -> Option<(char, u64)> {
    let text = crate::sys::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Field 3 (state) and field 22 (starttime) of a stat line. The command name, field 2, is
/// in parentheses and may itself hold spaces and parentheses: fields are counted after
/// the last `)`.
fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}

/// RFC 3339 UTC with nanoseconds, as runc writes `created`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format_rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn format_rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// public-domain algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_rfc3339(1_795_428_185, 857_175_292),
            "2026-11-23T10:03:05.857175292Z"
        );
        assert_eq!(
            format_rfc3339(951_782_400, 1),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let tail = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 20 21";
        assert_eq!(
            parse_stat(&format!("77 (sleep) {tail}\n")),
            Some(('S', 4242))
        );
        // A command name with spaces and parentheses, as a container's process may pick.
        assert_eq!(
            parse_stat(&format!("77 (a) Z 9 (b) {tail}")),
            Some(('S', 4242))
        );
        assert_eq!(parse_stat("77 (short) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn our_own_process_is_alive_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let start = start_time_of(pid).unwrap();
        assert!(process_is_alive(pid, start));
        assert!(!process_is_alive(pid, start + 1));
        assert!(!process_is_alive(0, start));
    }
}
