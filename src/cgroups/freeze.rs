//! Pausing and resuming a container: the v1 freezer (`freezer.state`) or cgroup2's
//! `cgroup.freeze`, in the container's own recorded directory only. A freeze is not
//! instantaneous (the kernel stops each task at a safe point), so `freeze` waits, with
//! sleeps and within a bound, for the kernel to report the cgroup frozen.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{Cgroup, Driver};

/// How long `freeze` waits for every task to stop before giving up and thawing again.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// The one file that freezes the container, by kind.
enum Freezer {
    /// A v1 freezer directory (`freezer.state`).
    V1(PathBuf),
    /// A cgroup2 directory (`cgroup.freeze`, `cgroup.events`).
    V2(PathBuf),
}

impl Cgroup {
    fn freezer(&self) -> Result<Freezer> {
        // The v1 freezer hierarchy is mounted at .../freezer by convention: looked at
        // first, so that `state` and `exec` make one probe instead of one per hierarchy.
        let find = |file: &str| {
            let mut dirs: Vec<&PathBuf> = self.record.dirs.iter().collect();
            dirs.sort_by_key(|d| !d.components().any(|c| c.as_os_str() == "freezer"));
            dirs.into_iter().find(|d| d.join(file).is_file())
        };
        match self.record.driver {
            // On a hybrid host the cgroup2 directory has cgroup.freeze too, but the v1
            // freezer is the one that holds the container's processes in every hierarchy.
            Driver::CgroupfsV1 => find("freezer.state")
                .map(|d| Freezer::V1(d.clone()))
                .with_context(|| {
                    format!(
                        "container {:?} has no freezer cgroup (no v1 freezer hierarchy is \
                         mounted): it cannot be paused",
                        self.id
                    )
                }),
            Driver::CgroupfsV2 => find("cgroup.freeze")
                .map(|d| Freezer::V2(d.clone()))
                .with_context(|| {
                    format!(
                        "container {:?}: its cgroup has no cgroup.freeze (the kernel needs \
                         5.2 or later to freeze a cgroup2 group)",
                        self.id
                    )
                }),
            Driver::Systemd => bail!(
                "container {:?}: pause and resume are not supported with the systemd cgroup \
                 driver yet",
                self.id
            ),
        }
    }

    /// Whether the container is paused: its freezer (the v1 one, or cgroup2's
    /// `cgroup.freeze`, as `freezer` picks it for `pause`) says frozen or freezing. A
    /// container without a freezer cannot be paused, so it is not.
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(match self.freezer() {
            Ok(Freezer::V1(dir)) => matches!(
                read(&dir.join("freezer.state"))?.as_str(),
                "FROZEN" | "FREEZING"
            ),
            Ok(Freezer::V2(dir)) => read(&dir.join("cgroup.freeze"))? == "1",
            Err(_) => false,
        })
    }

    /// Freezes every process in the container and waits until the kernel reports them
    /// all stopped. After `FREEZE_TIMEOUT` the cgroup is thawed again and an error says so.
    pub fn freeze(&self) -> Result<()> {
        let freezer = self.freezer()?;
        let (file, value) = match &freezer {
            Freezer::V1(dir) => (dir.join("freezer.state"), "FROZEN"),
            Freezer::V2(dir) => (dir.join("cgroup.freeze"), "1"),
        };
        write(&file, value)?;
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            let frozen = match &freezer {
                Freezer::V1(dir) => {
                    let state = read(&dir.join("freezer.state"))?;
                    // A v1 freeze can stall in FREEZING (a task in an uninterruptible
                    // sleep, one that was just forked): asking again retries the tasks
                    // the kernel could not stop yet.
                    if state == "FREEZING" {
                        write(&file, value)?;
                    }
                    state == "FROZEN"
                }
                Freezer::V2(dir) => events_frozen(dir)?,
            };
            if frozen {
                return Ok(());
            }
            if Instant::now() > deadline {
                let thawed = self.thaw();
                bail!(
                    "container {:?} did not freeze within {}s ({} still not frozen); {}",
                    self.id,
                    FREEZE_TIMEOUT.as_secs(),
                    file.display(),
                    match thawed {
                        Ok(()) => "it was thawed again".to_string(),
                        Err(e) => format!("thawing it again failed: {e:#}"),
                    }
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Lets the container's processes run again and waits until the kernel says so.
    pub fn thaw(&self) -> Result<()> {
        let freezer = self.freezer()?;
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            let thawed = match &freezer {
                Freezer::V1(dir) => {
                    write(&dir.join("freezer.state"), "THAWED")?;
                    read(&dir.join("freezer.state"))? == "THAWED"
                }
                Freezer::V2(dir) => {
                    write(&dir.join("cgroup.freeze"), "0")?;
                    !events_frozen(dir)?
                }
            };
            if thawed {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "container {:?} did not thaw within {}s",
                    self.id,
                    FREEZE_TIMEOUT.as_secs()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// Whether a cgroup2 directory's `cgroup.events` reports `frozen 1`: every task in it and
/// below it is stopped (`cgroup.freeze` alone is only what was asked for).
fn events_frozen(dir: &Path) -> Result<bool> {
    let events = read(&dir.join("cgroup.events"))?;
    Ok(events.lines().any(|line| line.trim() == "frozen 1"))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .with_context(|| format!("reading {}", path.display()))
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("writing {value} to {}", path.display()))
}
