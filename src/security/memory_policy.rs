//! `linux.memoryPolicy`: the NUMA memory policy (set_mempolicy) of the container's
//! processes. Checked against the kernel's rules and the host's online nodes when the
//! config is loaded; applied by the init and by every `exec`.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

const FIELD: &str = "linux.memoryPolicy";
/// The largest node count a kernel is built for (CONFIG_NODES_SHIFT at most 10).
const MAX_NODES: usize = 1024;

const MPOL_F_STATIC_NODES: i32 = 1 << 15;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;

/// What set_mempolicy is given: the mode with its flags, and the node mask.
#[derive(Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: i32,
    pub nodemask: Vec<u64>,
}

/// Parses `0-3,7` into node numbers (sorted, without repeats).
pub fn parse_nodes(text: &str) -> Result<Vec<usize>> {
    let mut nodes = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| -> Result<usize> {
            let n: usize = s
                .trim()
                .parse()
                .with_context(|| format!("{FIELD}.nodes {text:?}: {s:?} is not a node number"))?;
            if n >= MAX_NODES {
                bail!("{FIELD}.nodes {text:?}: node {n} is beyond any kernel's {MAX_NODES} nodes");
            }
            Ok(n)
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            bail!("{FIELD}.nodes {text:?}: range {part:?} runs backwards");
        }
        nodes.extend(first..=last);
    }
    nodes.sort_unstable();
    nodes.dedup();
    Ok(nodes)
}

/// The host's online nodes, from sysfs (a kernel without NUMA has node 0 only).
fn online_nodes() -> Result<Vec<usize>> {
    match std::fs::read_to_string("/sys/devices/system/node/online") {
        Ok(text) => parse_nodes(text.trim()).context("reading the host's online NUMA nodes"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![0]),
        Err(e) => Err(e).context("reading /sys/devices/system/node/online"),
    }
}

/// The policy for set_mempolicy, or why the kernel could not honour it.
pub fn policy(config: &LinuxMemoryPolicy) -> Result<Policy> {
    use MemoryPolicyModeType::*;
    let mode = config.mode();
    let name = serde_json::to_value(mode)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let nodes = parse_nodes(config.nodes().as_deref().unwrap_or_default())?;
    let flags = config.flags().clone().unwrap_or_default();
    let number = match mode {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    };
    match mode {
        MpolDefault | MpolLocal if !nodes.is_empty() => {
            bail!("{FIELD}.nodes: {name} takes no nodes");
        }
        MpolDefault | MpolLocal if !flags.is_empty() => {
            bail!("{FIELD}.flags: {name} takes no flags");
        }
        MpolBind | MpolInterleave | MpolWeightedInterleave | MpolPreferredMany
            if nodes.is_empty() =>
        {
            bail!("{FIELD}.nodes is required with {name}");
        }
        _ => {}
    }
    let mut bits = 0;
    for flag in &flags {
        bits |= match flag {
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFNumaBalancing => {
                if !matches!(mode, MpolBind | MpolPreferredMany) {
                    bail!("{FIELD}.flags: MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not {name}");
                }
                MPOL_F_NUMA_BALANCING
            }
        };
    }
    if bits & MPOL_F_STATIC_NODES != 0 && bits & MPOL_F_RELATIVE_NODES != 0 {
        bail!("{FIELD}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other");
    }
    // Relative node numbers name positions in the allowed set, not host nodes.
    if bits & MPOL_F_RELATIVE_NODES == 0 {
        let online = online_nodes()?;
        if let Some(missing) = nodes.iter().find(|n| !online.contains(n)) {
            bail!("{FIELD}.nodes: node {missing} is not online on this host (online: {online:?})");
        }
    }
    let mut nodemask = Vec::new();
    if let Some(&highest) = nodes.last() {
        nodemask = vec![0u64; highest / 64 + 1];
        for node in nodes {
            nodemask[node / 64] |= 1 << (node % 64);
        }
    }
    Ok(Policy {
        mode: number | bits,
        nodemask,
    })
}

pub fn apply(config: &LinuxMemoryPolicy) -> Result<()> {
    let policy = policy(config)?;
    crate::sys::sched::set_mempolicy(policy.mode, &policy.nodemask)
        .context("linux.memoryPolicy: set_mempolicy")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> LinuxMemoryPolicy {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn nodes_parse_as_ranges() {
        assert_eq!(parse_nodes("0-2,5,1").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_nodes("").unwrap(), Vec::<usize>::new());
        for bad in ["x", "3-1", "-1", "0-99999999999999999999", "1024"] {
            let err = parse_nodes(bad).unwrap_err().to_string();
            assert!(err.contains("linux.memoryPolicy.nodes"), "{bad}: {err}");
        }
    }

    #[test]
    fn modes_and_flags_become_the_kernel_value() {
        let bind = policy(&parse(serde_json::json!({
            "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]
        })))
        .unwrap();
        assert_eq!(
            bind,
            Policy {
                mode: 2 | MPOL_F_STATIC_NODES,
                nodemask: vec![1]
            }
        );
        let relative = policy(&parse(serde_json::json!({
            "mode": "MPOL_INTERLEAVE", "nodes": "65", "flags": ["MPOL_F_RELATIVE_NODES"]
        })))
        .unwrap();
        assert_eq!(relative.nodemask, vec![0, 2]);
        assert_eq!(
            policy(&parse(serde_json::json!({"mode": "MPOL_LOCAL"}))).unwrap(),
            Policy {
                mode: 4,
                nodemask: vec![]
            }
        );
    }

    #[test]
    fn what_the_kernel_refuses_is_refused_by_field() {
        for (json, field) in [
            (
                serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
                "nodes",
            ),
            (serde_json::json!({"mode": "MPOL_BIND"}), "nodes"),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "1000"}),
                "nodes",
            ),
            (
                serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0",
                    "flags": ["MPOL_F_NUMA_BALANCING"]}),
                "flags",
            ),
            (
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                    "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
                "flags",
            ),
        ] {
            let err = policy(&parse(json.clone())).unwrap_err().to_string();
            assert!(
                err.contains(&format!("linux.memoryPolicy.{field}")),
                "{json}: {err}"
            );
        }
    }
}
