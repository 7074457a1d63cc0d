use std::path::PathBuf;

use anyhow::{bail, Context, Result};

// `skiff spec`: its description is on `cli::Command`, where help finds it
// without building these arguments.
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
