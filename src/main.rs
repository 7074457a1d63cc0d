//! skiff: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod container;
mod criu;
mod features;
mod hooks;
mod logging;
mod mountinfo;
mod net_devices;
mod oci_state;
mod process;
mod rootfs;
mod rootless;
mod security;
mod spec;
mod sys;
mod terminal;

/// The runtime-spec version skiff writes and reports.
pub const SPEC_VERSION: &str = "1.2.1";

fn main() {
    log_panics();
    let code = match prepare_process().and_then(|()| cli::main()) {
        Ok(code) => code,
        Err(error) => {
            let message = format!("{error:#}");
            // A failure before the command line was parsed still reaches --log.
            logging::init_from_raw_args();
            logging::error(&message);
            eprintln!("skiff: {message}");
            1
        }
    };
    std::process::exit(code);
}

/// A panic is a failure like any other: its message reaches --log too, so an engine
/// shows it instead of "exit status 2".
fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        logging::init_from_raw_args();
        logging::error(&format!("skiff panicked: {info}"));
        default(info);
    }));
}

/// What must happen before skiff opens any descriptor or starts any process.
fn prepare_process() -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::ffi::OsStrExt;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // Subcommands are matched by their exact word, so a command that starts container
    // processes is never missed; a container ID spelled like one only costs a re-exec.
    if args
        .iter()
        .any(|arg| matches!(arg.as_bytes(), b"create" | b"run" | b"exec"))
    {
        sys::exe::run_from_read_only_binary()?;
    }
    if args.iter().any(|arg| {
        let arg = arg.as_bytes();
        arg.starts_with(b"--preserve-fds") || arg.starts_with(b"--status-fd")
    }) {
        sys::fds::record_inherited().context("listing the descriptors passed to skiff")?;
    }
    Ok(())
}
