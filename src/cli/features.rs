use std::io::Write;

use anyhow::{Context, Result};

// `skiff features`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    let text = serde_json::to_string_pretty(&crate::features::document())?;
    match writeln!(std::io::stdout(), "{text}") {
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the features document"),
    }
}
