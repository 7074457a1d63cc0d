use anyhow::{Context, Result};

use super::criu_flags::CommonArgs;
use super::Global;
use crate::container::checkpoint::{checkpoint, parse_page_server, CheckpointOptions};

// `skiff checkpoint`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The previous (pre-)dump, relative to --image-path
    #[arg(long, value_name = "DIR")]
    parent_path: Option<std::path::PathBuf>,
    /// Leave the container running after the checkpoint
    #[arg(long)]
    leave_running: bool,
    /// Dump only the memory, leaving the container running (for a later dump)
    #[arg(long)]
    pre_dump: bool,
    /// Skip TCP connections still being set up
    #[arg(long)]
    tcp_skip_in_flight: bool,
    /// Link unlinked files back where possible
    #[arg(long)]
    link_remap: bool,
    /// With --lazy-pages, write \0 to this descriptor once the page server is ready
    #[arg(long, value_name = "FD")]
    status_fd: Option<i32>,
    /// Send the memory pages to the page server at ADDRESS:PORT
    #[arg(long, value_name = "ADDRESS:PORT")]
    page_server: Option<String>,
    /// The container's ID
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let status_fd = match args.status_fd {
        // As runc: -1 means none.
        Some(fd) if fd >= 0 => Some(
            crate::sys::fds::take_inherited(fd)
                .with_context(|| format!("--status-fd {fd} is not an open descriptor"))?,
        ),
        _ => None,
    };
    let mut options = CheckpointOptions {
        flags: args.common.flags(global)?,
        parent_path: args.parent_path,
        leave_running: args.leave_running,
        pre_dump: args.pre_dump,
        tcp_skip_in_flight: args.tcp_skip_in_flight,
        link_remap: args.link_remap,
        status_fd,
        page_server: args
            .page_server
            .as_deref()
            .map(parse_page_server)
            .transpose()?,
    };
    checkpoint(&global.root, &args.id, &mut options)
}
