use anyhow::Result;

use super::Global;
use crate::container::events;

// `skiff events`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Print one stats event and exit
    #[arg(long)]
    stats: bool,
    /// How often to print a stats event, as a Go duration (5s, 100ms, 1m)
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    interval: String,
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let interval = events::parse_duration(&args.interval)?;
    if args.stats {
        events::stats_once(&global.root, &args.id)
    } else {
        events::follow(&global.root, &args.id, interval)
    }
}
