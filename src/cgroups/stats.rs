//! A container's resource usage, as `events` reports it: libcgroups reads the cgroup
//! files, and this renames its numbers to the JSON field names runc's `events` uses, which
//! engines decode. Also the OOM counters `events` polls.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use libcgroups::common::CgroupManager;
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde::Serialize;

use super::{Cgroup, Driver};

/// One stats snapshot, in runc's `events` layout.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
}

#[derive(Debug, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Serialize)]
pub struct CpuUsage {
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Serialize)]
pub struct Pids {
    pub current: u64,
    /// 0 when unlimited, as runc reports it.
    pub limit: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Serialize)]
pub struct Hugetlb {
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// How many times the kernel met the container's memory limit with nothing left to
/// reclaim: (OOM kills so far, whether it is under OOM right now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OomCounter {
    pub kills: u64,
    pub under_oom: bool,
}

impl Cgroup {
    /// The container's resource usage now.
    pub fn stats(&self) -> Result<Snapshot> {
        if self.record.driver == Driver::CgroupfsV2 {
            let dir = self.record.dirs.first().with_context(|| {
                format!(
                    "container {:?}: its state names no cgroup directory",
                    self.id
                )
            })?;
            return v2_snapshot(dir);
        }
        let stats = self
            .manager()?
            .stats()
            .with_context(|| format!("reading the statistics of container {:?}", self.id))?;
        Ok(Snapshot::new(
            stats,
            self.record.driver == Driver::CgroupfsV1,
        ))
    }

    /// The OOM counters of the container's memory cgroup: `memory.oom_control` on v1,
    /// `memory.events` on cgroup2. `None` when it has no memory controller.
    pub fn oom_counter(&self) -> Result<Option<OomCounter>> {
        let (dir, file) = match self.record.driver {
            Driver::CgroupfsV1 => match self
                .record
                .dirs
                .iter()
                .find(|d| d.join("memory.oom_control").is_file())
            {
                Some(dir) => (dir, "memory.oom_control"),
                None => return Ok(None),
            },
            Driver::CgroupfsV2 => match self
                .record
                .dirs
                .iter()
                .find(|d| d.join("memory.events").is_file())
            {
                Some(dir) => (dir, "memory.events"),
                None => return Ok(None),
            },
            Driver::Systemd => return Ok(None),
        };
        read_oom_counter(&dir.join(file)).map(Some)
    }
}

