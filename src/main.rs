//! skiff: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod container;
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
    let code = match prepare_process().and_then(|()| cli::main()) {
        Ok(code) => code,
        Err(error) => {
            let message = format!("{error:#}");
            logging::error(&message);
            eprintln!("skiff: {message}");
            1
        }
    };
    std::process::exit(code);
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
    if args
        .iter()
        .any(|arg| arg.as_bytes().starts_with(b"--preserve-fds"))
    {
        sys::fds::record_inherited().context("listing the descriptors passed to skiff")?;
    }
    Ok(())
}
