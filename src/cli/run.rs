use anyhow::Result;

use super::create::CreateArgs;
use super::Global;
use crate::container::create::{create, Launch};

// `skiff run`: its description is on `cli::Command`, where help finds it
// without building these arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: CreateArgs,
    /// Return once the container is started instead of waiting for it
    #[arg(short, long)]
    detach: bool,
    /// Keep the container's state after it exits (delete it later with `skiff delete`)
    #[arg(long)]
    keep: bool,
    /// The container's ID
    id: String,
}

/// Runs the container; in the foreground, returns its exit status (128+N if killed by N).
pub fn run(global: &Global, args: Args) -> Result<i32> {
    // Signals to `skiff run` are meant for the container. Taken over before anything is
    // made, so none is lost and none ends skiff half-way through the create.
    let signals = super::signals::take_over()?;
    let options = args.common.options(global, &args.id);
    let foreground_terminal = !args.detach && args.common.console_socket.is_none();
    let created = create(
        &options,
        Launch::Now {
            foreground_terminal,
        },
    )?;
    // One that came during the create is answered now: an ending one means the container
    // is not wanted any more (started, its program might not even have its handlers yet).
    let early = super::signals::drain(&signals)?;
    if let Some(&ending) = early
        .iter()
        .find(|&&signal| super::signals::ends_a_process(signal))
    {
        return super::signals::abandon(created, &global.root, &args.id, ending);
    }
    crate::container::start::start_now(&created, &global.root, &args.id, args.keep)?;
    if args.detach {
        return Ok(0);
    }
    let code = super::foreground::wait(created.pid, created.terminal.as_ref(), &signals, &early)?;
    if !args.keep {
        crate::container::delete::remove_created(&created, &global.root, &args.id)?;
    }
    Ok(code)
}
