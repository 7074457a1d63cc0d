use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use anyhow::Result;

use super::Global;
use crate::container::{self, store};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

// `skiff list`: its description is on `cli::Command`, where help finds it
// without building these arguments.
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
    let ids = store::list_ids(&global.root)?;
    if args.quiet {
        // One write for the whole list: stdout is line-buffered, a line each would be a
        // write(2) per container.
        let mut text = String::new();
        for id in ids {
            // A container deleted while listing is simply not listed.
            if let Ok(record) = store::load(&global.root, &id) {
                text.push_str(&record.id);
                text.push('\n');
            }
        }
        super::output::print(&text)?;
        return Ok(());
    }
    let mut owners = Owners::default();
    let mut rows = Vec::new();
    for id in ids {
        let Ok(record) = store::load(&global.root, &id) else {
            continue;
        };
        let status = container::status_of(&global.root, &record);
        let owner = std::fs::metadata(global.root.join(&id))
            .map(|m| owners.name(m.uid()))
            .unwrap_or_default();
        rows.push((record, status, owner));
    }
    match args.format {
        ListFormat::Json => {
            let reports: Vec<_> = rows.iter().map(|(r, s, o)| r.report(*s, o)).collect();
            // runc prints null, not [], when there are no containers; tools parse that.
            if reports.is_empty() {
                super::output::print("null\n")?;
            } else {
                super::output::print(&format!("{}\n", serde_json::to_string(&reports)?))?;
            }
        }
        ListFormat::Table => {
            let mut lines = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for (record, status, owner) in &rows {
                let report = record.report(*status, owner);
                lines.push(vec![
                    report.id.to_string(),
                    report.pid.to_string(),
                    report.status.to_string(),
                    report.bundle.display().to_string(),
                    report.created.to_string(),
                    owner.clone(),
                ]);
            }
            super::output::print(&align_columns(&lines))?;
        }
    }
    Ok(())
}

/// runc's table layout (a Go tabwriter with minimum width 12 and padding 3): every column
/// but the last is as wide as its widest cell plus 3, and at least 12, so long IDs and
/// bundle paths never push the columns out of line.
fn align_columns(lines: &[Vec<String>]) -> String {
    const MIN_WIDTH: usize = 12;
    const PADDING: usize = 3;
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns.saturating_sub(1))
        .map(|column| {
            lines
                .iter()
                .filter_map(|line| line.get(column))
                .map(|cell| cell.chars().count() + PADDING)
                .fold(MIN_WIDTH, usize::max)
        })
        .collect();
    let mut text = String::new();
    for line in lines {
        for (column, cell) in line.iter().enumerate() {
            match widths.get(column) {
                Some(&width) if column + 1 < line.len() => {
                    text.push_str(cell);
                    let used = cell.chars().count();
                    text.extend(std::iter::repeat_n(' ', width - used));
                }
                _ => text.push_str(cell),
            }
        }
        text.push('\n');
    }
    text
}

/// The names /etc/passwd gives owners' UIDs, or the numbers; the file is read once per
/// listing, not once per container. Read directly: skiff is linked statically, where
/// glibc's getpwuid would need to load NSS modules at run time.
#[derive(Default)]
struct Owners {
    passwd: Option<String>,
    names: HashMap<u32, String>,
}

impl Owners {
    fn name(&mut self, uid: u32) -> String {
        if let Some(name) = self.names.get(&uid) {
            return name.clone();
        }
        let passwd = self
            .passwd
            .get_or_insert_with(|| std::fs::read_to_string("/etc/passwd").unwrap_or_default());
        let name = passwd_name(passwd, uid).unwrap_or_else(|| uid.to_string());
        self.names.insert(uid, name.clone());
        name
    }
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

    fn cells(line: &[&str]) -> Vec<String> {
        line.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn short_cells_get_the_minimum_width() {
        let text = align_columns(&[cells(&["ID", "PID", "OWNER"]), cells(&["a", "1", "root"])]);
        assert_eq!(
            text,
            "ID          PID         OWNER\na           1           root\n"
        );
    }

    #[test]
    fn a_long_cell_widens_its_whole_column() {
        let long = "x".repeat(40);
        let text = align_columns(&[cells(&["ID", "PID", "OWNER"]), cells(&[&long, "1", "root"])]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].find("PID"), Some(43));
        assert_eq!(lines[1].find(" 1 ").map(|i| i + 1), Some(43));
        assert!(lines[1].ends_with("1           root"));
    }

    #[test]
    fn finds_names_by_uid() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
