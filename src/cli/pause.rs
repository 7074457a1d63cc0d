use anyhow::Result;

use super::Global;
use crate::container::pause;

/// Freeze every process of a running container
#[derive(clap::Args)]
pub struct Args {
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    pause::pause(&global.root, &args.id)
}
