//! skiff: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod container;
mod logging;
mod process;
mod rootfs;
mod security;
mod spec;
mod sys;
mod terminal;

/// The runtime-spec version skiff writes and reports.
pub const SPEC_VERSION: &str = "1.2.1";

fn main() {
    let code = match cli::main() {
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
