use anyhow::{bail, Result};

use super::Global;
use crate::container::ps;

// `skiff ps`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Output format: table (the host's ps rows) or json (an array of host PIDs)
    #[arg(short, long, value_name = "FORMAT", default_value = "table")]
    format: Format,
    /// The container's ID
    id: String,
    /// Arguments for the host's ps in table format (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let pids = ps::pids(&global.root, &args.id)?;
    match args.format {
        Format::Json => {
            if !args.ps_args.is_empty() {
                bail!(
                    "--format json takes no ps arguments (given: {})",
                    args.ps_args.join(" ")
                );
            }
            super::output::print(&format!("{}\n", serde_json::to_string(&pids)?))?;
        }
        Format::Table => {
            let ps_args = if args.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_args
            };
            super::output::print(&ps::table(&pids, &ps_args)?)?;
        }
    }
    Ok(())
}
