//! The last steps before a container's process execs its program, shared by the init and
//! by every `exec`: its terminal, working directory, resource limits, capabilities, user,
//! no_new_privs and seccomp filter, then the exec itself. One piece of code, so an `exec`
//! process is never confined less than the init.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use oci_spec::runtime::Process;

use crate::oci_state::ContainerState;
use crate::rootfs::paths;
use crate::security::seccomp::Seccomp;
use crate::security::{capabilities::CapabilitySets, identity, rlimits, scheduling};
use crate::{sys, terminal};

/// Where the pty master goes when `process.terminal` is set.
pub enum ConsoleTarget {
    None,
    /// A connected unix socket: the `--console-socket` listener, or the caller's own
    /// socketpair when it relays the terminal itself.
    Socket(OwnedFd),
}

/// What the last steps need beyond the process itself.
pub struct ProcessSetup<'a> {
    pub process: &'a Process,
    pub console: &'a ConsoleTarget,
    /// The init's pty is also the container's /dev/console; an exec's is not.
    pub is_console: bool,
    pub preserve_fds: u32,
    /// Read from the host's /proc before the root changed: whether setgroups(2) is allowed.
    pub setgroups_allowed: bool,
    pub seccomp: Option<&'a Seccomp>,
    /// The container's state as a seccomp listener receives it.
    pub state: &'a ContainerState,
    /// This process's PID as the host sees it (the state's is the init's).
    pub host_pid: i32,
    /// The container's `linux.personality`, for every one of its processes.
    pub personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
    /// The container's `linux.memoryPolicy`, likewise.
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
}

/// Runs the last steps and execs `process.args`. `before_exec` runs after the process has
/// its final identity and right before the seccomp filter (when no_new_privs allows it to
/// come that late) and the exec: the init waits there to be started.
pub fn exec_process(
    setup: &ProcessSetup,
    before_exec: &mut dyn FnMut() -> Result<()>,
) -> Result<Infallible> {
    let process = setup.process;
    if process.terminal().unwrap_or(false) {
        connect_terminal(process, setup.console, setup.is_console)?;
    }
    // No descriptor skiff holds may serve as a way out through the working directory.
    close_on_exec_except_preserved(setup.preserve_fds)?;
    enter_cwd(process.cwd())?;
    rlimits::apply(process.rlimits().as_deref().unwrap_or_default())?;
    scheduling::apply(process)?;
    if let Some(personality) = setup.personality {
        crate::security::personality::apply(personality)?;
    }
    if let Some(policy) = setup.memory_policy {
        crate::security::memory_policy::apply(policy)?;
    }
    let env = process.env().clone().unwrap_or_default();
    let args = process.args().as_deref().unwrap_or_default();
    let name = args.first().context("process.args is empty")?;
    let program = find_executable(name, &env)?;
    let no_new_privileges = process.no_new_privileges().unwrap_or(false);

    // Without no_new_privs, installing a filter takes CAP_SYS_ADMIN, which the capability
    // step may drop: then it goes first, and the remaining steps run under it (as in runc).
    if let Some(seccomp) = setup.seccomp.filter(|_| !no_new_privileges) {
        // Before the init reports ready: its listener is told the container is "creating".
        seccomp.install(&Seccomp::state_before_ready(setup.state), setup.host_pid)?;
    }
    let capabilities = CapabilitySets::from_spec(process.capabilities().as_ref())?;
    capabilities.drop_bounding()?;
    identity::switch_to(process.user(), setup.setgroups_allowed)?;
    capabilities.apply()?;
    // Changing credentials reset two process flags: dumpable (to fs.suid_dumpable, which
    // a host may set to 1) and the parent-death signal, still wanted while the parent
    // sets up.
    nix::sys::prctl::set_dumpable(false).context("making the process non-dumpable")?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).context("setting the parent-death signal")?;
    if no_new_privileges {
        nix::sys::prctl::set_no_new_privs().context("setting no_new_privs")?;
    }
    sys::set_umask(process.user().umask().unwrap_or(0o022));

    before_exec()?;
    // The read-only mount of skiff's binary never reaches the container: the init closed
    // it in `before_exec`, once ready (see `close_exe_mount`); an exec's process does here.
    sys::close_exe_mount();
    crate::spec::lsm::apply_process_labels(process)?;

    close_on_exec_except_preserved(setup.preserve_fds)?;
    let args = to_cstrings(args)?;
    let env = to_cstrings(&env)?;
    // As late as possible: every syscall above ran unfiltered and needs no rule.
    if let Some(seccomp) = setup.seccomp.filter(|_| no_new_privileges) {
        seccomp.install(setup.state, setup.host_pid)?;
    }
    let error = sys::exec(&program, &args, &env);
    Err(error).with_context(|| format!("exec {}", program.to_string_lossy()))
}

