use anyhow::Result;

use super::Global;
use crate::container::kill;

// `skiff kill`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Signal every process in the container's cgroup
    #[arg(short, long)]
    all: bool,
    /// The container's ID
    id: String,
    /// The signal: a number, a name, or a SIG-name
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let signal = kill::parse_signal(&args.signal)?;
    kill::kill(&global.root, &args.id, signal, args.all)
}
