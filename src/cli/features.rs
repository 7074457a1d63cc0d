use std::io::Write;

use anyhow::{Context, Result};

/// Print what this skiff supports, as the runtime-spec features document (JSON)
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
