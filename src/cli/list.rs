use std::os::unix::fs::MetadataExt;

use anyhow::Result;

use super::Global;
use crate::container::{self, store};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// List the containers under --root
#[derive(clap::Args)]
pub struct Args {
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    format: ListFormat,
    /// Print only the IDs
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let mut rows = Vec::new();
    for id in store::list_ids(&global.root)? {
        // A container deleted while listing is simply not listed.
        let Ok(record) = store::load(&global.root, &id) else {
            continue;
        };
        let status = container::status_of(&global.root, &record);
        let owner = std::fs::metadata(global.root.join(&id))
            .ok()
            .and_then(|m| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(m.uid()))
                    .ok()
                    .flatten()
            })
            .map(|u| u.name)
            .unwrap_or_default();
        rows.push((record, status, owner));
    }
    if args.quiet {
        for (record, _, _) in &rows {
            println!("{}", record.id);
        }
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            let reports: Vec<_> = rows.iter().map(|(r, s, o)| r.report(*s, o)).collect();
            // runc prints null, not [], when there are no containers; tools parse that.
            if reports.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&reports)?);
            }
        }
        ListFormat::Table => {
            println!(
                "{:<12}{:<12}{:<12}{:<12}{:<33}OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for (record, status, owner) in &rows {
                let report = record.report(*status, owner);
                println!(
                    "{:<12}{:<12}{:<12}{:<12}{:<33}{}",
                    report.id,
                    report.pid,
                    report.status,
                    report.bundle.display(),
                    report.created,
                    owner
                );
            }
        }
    }
    Ok(())
}
