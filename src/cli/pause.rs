use anyhow::Result;

use super::Global;
use crate::container::pause;

// `skiff pause`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    pause::pause(&global.root, &args.id)
}
