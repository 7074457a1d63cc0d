use std::path::PathBuf;

use anyhow::Result;

use super::Global;
use crate::container::create::{create, CreateOptions, Launch};

// `skiff create`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CreateArgs,
    /// The container's ID
    pub id: String,
}

// The flags `create` and `run` share (a plain comment: clap would make a doc comment
// the description of both).
#[derive(clap::Args)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json)
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// A unix socket to receive the pty master of a terminal container
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's host PID to this file
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of creating a new one
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra descriptors (3 to 3+N-1) to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
}

impl CreateArgs {
    pub fn options(&self, global: &Global, id: &str) -> CreateOptions {
        CreateOptions {
            root: global.root.clone(),
            id: id.to_string(),
            bundle: self.bundle.clone(),
            console_socket: self.console_socket.clone(),
            pid_file: self.pid_file.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: global.systemd_cgroup,
            rootless: global.rootless,
        }
    }
}

/// Creates the container; a signal that would end skiff meanwhile removes it again and
/// becomes the exit status (128+N), instead of leaving a half-made container behind.
pub fn run(global: &Global, args: Args) -> Result<i32> {
    let signals = super::signals::take_over()?;
    let created = create(&args.common.options(global, &args.id), Launch::Later)?;
    let early = super::signals::drain(&signals)?;
    if let Some(&ending) = early
        .iter()
        .find(|&&signal| super::signals::ends_a_process(signal))
    {
        return super::signals::abandon(created, &global.root, &args.id, ending);
    }
    Ok(0)
}