fn connect_terminal(process: &Process, console: &ConsoleTarget, is_console: bool) -> Result<()> {
    let ConsoleTarget::Socket(socket) = console else {
        bail!("process.terminal is set but no console socket was given");
    };
    let size = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    let pty = terminal::open_in_container(process.user().uid(), size)?;
    if is_console {
        terminal::bind_console(&pty)?;
    }
    crate::process::channel::send_fd(socket, &pty.master, "/dev/ptmx")?;
    terminal::attach_stdio(&pty)?;
    Ok(())
}

/// The container's root, as this process (after pivot_root, chroot or joining the
/// container's mount namespace) sees it.
pub fn container_root() -> Result<OwnedFd> {
    let root = std::fs::File::open("/").context("opening the container's root")?;
    Ok(root.into())
}

/// Enters `process.cwd`, resolved inside the container's root without magic links, and
/// checks that the kernel agrees the working directory is reachable from that root (the
/// class of runc's CVE-2024-21626, where a leaked directory descriptor led outside).
fn enter_cwd(cwd: &Path) -> Result<()> {
    let root = container_root()?;
    let dir = paths::open(&root, cwd, libc::O_PATH | libc::O_DIRECTORY).with_context(|| {
        format!(
            "process.cwd {}: not a directory inside the container's root",
            cwd.display()
        )
    })?;
    nix::unistd::fchdir(&dir).with_context(|| format!("entering process.cwd {}", cwd.display()))?;
    match nix::unistd::getcwd() {
        Ok(now) if now.is_absolute() => Ok(()),
        _ => bail!(
            "process.cwd {}: the working directory is outside the container's root",
            cwd.display()
        ),
    }
}

/// Marks every descriptor from 3 up close-on-exec except those of 3..3+preserve_fds that
/// skiff's caller really passed: a `--preserve-fds` beyond them must not hand the container
/// a descriptor skiff opened itself.
fn close_on_exec_except_preserved(preserve_fds: u32) -> Result<()> {
    sys::cloexec_from(3).context("marking skiff's descriptors close-on-exec")?;
    let end = 3 + i64::from(preserve_fds);
    for &fd in sys::fds::inherited()
        .iter()
        .filter(|fd| i64::from(**fd) < end)
    {
        sys::fds::keep_across_exec(fd)
            .with_context(|| format!("--preserve-fds: keeping descriptor {fd} open"))?;
    }
    Ok(())
}

/// Where the container's PATH finds `name` (a name with a slash is used as it is).
fn find_executable(name: &str, env: &[String]) -> Result<CString> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |path: &Path| {
        std::fs::metadata(path)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    let found = if name.contains('/') {
        let path = PathBuf::from(name);
        is_executable(&path).then_some(path)
    } else {
        let search = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        search
            .split(':')
            .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(name))
            .find(|candidate| is_executable(candidate))
    };
    let path = found.with_context(|| {
        format!("exec {name:?}: executable file not found in the container's $PATH")
    })?;
    sys::cstring(&path).context("executable path")
}

/// Whether this process may call setgroups(2): always outside a user namespace, and inside
/// one unless its /proc/self/setgroups says deny. Read from the host's /proc.
pub fn setgroups_allowed(in_user_ns: bool) -> bool {
    !in_user_ns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() != "deny")
            .unwrap_or(true)
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).with_context(|| format!("{s:?} contains a NUL byte")))
        .collect()
}
