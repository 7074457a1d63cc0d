//! Terminals: the pty the init creates inside the container's devpts, its hand-over to a
//! `--console-socket` listener, and the relay `run` does in the foreground without one.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::pty::{posix_openpt, ptsname_r, unlockpt};

use crate::sys;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: String,
}

/// Opens a pty in the container's devpts (after pivot_root, /dev/ptmx → pts/ptmx) and gives
/// its slave to the container's user. The group stays the one devpts gave it (its `gid=`
/// option, 5 = tty in the default config), so `mesg` and `write` work as on a host.
pub fn open_in_container(uid: u32, size: Option<(u16, u16)>) -> Result<Pty> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("opening /dev/ptmx in the container")?;
    unlockpt(&master).context("unlocking the pty")?;
    let slave_path = ptsname_r(&master).context("naming the pty")?;
    let slave: OwnedFd = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening {slave_path}"))?;
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), None)
        .with_context(|| format!("giving {slave_path} to the container user"))?;
    let master = OwnedFd::from(master);
    if let Some((rows, cols)) = size {
        sys::set_window_size(&master, rows, cols).context("setting process.consoleSize")?;
    }
    Ok(Pty {
        master,
        slave,
        slave_path,
    })
}

/// Makes the pty the container's /dev/console too, as runc does: a bind of the slave
/// already open, onto a /dev/console resolved inside the root.
pub fn bind_console(pty: &Pty) -> Result<()> {
    crate::rootfs::bind_file(&pty.slave, std::path::Path::new("/dev/console"))
        .with_context(|| format!("making {} the container's /dev/console", pty.slave_path))
}

/// Makes the pty slave this session's controlling terminal and the process' stdio.
pub fn attach_stdio(pty: &Pty) -> Result<()> {
    sys::set_controlling_tty(&pty.slave).context("making the pty the controlling terminal")?;
    nix::unistd::dup2_stdin(&pty.slave).context("attaching the pty to stdin")?;
    nix::unistd::dup2_stdout(&pty.slave).context("attaching the pty to stdout")?;
    nix::unistd::dup2_stderr(&pty.slave).context("attaching the pty to stderr")?;
    Ok(())
}

/// Relays between the caller's stdio and the pty master until the master hangs up or
/// `on_signal()` says the container has exited; returns which (true: exited). Puts a
/// terminal stdin in raw mode and restores it.
pub fn relay(
    master: &OwnedFd,
    mut on_signal: impl FnMut() -> Result<bool>,
    signal_fd: &impl AsFd,
) -> Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::termios;
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(original) = &saved {
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw).context("raw mode")?;
        let _ = sys::copy_window_size(&stdin, master);
    }
    let result = (|| -> Result<bool> {
        let mut buffer = [0u8; 8192];
        let mut stdin_open = true;
        loop {
            let mut fds = vec![
                PollFd::new(master.as_fd(), PollFlags::POLLIN),
                PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN),
            ];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("polling the terminal"),
                Ok(_) => {}
            }
            let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            if ready(&fds[1]) && on_signal()? {
                drain(master);
                return Ok(true);
            }
            if ready(&fds[0]) {
                match nix::unistd::read(master, &mut buffer) {
                    // Hung up: the container closed its terminal, it may still be running.
                    Ok(0) | Err(nix::errno::Errno::EIO) => return Ok(false),
                    Ok(n) => write_all(&std::io::stdout(), &buffer[..n])?,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e).context("reading the pty"),
                }
            }
            if stdin_open && fds.len() > 2 && ready(&fds[2]) {
                match nix::unistd::read(&stdin, &mut buffer) {
                    Ok(0) => stdin_open = false,
                    Ok(n) => write_all(master, &buffer[..n])?,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => stdin_open = false,
                }
            }
        }
    })();
    if let Some(original) = &saved {
        let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, original);
    }
    result
}

/// Copies to stdout what the container wrote before it exited.
pub fn drain(master: &OwnedFd) {
    let mut buffer = [0u8; 8192];
    let _ = nix::fcntl::fcntl(master, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    while let Ok(n) = nix::unistd::read(master, &mut buffer) {
        if n == 0 || write_all(&std::io::stdout(), &buffer[..n]).is_err() {
            break;
        }
    }
}

fn write_all(fd: &impl AsFd, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("relaying terminal output"),
        }
    }
    Ok(())
}
