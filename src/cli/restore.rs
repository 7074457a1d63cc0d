use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use super::criu_flags::CommonArgs;
use super::Global;
use crate::container::restore::{restore, RestoreOptions};

// `skiff restore`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The bundle directory (holding config.json)
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
    /// Return once the container is restored instead of waiting for it
    #[arg(short, long)]
    detach: bool,
    /// Write the restored init's host PID to this file
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// A unix socket to receive the pty master of a terminal container
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// In the foreground, do not become a subreaper for the container's orphans
    #[arg(long)]
    no_subreaper: bool,
    /// Refused: CRIU always pivots into the restored root
    #[arg(long)]
    no_pivot: bool,
    /// The container's ID
    id: String,
}

/// Restores the container; in the foreground, waits for it and returns its exit status.
pub fn run(global: &Global, args: Args) -> Result<i32> {
    if args.no_pivot {
        bail!(
            "--no-pivot is not supported by restore: CRIU itself pivots into the container's root"
        );
    }
    let signals = if args.detach {
        None
    } else {
        if !args.no_subreaper {
            nix::sys::prctl::set_child_subreaper(true).context("becoming a subreaper")?;
        }
        Some(super::signals::take_over()?)
    };
    let options = RestoreOptions {
        flags: args.common.flags(global)?,
        root: global.root.clone(),
        id: args.id.clone(),
        bundle: args.bundle,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        systemd_cgroup: global.systemd_cgroup,
    };
    let restored = restore(&options)?;
    let Some(signals) = signals else {
        return Ok(0);
    };
    let code = super::foreground::wait(restored.pid, None, &signals, &[])?;
    let dir = crate::container::store::ContainerDir::open(&global.root, &args.id)?;
    crate::container::delete::remove(dir, Some(&restored.cgroup))?;
    Ok(code)
}
