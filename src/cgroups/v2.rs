//! What a pure cgroup v2 host needs beyond placement, done before the init exists (it is
//! cloned straight into the finished cgroup): the controllers enabled on the way down to
//! the container's directory, and the two weights skiff converts itself from the spec's
//! v1 numbers (libcgroups writes the other limits).

use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;

/// Enables every available controller in each level from the hierarchy's root down to the
/// container's parent, so the container's directory gets the controllers' files. The
/// container's own directory is left alone: a cgroup with controllers enabled for its
/// children cannot hold processes. A level that refuses (EBUSY: it holds processes itself)
/// is left as it is; a limit that needs the controller then fails naming its file.
pub fn enable_controllers(mount_point: &Path, dir: &Path) -> Result<()> {
    let mut levels: Vec<&Path> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(mount_point))
        .collect();
    levels.reverse();
    for level in levels {
        let read = |file: &str| {
            let path = level.join(file);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let available = read("cgroup.controllers")?;
        let enabled = read("cgroup.subtree_control")?;
        let control = level.join("cgroup.subtree_control");
        for controller in available.split_whitespace() {
            if !enabled.split_whitespace().any(|e| e == controller) {
                let _ = std::fs::write(&control, format!("+{controller}"));
            }
        }
    }
    Ok(())
}

/// The weights skiff writes itself, taken out of the resources handed to libcgroups.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Weights {
    cpu_shares: Option<u64>,
    blkio_weight: Option<u16>,
}

impl Weights {
    /// Moves `linux.resources.cpu.shares` and `.blockIO.weight` out of `resources`.
    pub fn take(resources: &mut LinuxResources) -> Weights {
        let mut weights = Weights::default();
        if let Some(mut cpu) = resources.cpu().clone() {
            weights.cpu_shares = cpu.shares().filter(|&s| s != 0);
            cpu.set_shares(None);
            resources.set_cpu(Some(cpu));
        }
        if let Some(mut block_io) = resources.block_io().clone() {
            weights.blkio_weight = block_io.weight().filter(|&w| w != 0);
            block_io.set_weight(None);
            resources.set_block_io(Some(block_io));
        }
        weights
    }

    /// Checks the values before anything is written.
    pub fn check(&self) -> Result<()> {
        if let Some(weight) = self.blkio_weight {
            if !(10..=1000).contains(&weight) {
                bail!("linux.resources.blockIO.weight {weight} is outside 10..1000");
            }
        }
        Ok(())
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let write = |file: &str, value: String, field: &str| {
            let path = dir.join(file);
            std::fs::write(&path, &value)
                .with_context(|| format!("{field}: writing {value:?} to {}", path.display()))
        };
        if let Some(shares) = self.cpu_shares {
            let weight = cpu_weight_of_shares(shares).to_string();
            write("cpu.weight", weight, "linux.resources.cpu.shares")?;
        }
        if let Some(weight) = self.blkio_weight {
            // BFQ's weight has v1's range and takes the value as it is; the generic
            // io.weight has the range 1..10000.
            if dir.join("io.bfq.weight").exists() {
                write(
                    "io.bfq.weight",
                    weight.to_string(),
                    "linux.resources.blockIO.weight",
                )?;
            } else {
                let converted = io_weight_of_blkio_weight(weight).to_string();
                write("io.weight", converted, "linux.resources.blockIO.weight")?;
            }
        }
        Ok(())
    }
}

/// cgroup v1's cpu.shares (2..262144, default 1024) as cgroup v2's cpu.weight (1..10000,
/// default 100). skiff uses the quadratic mapping (in log2 of the shares) that runc 1.3.2,
/// crun and libcgroups adopted: unlike the older linear one (runc 1.1: 512 -> 20, 1024 ->
/// 39) it keeps the defaults on each other (1024 -> 100) and halving the shares roughly
/// halves the weight (512 -> 59).
pub fn cpu_weight_of_shares(shares: u64) -> u64 {
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let log = (shares as f64).log2();
    let exponent = (log * log + 125.0 * log) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

/// cgroup v1's blkio.weight (10..1000) as cgroup v2's io.weight (1..10000), linearly, as
/// runc does: 1 + (weight - 10) * 9999 / 990. Computed in u64: in u16 the product
/// overflows (libcgroups 0.7 wrote 51 for 500).
pub fn io_weight_of_blkio_weight(weight: u16) -> u64 {
    1 + u64::from(weight.saturating_sub(10)) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares_map_quadratically_onto_cpu_weight() {
        assert_eq!(cpu_weight_of_shares(2), 1);
        assert_eq!(cpu_weight_of_shares(512), 59);
        assert_eq!(cpu_weight_of_shares(1024), 100);
        assert_eq!(cpu_weight_of_shares(2048), 174);
        assert_eq!(cpu_weight_of_shares(262_144), 10_000);
        assert_eq!(cpu_weight_of_shares(u64::MAX), 10_000);
        let mut last = 0;
        for shares in 2..=262_144 {
            let weight = cpu_weight_of_shares(shares);
            assert!((last..=10_000).contains(&weight), "{shares}: {weight}");
            last = weight;
        }
    }

    #[test]
    fn blkio_weight_maps_linearly_onto_io_weight() {
        assert_eq!(io_weight_of_blkio_weight(10), 1);
        assert_eq!(io_weight_of_blkio_weight(500), 4950);
        assert_eq!(io_weight_of_blkio_weight(1000), 10_000);
    }

    #[test]
    fn weights_are_taken_out_and_checked() {
        let mut resources: LinuxResources = serde_json::from_value(serde_json::json!({
            "cpu": {"shares": 512, "quota": 1000},
            "blockIO": {"weight": 5}
        }))
        .unwrap();
        let weights = Weights::take(&mut resources);
        assert_eq!(weights.cpu_shares, Some(512));
        assert_eq!(resources.cpu().as_ref().unwrap().shares(), None);
        assert_eq!(resources.cpu().as_ref().unwrap().quota(), Some(1000));
        assert_eq!(resources.block_io().as_ref().unwrap().weight(), None);
        let err = weights.check().unwrap_err().to_string();
        assert!(err.contains("linux.resources.blockIO.weight 5"), "{err}");
    }
}
