use anyhow::Result;

use super::Global;

// `skiff delete`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is still running
    #[arg(short, long)]
    force: bool,
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    crate::container::delete::delete(&global.root, &args.id, args.force)
}
