//! `--pid-file`, as `create`, `run` and `exec` write it.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes the pid file atomically (temp file + rename), refusing to replace anything but
/// a regular file: `--pid-file /dev/null` must not turn the host's /dev/null into a file.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    if let Ok(existing) = std::fs::symlink_metadata(path) {
        if !existing.file_type().is_file() {
            anyhow::bail!(
                "--pid-file {} exists and is not a regular file",
                path.display()
            );
        }
    }
    let temp = path.with_extension("skiff-tmp");
    std::fs::write(&temp, pid.to_string())
        .with_context(|| format!("writing --pid-file {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("writing --pid-file {}", path.display()))
}
