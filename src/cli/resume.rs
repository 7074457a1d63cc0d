use anyhow::Result;

use super::Global;
use crate::container::pause;

/// Thaw every process of a paused container
#[derive(clap::Args)]
pub struct Args {
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    pause::resume(&global.root, &args.id)
}
