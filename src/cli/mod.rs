//! The runc-compatible command line: global flags, one file per subcommand.

mod checkpoint;
mod create;
mod criu_flags;
mod delete;
mod events;
mod exec;
mod features;
mod foreground;
mod kill;
mod list;
mod output;
mod pause;
mod ps;
mod restore;
mod resume;
mod run;
mod signals;
mod spec;
mod start;
mod state;
mod update;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::logging;

#[derive(Parser)]
#[command(
    name = "skiff",
    about = "A fast OCI container runtime with runc's command line",
    disable_version_flag = true
)]
struct Cli {
    /// Directory holding the containers' state [default: /run/skiff, or
    /// $XDG_RUNTIME_DIR/skiff when not root]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Write errors (and debug lines with --debug) to this file
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of --log lines
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        value_name = "FORMAT"
    )]
    log_format: logging::Format,
    /// Log debug lines
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd (needs a running systemd)
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// The criu binary checkpoint and restore run
    #[arg(long, global = true, default_value = "criu", value_name = "PATH")]
    criu: PathBuf,
    /// Act as an unprivileged user: a cgroup only where it is writable (auto: when not
    /// root, or in a user namespace)
    #[arg(long, value_enum, value_name = "VALUE", default_value = "auto")]
    rootless: crate::rootless::Setting,
    /// Print the version, commit and runtime-spec version
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

// Each subcommand's arguments are made only when it is the one parsed (or help shows
// it): building all seventeen took ~800 allocations at every start, for any command.
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    /// Write a starter config.json into a bundle
    Spec(spec::Args),
    /// Create a container, set up and waiting for `start`
    Create(create::Args),
    /// Start a created container: its init execs the configured program
    Start(start::Args),
    /// Create and start a container in one step
    Run(run::Args),
    /// Print a container's state as JSON
    State(state::Args),
    /// List the containers under --root
    List(list::Args),
    /// Send a signal to a container's init (or, with --all, to all its processes)
    Kill(kill::Args),
    /// Run a new process inside a container
    Exec(exec::Args),
    /// Delete a container: its processes (with --force), cgroup and state
    Delete(delete::Args),
    /// Freeze every process of a running container
    Pause(pause::Args),
    /// Thaw every process of a paused container
    Resume(resume::Args),
    /// List the processes of a container (every process in its cgroup)
    Ps(ps::Args),
    /// Print a container's resource usage (and OOM events) as JSON
    Events(events::Args),
    /// Change a running container's cgroup limits
    Update(update::Args),
    /// Checkpoint a running container with CRIU
    Checkpoint(checkpoint::Args),
    /// Restore a container from a CRIU checkpoint
    Restore(restore::Args),
    /// Print what this skiff supports, as the runtime-spec features document (JSON)
    Features(features::Args),
}

/// Parses the command line and runs it; the exit code on success.
pub fn main() -> Result<i32> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version-like output goes to stdout as clap formats it.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return Ok(0);
        }
        // A usage error becomes one line, like every other error, and reaches --log as
        // they do: engines read the log file, not stderr, to say why a call failed.
        Err(error) => {
            logging::init_from_raw_args();
            anyhow::bail!("{}", one_line_usage_error(&error.to_string()))
        }
    };
    logging::init(cli.log.clone(), cli.log_format, cli.debug);
    if cli.version {
        output::print(&format!(
            "skiff version {}\ncommit: {}\nspec: {}\n",
            env!("CARGO_PKG_VERSION"),
            env!("SKIFF_COMMIT"),
            crate::SPEC_VERSION
        ))?;
        return Ok(0);
    }
    let global = Global {
        root: cli.root.unwrap_or_else(crate::rootless::default_root),
        systemd_cgroup: cli.systemd_cgroup,
        criu: cli.criu,
        rootless: crate::rootless::enabled(cli.rootless),
    };
    let Some(command) = cli.command else {
        anyhow::bail!("no command given: see skiff --help");
    };
    // Only create and run hand the read-only mount of skiff's binary on to an init, which
    // closes it once set up (see `sys::close_exe_mount`); every other command closes it
    // before it starts any process.
    if !matches!(command, Command::Create(_) | Command::Run(_)) {
        crate::sys::close_exe_mount();
    }
    match command {
        Command::Spec(args) => spec::run(args).map(|()| 0),
        Command::Create(args) => create::run(&global, args),
        Command::Start(args) => start::run(&global, args).map(|()| 0),
        Command::Run(args) => run::run(&global, args),
        Command::State(args) => state::run(&global, args).map(|()| 0),
        Command::List(args) => list::run(&global, args).map(|()| 0),
        Command::Kill(args) => kill::run(&global, args).map(|()| 0),
        Command::Exec(args) => exec::run(&global, args),
        Command::Delete(args) => delete::run(&global, args).map(|()| 0),
        Command::Pause(args) => pause::run(&global, args).map(|()| 0),
        Command::Resume(args) => resume::run(&global, args).map(|()| 0),
        Command::Ps(args) => ps::run(&global, args).map(|()| 0),
        Command::Events(args) => events::run(&global, args).map(|()| 0),
        Command::Update(args) => update::run(&global, args).map(|()| 0),
        Command::Checkpoint(args) => checkpoint::run(&global, args).map(|()| 0),
        Command::Restore(args) => restore::run(&global, args),
        Command::Features(args) => features::run(args).map(|()| 0),
    }
}

/// clap's multi-line usage error as one line: its message, with the missing argument or
/// wrong value folded in, and a pointer to --help.
fn one_line_usage_error(rendered: &str) -> String {
    let mut parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with("Usage:"))
        .filter(|line| !line.is_empty())
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.trim_start_matches("error: ");
    }
    format!("{} (see --help)", parts.join(" "))
}

/// The global flags subcommands use.
pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// `--criu`: the CRIU binary.
    pub criu: PathBuf,
    /// Rootless mode (see `crate::rootless`).
    pub rootless: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_fold_into_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  <ID>\n\nUsage: skiff create <ID>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line_usage_error(rendered),
            "the following required arguments were not provided: <ID> (see --help)"
        );
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
