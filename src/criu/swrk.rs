//! One `criu swrk` session: CRIU started as skiff's child with one end of a socket pair,
//! a request sent, notifications answered until the final response, CRIU reaped.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::rpc::{self, ReqType, Response};

/// What answers a notification: its script name, its PID and the descriptor it carried.
pub type OnNotify<'a> = dyn FnMut(&str, i32, Option<OwnedFd>) -> Result<()> + 'a;

/// A running `criu swrk`.
pub struct Session {
    child: Child,
    socket: OwnedFd,
    /// Where CRIU logs this request, for error messages.
    log: PathBuf,
    what: &'static str,
}

/// A descriptor CRIU is to inherit at the same number (not close-on-exec): its number
/// goes into the request.
pub fn inheritable(fd: &impl AsFd) -> Result<OwnedFd> {
    nix::unistd::dup(fd).context("duplicating a descriptor for criu")
}

impl Session {
    /// Starts `criu swrk`. `what` names the request in messages ("dump", "restore");
    /// `log` is where CRIU will write its log. Descriptors made `inheritable` stay open
    /// in CRIU; skiff's stdio become CRIU's (and so the restored stdio pipes').
    pub fn start(criu: &Path, what: &'static str, log: PathBuf) -> Result<Session> {
        let (socket, server) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("making the socket pair for criu swrk")?;
        let server = inheritable(&server)?;
        let child = Command::new(criu)
            .arg("swrk")
            .arg(server.as_raw_fd().to_string())
            .spawn()
            .with_context(|| format!("running {} (see --criu)", criu.display()))?;
        drop(server);
        Ok(Session {
            child,
            socket,
            log,
            what,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `request` and answers CRIU's notifications with `on_notify(script, pid, fd)`
    /// until the final response, which is returned if it reports success. A failing
    /// notification handler fails the request (CRIU then undoes what it did).
    pub fn call(mut self, request: &[u8], on_notify: &mut OnNotify) -> Result<Response> {
        let result = self.exchange(request, on_notify);
        // CRIU ends its session when the socket closes.
        let Session {
            mut child, socket, ..
        } = self;
        drop(socket);
        let status = child.wait().context("waiting for criu")?;
        let response = result?;
        // After a pre-dump CRIU waits for a dump that is never sent, and exits unhappily.
        if !status.success() && response.kind != Some(ReqType::PreDump) {
            bail!(super::log::describe(
                self.what,
                &self.log,
                Some(&format!("criu exited with {status}"))
            ));
        }
        Ok(response)
    }

    fn exchange(&mut self, request: &[u8], on_notify: &mut OnNotify) -> Result<Response> {
        self.send(request)?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let (n, fd) = crate::sys::scm::receive_fd(&self.socket, &mut buffer)
                .context("reading criu's response")?;
            if n == 0 {
                bail!(super::log::describe(
                    self.what,
                    &self.log,
                    Some("criu exited without answering")
                ));
            }
            let response = rpc::parse_response(&buffer[..n])?;
            if !response.success {
                let said = match (&response.cr_errmsg, response.cr_errno) {
                    (Some(message), _) => message.clone(),
                    (None, Some(errno)) if errno != 0 => {
                        format!("{}", std::io::Error::from_raw_os_error(errno))
                    }
                    _ => "it reported failure".to_string(),
                };
                bail!(super::log::describe(self.what, &self.log, Some(&said)));
            }
            if response.kind == Some(ReqType::Notify) {
                let (script, pid) = response.notify.clone().unwrap_or_default();
                crate::logging::debug(&format!("criu notifies {script} (pid {pid})"));
                on_notify(&script, pid, fd).with_context(|| format!("criu's {script} step"))?;
                self.send(&rpc::notify_done())?;
                continue;
            }
            return Ok(response);
        }
    }

    fn send(&self, bytes: &[u8]) -> Result<()> {
        nix::sys::socket::send(
            self.socket.as_raw_fd(),
            bytes,
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )
        .context("writing to criu swrk")?;
        Ok(())
    }
}

/// Asks CRIU whether it can track memory changes (for `--pre-dump`) and serve pages
/// lazily (for `--lazy-pages`): (mem_track, lazy_pages), as far as asked.
pub fn features(criu: &Path, mem_track: bool, lazy_pages: bool) -> Result<(bool, bool)> {
    let session = Session::start(criu, "feature check", PathBuf::from("(none)"))?;
    let response = session.call(
        &rpc::feature_check(mem_track, lazy_pages),
        &mut |_, _, _| Ok(()),
    )?;
    Ok((
        response.mem_track.unwrap_or(false),
        response.lazy_pages.unwrap_or(false),
    ))
}