/// A cgroup2 directory's numbers, read from its files (cgroup-v2.rst names them). A
/// file that is absent (a controller not enabled for the container, no PSI, an older
/// kernel without memory.peak) leaves its numbers at 0 rather than failing the whole
/// snapshot, as libcgroups' reader would.
fn v2_snapshot(dir: &Path) -> Result<Snapshot> {
    if !dir.join("cgroup.procs").is_file() {
        anyhow::bail!("{} is not a cgroup2 directory", dir.display());
    }
    let keyed = |file: &str| -> BTreeMap<String, u64> {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let key = fields.next()?.to_string();
                let value = fields.next()?.parse().ok()?;
                Some((key, value))
            })
            .collect()
    };
    // A single value; `max` (no limit) as u64::MAX, as runc reports it.
    let single = |file: &str| -> u64 {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        match text.trim() {
            "max" => u64::MAX,
            value => value.parse().unwrap_or(0),
        }
    };
    let cpu = keyed("cpu.stat");
    let at = |map: &BTreeMap<String, u64>, key: &str| map.get(key).copied().unwrap_or(0);
    let memory_stat = keyed("memory.stat");
    let memory_events = keyed("memory.events");
    let (usage, limit) = (single("memory.current"), single("memory.max"));
    let (swap_usage, swap_limit) = (single("memory.swap.current"), single("memory.swap.max"));
    // runc's swap entry on cgroup2 is memory plus swap, the v1 memsw meaning.
    let plus = |a: u64, b: u64| {
        if a == u64::MAX || b == u64::MAX {
            u64::MAX
        } else {
            a + b
        }
    };
    let pids_max = single("pids.max");
    let mut blkio = Blkio {
        io_service_bytes_recursive: Vec::new(),
        io_serviced_recursive: Vec::new(),
        io_queued_recursive: Vec::new(),
        io_service_time_recursive: Vec::new(),
        io_wait_time_recursive: Vec::new(),
        io_merged_recursive: Vec::new(),
        io_time_recursive: Vec::new(),
        sectors_recursive: Vec::new(),
    };
    // io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`.
    for line in std::fs::read_to_string(dir.join("io.stat"))
        .unwrap_or_default()
        .lines()
    {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            let (list, op) = match key {
                "rbytes" => (&mut blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    let mut hugetlb = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(".current"))
        else {
            continue;
        };
        let events = keyed(&format!("hugetlb.{size}.events"));
        hugetlb.insert(
            size.to_string(),
            Hugetlb {
                usage: single(&format!("hugetlb.{size}.current")),
                max: 0,
                failcnt: at(&events, "max"),
            },
        );
    }
    Ok(Snapshot {
        cpu: Cpu {
            usage: CpuUsage {
                total: at(&cpu, "usage_usec") * 1000,
                percpu: Vec::new(),
                percpu_kernel: Vec::new(),
                percpu_user: Vec::new(),
                kernel: at(&cpu, "system_usec") * 1000,
                user: at(&cpu, "user_usec") * 1000,
            },
            throttling: Throttling {
                periods: at(&cpu, "nr_periods"),
                throttled_periods: at(&cpu, "nr_throttled"),
                throttled_time: at(&cpu, "throttled_usec") * 1000,
            },
        },
        memory: Memory {
            cache: at(&memory_stat, "file"),
            usage: MemoryEntry {
                limit,
                usage,
                max: single("memory.peak"),
                failcnt: at(&memory_events, "max"),
            },
            swap: MemoryEntry {
                limit: plus(limit, swap_limit),
                usage: usage + swap_usage,
                max: 0,
                failcnt: 0,
            },
            kernel: MemoryEntry {
                limit: 0,
                usage: 0,
                max: 0,
                failcnt: 0,
            },
            kernel_tcp: MemoryEntry {
                limit: 0,
                usage: 0,
                max: 0,
                failcnt: 0,
            },
            raw: memory_stat,
        },
        pids: Pids {
            current: single("pids.current"),
            limit: if pids_max == u64::MAX { 0 } else { pids_max },
        },
        blkio,
        hugetlb,
    })
}

/// The `oom_kill` count (both files have it, kernel 4.13 and later) and v1's `under_oom`
/// flag, from a flat keyed file.
fn read_oom_counter(path: &Path) -> Result<OomCounter> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut counter = OomCounter::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match key {
            "oom_kill" => counter.kills = value,
            "under_oom" => counter.under_oom = value != 0,
            _ => {}
        }
    }
    Ok(counter)
}

