use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Write a starter config.json into a bundle
#[derive(clap::Args)]
pub struct Args {
    /// The bundle directory to write config.json into
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
    /// Write a configuration for an unprivileged user (user namespace, no cgroup mount)
    #[arg(long)]
    rootless: bool,
}

pub fn run(args: Args) -> Result<()> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists: remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&crate::spec::template(args.rootless))?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
