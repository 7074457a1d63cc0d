use std::path::PathBuf;

use anyhow::{bail, Result};

use super::Global;
use crate::container::exec::{exec, ExecOptions, Overrides, ProcessSource};

// `skiff exec`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    /// A JSON file with the process to run (the config's `process` object), used as it is
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Give the process a terminal
    #[arg(short, long)]
    tty: bool,
    /// The working directory, inside the container
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Add or replace an environment variable (repeatable)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The user (and group) to run as: numbers, or names in the container's /etc/passwd
    #[arg(short, long, value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Add a supplementary group (repeatable)
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Add a capability to the process' sets (repeatable)
    #[arg(short, long = "cap", value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long)]
    no_new_privs: bool,
    /// The AppArmor profile to run the process under
    #[arg(long, value_name = "PROFILE")]
    apparmor: Option<String>,
    /// The SELinux label to run the process with
    #[arg(long, value_name = "LABEL")]
    process_label: Option<String>,
    /// Return once the program is running instead of waiting for it
    #[arg(short, long)]
    detach: bool,
    /// Write the process' host PID to this file
    #[arg(long, value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// A unix socket to receive the pty master of the process' terminal
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass N extra descriptors (3 to 3+N-1) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: u32,
    /// Run the process even if the container is paused
    #[arg(long)]
    ignore_paused: bool,
    /// The container's ID
    id: String,
    /// The program and its arguments (without --process)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

/// Runs the process; in the foreground, returns its exit status (128+N if killed by N).
pub fn run(global: &Global, args: Args) -> Result<i32> {
    // In the foreground, signals to `skiff exec` are meant for the process: taken over
    // before it exists, so none is lost meanwhile.
    let signals = match args.detach {
        false => Some(super::signals::take_over()?),
        true => None,
    };
    let detach = args.detach;
    let options = ExecOptions {
        root: global.root.clone(),
        id: args.id.clone(),
        console_socket: args.console_socket.clone(),
        pid_file: args.pid_file.clone(),
        preserve_fds: args.preserve_fds,
        ignore_paused: args.ignore_paused,
        detach,
        process: source(args)?,
    };
    let executed = exec(&options)?;
    let Some(signals) = signals else {
        return Ok(0);
    };
    let early = super::signals::drain(&signals)?;
    super::foreground::wait(executed.pid, executed.terminal.as_ref(), &signals, &early)
}

/// The process as the command line describes it. With --process the file is used as it
/// is: a flag that would change it is refused rather than dropped (--tty only asks for
/// the terminal the file should have, as engines pass it alongside).
fn source(args: Args) -> Result<ProcessSource> {
    let Some(path) = args.process else {
        return Ok(ProcessSource::Inherit(Overrides {
            args: args.command,
            tty: args.tty,
            cwd: args.cwd,
            env: args.env,
            user: args.user,
            additional_gids: args.additional_gids,
            caps: args.cap,
            no_new_privs: args.no_new_privs,
            apparmor: args.apparmor,
            process_label: args.process_label,
        }));
    };
    let conflicting = [
        ("a command", !args.command.is_empty()),
        ("--cwd", args.cwd.is_some()),
        ("--env", !args.env.is_empty()),
        ("--user", args.user.is_some()),
        ("--additional-gids", !args.additional_gids.is_empty()),
        ("--cap", !args.cap.is_empty()),
        ("--no-new-privs", args.no_new_privs),
        ("--apparmor", args.apparmor.is_some()),
        ("--process-label", args.process_label.is_some()),
    ];
    if let Some((what, _)) = conflicting.iter().find(|(_, given)| *given) {
        bail!(
            "{what} cannot be combined with --process {}: the file's process is used as it is",
            path.display()
        );
    }
    Ok(ProcessSource::File {
        path,
        tty: args.tty,
    })
}
