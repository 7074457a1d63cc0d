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
