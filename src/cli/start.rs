use anyhow::Result;

use super::Global;

/// Start a created container: its init execs the configured program
#[derive(clap::Args)]
pub struct Args {
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    crate::container::start::start(&global.root, &args.id)
}
