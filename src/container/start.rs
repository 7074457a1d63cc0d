//! `start`: release a created container's init to exec its program.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::state::Status;
use super::store::{self, ContainerDir};

pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    if status != Status::Created {
        bail!("container {id:?} is not created: it is {}", status.as_str());
    }
    let fifo_path = dir.fifo_path();
    let fifo = match nix::fcntl::open(
        &fifo_path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENXIO) => bail!("container {id:?} is not created: its init is gone"),
        Err(e) => return Err(e).with_context(|| format!("opening {}", fifo_path.display())),
    };
    nix::unistd::write(&fifo, b"0").context("signalling the init through exec.fifo")?;
    std::fs::remove_file(&fifo_path).with_context(|| format!("removing {}", fifo_path.display()))
}
