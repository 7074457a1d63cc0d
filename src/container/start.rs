//! `start`: release a created container's init to exec its program. With startContainer
//! or poststart hooks, `start` also waits for that exec: a startContainer hook that fails
//! must fail `start`, and poststart runs only once the program does.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::Hooks;

use super::create::Created;
use super::state::{Record, Status};
use super::store::{self, ContainerDir};
use crate::hooks::{self, Kind};
use crate::oci_state::ContainerState;
use crate::process::channel::Message;

pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = ContainerDir::open(root, id)?;
    let record = store::load(root, id)?;
    let status = super::status_of(root, &record);
    if status != Status::Created {
        bail!("container {id:?} is not created: it is {}", status.as_str());
    }
    let hooks = saved_hooks(root, id)?;
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
    let failure = if hooks::has_any(hooks.as_ref(), hooks::AROUND_START) {
        wait_for_exec(&fifo, &fifo_path)?
    } else {
        None
    };
    std::fs::remove_file(&fifo_path)
        .with_context(|| format!("removing {}", fifo_path.display()))?;
    if let Some(failure) = failure {
        bail!("container init: {failure}");
    }
    // poststart hooks may themselves call skiff on this container.
    drop(dir);
    poststart(hooks.as_ref(), &record);
    Ok(())
}

/// `run`'s start, told to the init over the channel. It waits for the program's exec (the
/// init's end of the channel closes) or the init's failure; a container whose start failed
/// is removed unless `keep`.
pub fn start_now(created: &Created, root: &Path, id: &str, keep: bool) -> Result<()> {
    let hooks = created.hooks.as_ref();
    created.channel.send(&Message::Start)?;
    // First the init's answer to Recorded, which `create` left for here; then, until the
    // program is exec'd (the init's end of the channel closes then), the init may still
    // fail, and says why on the channel: wait, so that `run` reports it.
    let failure = match super::create::expect_detached(&created.channel) {
        Err(error) => Some(format!("{error:#}")),
        Ok(()) => match created.channel.receive() {
            Ok(None) => None,
            Ok(Some(Message::Failed(reason))) => Some(format!("container init: {reason}")),
            Ok(Some(other)) => Some(format!("unexpected {other:?} from the container's init")),
            Err(error) => Some(format!("{error:#}")),
        },
    };
    if let Some(failure) = failure {
        // The init is on its way out; it is our child, so its PID is still its own.
        let _ = crate::sys::send_signal(created.pid, libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(created.pid), None);
        if !keep {
            super::delete::remove_created(created, root, id)?;
        }
        bail!("{failure}");
    }
    // The record (for the hooks' state) is read only when there are hooks to run.
    if !Kind::Poststart.of(hooks).is_empty() {
        poststart(hooks, &store::load(root, id)?);
    }
    Ok(())
}

fn poststart(hooks: Option<&Hooks>, record: &Record) {
    if Kind::Poststart.of(hooks).is_empty() {
        return;
    }
    let state = ContainerState::new(
        &record.id,
        "running",
        record.pid,
        &record.bundle,
        &record.annotations,
    );
    hooks::run_warning_on_failure(hooks, Kind::Poststart, &state);
}

/// The hooks the container was created with, from the configuration `create` saved in its
/// state directory: the bundle may have changed or gone since. A container made before
/// skiff saved its configuration has none (hooks were refused then).
pub fn saved_hooks(root: &Path, id: &str) -> Result<Option<Hooks>> {
    match store::load_saved_hooks(root, id) {
        Ok(hooks) => Ok(hooks),
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// Waits until the init lets go of exec.fifo, which it holds open (close-on-exec) as the
/// fifo's only reader: our write end then reports POLLERR, once it has exec'd the program
/// or exited. Returns the failure the init left in the fifo, if any.
fn wait_for_exec(fifo: &OwnedFd, path: &Path) -> Result<Option<String>> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let gone = PollFlags::POLLERR | PollFlags::POLLHUP;
                if fds[0].revents().is_some_and(|r| r.intersects(gone)) {
                    break;
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting for the init to exec the program"),
        }
    }
    // Our write end keeps the pipe, and what the init wrote into it, alive.
    let reader = nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {} for the init's report", path.display()))?;
    let mut report = Vec::new();
    let mut buffer = [0u8; 4096];
    while report.len() < 64 * 1024 {
        match nix::unistd::read(&reader, &mut buffer) {
            Ok(n) if n > 0 => report.extend_from_slice(&buffer[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            _ => break,
        }
    }
    let report = String::from_utf8_lossy(&report);
    // The start byte is still there only if the init died before it read it.
    if report == "0" {
        return Ok(Some("the init exited before it was started".to_string()));
    }
    let report = report.trim();
    Ok((!report.is_empty()).then(|| report.to_string()))
}
