//! The runc-compatible command line: global flags, one file per subcommand.

mod create;
mod delete;
mod events;
mod exec;
mod foreground;
mod kill;
mod list;
mod pause;
mod ps;
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

#[derive(Subcommand)]
enum Command {
    Spec(spec::Args),
    Create(create::Args),
    Start(start::Args),
    Run(run::Args),
    State(state::Args),
    List(list::Args),
    Kill(kill::Args),
    Exec(exec::Args),
    Delete(delete::Args),
    Pause(pause::Args),
    Resume(resume::Args),
    Ps(ps::Args),
    Events(events::Args),
    Update(update::Args),
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
            let (log, format) = log_flags(std::env::args_os().skip(1));
            logging::init(log, format, false);
            anyhow::bail!("{}", one_line_usage_error(&error.to_string()))
        }
    };
    logging::init(cli.log.clone(), cli.log_format, cli.debug);
    if cli.version {
        println!("skiff version {}", env!("CARGO_PKG_VERSION"));
        println!("commit: {}", env!("SKIFF_COMMIT"));
        println!("spec: {}", crate::SPEC_VERSION);
        return Ok(0);
    }
    let global = Global {
        root: cli.root.unwrap_or_else(crate::rootless::default_root),
        systemd_cgroup: cli.systemd_cgroup,
        rootless: crate::rootless::enabled(cli.rootless),
    };
    let Some(command) = cli.command else {
        anyhow::bail!("no command given: see skiff --help");
    };
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

/// `--log` and `--log-format` picked out of a command line clap refused, so the usage
/// error can still be logged where the caller asked. Anything unreadable is left default.
fn log_flags(args: impl Iterator<Item = std::ffi::OsString>) -> (Option<PathBuf>, logging::Format) {
    let mut log = None;
    let mut format = logging::Format::Text;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            break;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(std::ffi::OsString::from(value))),
            None => (text, None),
        };
        if name != "--log" && name != "--log-format" {
            continue;
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            break;
        };
        if name == "--log" {
            log = Some(PathBuf::from(value));
        } else if let Some(parsed) = value
            .to_str()
            .and_then(|v| <logging::Format as clap::ValueEnum>::from_str(v, false).ok())
        {
            format = parsed;
        }
    }
    (log, format)
}

/// The global flags subcommands use.
pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
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
    fn log_flags_are_found_in_a_refused_command_line() {
        let args = |line: &str| {
            line.split(' ')
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        let (log, format) = log_flags(args("--log /l --log-format json nosuch").into_iter());
        assert_eq!(log, Some(PathBuf::from("/l")));
        assert_eq!(format, logging::Format::Json);
        let (log, format) =
            log_flags(args("create --bogus --log=/m --log-format=json").into_iter());
        assert_eq!(log, Some(PathBuf::from("/m")));
        assert_eq!(format, logging::Format::Json);
        let (log, format) = log_flags(args("--log-format yaml --log").into_iter());
        assert_eq!(log, None);
        assert_eq!(format, logging::Format::Text);
        let (log, _) = log_flags(args("run -- --log /x").into_iter());
        assert_eq!(log, None);
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
