use std::io::Read;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

use super::Global;
use crate::container::update::{self, parse_size, Patch};

// `skiff update`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// A LinuxResources JSON file with the new limits, or - for stdin
    #[arg(short, long, value_name = "FILE")]
    resources: Option<String>,
    /// Memory limit, in bytes or with a suffix (128M, 1g, 512k); -1 for none
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    memory: Option<i64>,
    /// Memory soft limit (as --memory)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    memory_reservation: Option<i64>,
    /// Memory plus swap limit (as --memory); -1 for unlimited swap
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    memory_swap: Option<i64>,
    /// Refused: kernel memory limits are not supported
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    kernel_memory: Option<i64>,
    /// Refused: kernel TCP memory limits are not supported
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    kernel_memory_tcp: Option<i64>,
    /// CPU shares (relative weight, 2 to 262144)
    #[arg(long, value_name = "SHARES")]
    cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds per period; -1 for none
    #[arg(long, value_name = "USEC", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long, value_name = "USEC")]
    cpu_period: Option<u64>,
    /// Real-time runtime in microseconds per real-time period
    #[arg(long, value_name = "USEC", allow_hyphen_values = true)]
    cpu_rt_runtime: Option<i64>,
    /// Real-time period in microseconds
    #[arg(long, value_name = "USEC")]
    cpu_rt_period: Option<u64>,
    /// CPUs the container may run on (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0-3, 0,1)
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes; -1 for none
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Block IO weight (10 to 1000)
    #[arg(long, value_name = "WEIGHT")]
    blkio_weight: Option<u16>,
    /// Refused: skiff does not manage resctrl (Intel RDT)
    #[arg(long, value_name = "SCHEMA")]
    l3_cache_schema: Option<String>,
    /// Refused: skiff does not manage resctrl (Intel RDT)
    #[arg(long, value_name = "SCHEMA")]
    mem_bw_schema: Option<String>,
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let patch = patch_of(&args)?;
    if patch.is_empty() {
        bail!("nothing to update: give a limit flag or --resources (see --help)");
    }
    update::update(&global.root, &args.id, &patch)
}

fn patch_of(args: &Args) -> Result<Patch> {
    if args.l3_cache_schema.is_some() {
        bail!("--l3-cache-schema: skiff does not manage resctrl (Intel RDT)");
    }
    if args.mem_bw_schema.is_some() {
        bail!("--mem-bw-schema: skiff does not manage resctrl (Intel RDT)");
    }
    if args.kernel_memory.is_some() {
        bail!("--kernel-memory: kernel memory limits are not supported (deprecated in the kernel, and absent from cgroup v2)");
    }
    if args.kernel_memory_tcp.is_some() {
        bail!("--kernel-memory-tcp: kernel memory limits are not supported (deprecated in the kernel, and absent from cgroup v2)");
    }
    // (section, field, flag, value)
    let flags: Vec<(&str, &str, &'static str, Option<Value>)> = vec![
        ("memory", "limit", "--memory", args.memory.map(Value::from)),
        (
            "memory",
            "reservation",
            "--memory-reservation",
            args.memory_reservation.map(Value::from),
        ),
        (
            "memory",
            "swap",
            "--memory-swap",
            args.memory_swap.map(Value::from),
        ),
        (
            "cpu",
            "shares",
            "--cpu-shares",
            args.cpu_shares.map(Value::from),
        ),
        (
            "cpu",
            "quota",
            "--cpu-quota",
            args.cpu_quota.map(Value::from),
        ),
        (
            "cpu",
            "period",
            "--cpu-period",
            args.cpu_period.map(Value::from),
        ),
        (
            "cpu",
            "realtimeRuntime",
            "--cpu-rt-runtime",
            args.cpu_rt_runtime.map(Value::from),
        ),
        (
            "cpu",
            "realtimePeriod",
            "--cpu-rt-period",
            args.cpu_rt_period.map(Value::from),
        ),
        (
            "cpu",
            "cpus",
            "--cpuset-cpus",
            args.cpuset_cpus.clone().map(Value::from),
        ),
        (
            "cpu",
            "mems",
            "--cpuset-mems",
            args.cpuset_mems.clone().map(Value::from),
        ),
        (
            "pids",
            "limit",
            "--pids-limit",
            args.pids_limit.map(Value::from),
        ),
        (
            "blockIO",
            "weight",
            "--blkio-weight",
            args.blkio_weight.map(Value::from),
        ),
    ];
    let given: Vec<&str> = flags
        .iter()
        .filter(|f| f.3.is_some())
        .map(|f| f.2)
        .collect();
    if let Some(source) = &args.resources {
        if let Some(flag) = given.first() {
            bail!("--resources cannot be combined with {flag}: put every limit in the JSON");
        }
        let text = if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("--resources -: reading the JSON from stdin")?;
            text
        } else {
            std::fs::read_to_string(source)
                .with_context(|| format!("--resources: reading {source}"))?
        };
        return Patch::from_json(&text, source);
    }
    let mut resources = Map::new();
    let mut names = Vec::new();
    for (section, field, flag, value) in flags {
        let Some(value) = value else { continue };
        if matches!(field, "cpus" | "mems") && value.as_str().is_some_and(|s| s.trim().is_empty()) {
            bail!("{flag}: an empty list");
        }
        let entry = resources
            .entry(section.to_string())
            .or_insert_with(|| json!({}));
        entry[field] = value;
        names.push((key_of(section, field), flag.to_string()));
    }
    // The spec requires the limit field of pids: it is there whenever pids is.
    Ok(Patch {
        resources: Value::Object(resources),
        names,
    })
}

/// `section.field` as a static key, for the names list.
fn key_of(section: &str, field: &str) -> &'static str {
    match (section, field) {
        ("memory", "limit") => "memory.limit",
        ("memory", "reservation") => "memory.reservation",
        ("memory", "swap") => "memory.swap",
        ("cpu", "shares") => "cpu.shares",
        ("cpu", "quota") => "cpu.quota",
        ("cpu", "period") => "cpu.period",
        ("cpu", "realtimeRuntime") => "cpu.realtimeRuntime",
        ("cpu", "realtimePeriod") => "cpu.realtimePeriod",
        ("cpu", "cpus") => "cpu.cpus",
        ("cpu", "mems") => "cpu.mems",
        ("pids", "limit") => "pids.limit",
        ("blockIO", "weight") => "blockIO.weight",
        _ => "",
    }
}
