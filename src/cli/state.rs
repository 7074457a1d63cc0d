use anyhow::Result;

use super::Global;
use crate::container::{self, store};

// `skiff state`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let record = store::load(&global.root, &args.id)?;
    let status = container::status_of(&global.root, &record);
    super::output::print(&format!(
        "{}\n",
        serde_json::to_string_pretty(&record.report(status, ""))?
    ))?;
    Ok(())
}
