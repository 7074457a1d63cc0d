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
            .map(|m| user_name(m.uid()))
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

/// The name /etc/passwd gives `uid`, or the number. Read directly: skiff is linked
/// statically, where glibc's getpwuid would need to load NSS modules at run time.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd_name(&passwd, uid).unwrap_or_else(|| uid.to_string())
}

fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_by_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