impl Snapshot {
    /// libcgroups passes the kernel's units on: on v1 `cpuacct.stat`'s user and system
    /// times are clock ticks (the rest nanoseconds), on cgroup2 every `cpu.stat` time is
    /// microseconds. runc reports nanoseconds throughout.
    fn new(stats: Stats, v1: bool) -> Snapshot {
        let mut usage = stats.cpu.usage;
        let mut throttling = stats.cpu.throttling;
        if v1 {
            let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
                .ok()
                .flatten()
                .filter(|t| *t > 0)
                .unwrap_or(100) as u64;
            let per_tick = 1_000_000_000 / ticks;
            usage.usage_user = usage.usage_user.saturating_mul(per_tick);
            usage.usage_kernel = usage.usage_kernel.saturating_mul(per_tick);
        } else {
            usage.usage_total = usage.usage_total.saturating_mul(1000);
            usage.usage_user = usage.usage_user.saturating_mul(1000);
            usage.usage_kernel = usage.usage_kernel.saturating_mul(1000);
            throttling.throttled_time = throttling.throttled_time.saturating_mul(1000);
        }
        let memory = stats.memory;
        let entry = |data: &MemoryData| MemoryEntry {
            limit: data.limit,
            usage: data.usage,
            max: data.max_usage,
            failcnt: data.fail_count,
        };
        let blkio = |entries: &[BlkioDeviceStat]| {
            entries
                .iter()
                .map(|e| BlkioEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op_type.clone().unwrap_or_default(),
                    value: e.value,
                })
                .collect::<Vec<_>>()
        };
        let io = &stats.blkio;
        Snapshot {
            cpu: Cpu {
                usage: CpuUsage {
                    total: usage.usage_total,
                    percpu: usage.per_core_usage_total,
                    percpu_kernel: usage.per_core_usage_kernel,
                    percpu_user: usage.per_core_usage_user,
                    kernel: usage.usage_kernel,
                    user: usage.usage_user,
                },
                throttling: Throttling {
                    periods: throttling.periods,
                    throttled_periods: throttling.throttled_periods,
                    throttled_time: throttling.throttled_time,
                },
            },
            memory: Memory {
                cache: memory.cache,
                usage: entry(&memory.memory),
                swap: entry(&memory.memswap),
                kernel: entry(&memory.kernel),
                kernel_tcp: entry(&memory.kernel_tcp),
                raw: memory.stats.into_iter().collect(),
            },
            pids: Pids {
                current: stats.pids.current,
                limit: stats.pids.limit,
            },
            blkio: Blkio {
                io_service_bytes_recursive: blkio(&io.service_bytes),
                io_serviced_recursive: blkio(&io.serviced),
                io_queued_recursive: blkio(&io.queued),
                io_service_time_recursive: blkio(&io.service_time),
                io_wait_time_recursive: blkio(&io.wait_time),
                io_merged_recursive: blkio(&io.merged),
                io_time_recursive: blkio(&io.time),
                sectors_recursive: blkio(&io.sectors),
            },
            hugetlb: stats
                .hugetlb
                .into_iter()
                .map(|(size, h)| {
                    let entry = Hugetlb {
                        usage: h.usage,
                        max: h.max_usage,
                        failcnt: h.fail_count,
                    };
                    (size, entry)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cgroup2 files as cgroup-v2.rst lays them out, in a scratch directory.
    #[test]
    fn cgroup2_files_become_runc_numbers() {
        let dir = std::env::temp_dir().join(format!("skiff-v2-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = [
            ("cgroup.procs", "1\n"),
            ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n"),
            ("memory.current", "8192\n"),
            ("memory.max", "67108864\n"),
            ("memory.swap.current", "0\n"),
            ("memory.swap.max", "max\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.stat", "anon 4096\nfile 4096\n"),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            ("io.stat", "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n"),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.events", "max 0\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let snapshot = v2_snapshot(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let json = serde_json::to_value(snapshot.unwrap()).unwrap();
        assert_eq!(json["cpu"]["usage"]["total"], 1_500_000);
        assert_eq!(json["cpu"]["usage"]["user"], 1_000_000);
        assert_eq!(json["cpu"]["usage"]["kernel"], 500_000);
        assert_eq!(json["cpu"]["throttling"]["throttledTime"], 20_000);
        assert_eq!(json["memory"]["usage"]["usage"], 8192);
        assert_eq!(json["memory"]["usage"]["limit"], 67_108_864);
        assert_eq!(json["memory"]["usage"]["failcnt"], 3);
        assert_eq!(json["memory"]["swap"]["limit"], u64::MAX);
        assert_eq!(json["memory"]["cache"], 4096);
        assert_eq!(json["memory"]["raw"]["anon"], 4096);
        assert_eq!(json["pids"], serde_json::json!({"current": 2, "limit": 0}));
        assert_eq!(
            json["blkio"]["ioServiceBytesRecursive"],
            serde_json::json!([
                {"major": 8, "minor": 0, "op": "Read", "value": 512},
                {"major": 8, "minor": 0, "op": "Write", "value": 1024}
            ])
        );
        assert_eq!(json["hugetlb"]["2MB"]["failcnt"], 0);
    }

    #[test]
    fn oom_counters_are_read_from_either_file() {
        let dir = std::env::temp_dir().join(format!("skiff-oom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v1 = dir.join("memory.oom_control");
        std::fs::write(&v1, "oom_kill_disable 0\nunder_oom 1\noom_kill 2\n").unwrap();
        let v2 = dir.join("memory.events");
        std::fs::write(&v2, "low 0\nhigh 0\nmax 5\noom 3\noom_kill 3\n").unwrap();
        let (v1, v2) = (
            read_oom_counter(&v1).unwrap(),
            read_oom_counter(&v2).unwrap(),
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            v1,
            OomCounter {
                kills: 2,
                under_oom: true
            }
        );
        assert_eq!(
            v2,
            OomCounter {
                kills: 3,
                under_oom: false
            }
        );
    }
}
