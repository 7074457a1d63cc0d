//! `ps`: the container's processes, every one in its cgroup (also those that left the
//! init's process tree), as host PIDs or as the host `ps`'s rows for them.

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::store;

/// Every host PID in the container's recorded cgroup, sorted.
pub fn pids(root: &Path, id: &str) -> Result<Vec<i32>> {
    let record = store::load(root, id)?;
    super::pause::cgroup_of(&record)?.pids()
}

/// Runs the host's `ps` with `args` and keeps its header and the rows whose PID column
/// names one of `pids`.
pub fn table(pids: &[i32], args: &[String]) -> Result<String> {
    let output = std::process::Command::new("ps")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running the host's ps")?;
    if !output.status.success() {
        bail!(
            "ps {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    filter_rows(&text, pids).with_context(|| format!("reading the output of ps {}", args.join(" ")))
}

/// The header and the rows of a `ps` output whose PID column is in `pids`.
fn filter_rows(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().context("ps printed nothing")?;
    let column = header
        .split_whitespace()
        .position(|name| name == "PID")
        .context(
            "ps printed no PID column: its arguments must keep one (as -e, -f or -o pid do)",
        )?;
    let mut kept = String::from(header);
    kept.push('\n');
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|field| field.parse::<i32>().ok());
        if pid.is_some_and(|pid| pids.contains(&pid)) {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_header_and_the_container_rows() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 init\n\
                    root 42 1 0 10:00 ? 00:00:00 sleep 1000\n\
                    root 420 42 0 10:00 ? 00:00:00 sh\n";
        assert_eq!(
            filter_rows(text, &[42]).unwrap(),
            "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 1000\n"
        );
    }

    #[test]
    fn refuses_an_output_without_a_pid_column() {
        assert!(filter_rows("CMD\nsleep\n", &[1]).is_err());
        assert!(filter_rows("", &[1]).is_err());
    }
}
