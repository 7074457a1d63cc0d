//! `tmpcopyup`: a tmpfs mounted over an image directory starts with that directory's
//! contents (podman asks for it on /run, /tmp and /var/tmp with `--read-only`, so the image's
//! files stay visible on the writable tmpfs). The image directory is opened before the
//! tmpfs covers it; its descriptor still reaches the covered files afterwards, so the copy
//! reads through descriptors only and never follows a path the container could change.

use std::fs::File;
use std::os::fd::OwnedFd;

use anyhow::{Context, Result};
use nix::dir::{Dir, Type};

use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

/// Deeper trees than this are refused rather than risk the init's stack.
const MAX_DEPTH: usize = 64;

/// Copies what `from` (the covered image directory) holds into `to` (the new tmpfs's root),
/// keeping each entry's kind, mode and owner, and the directory's own mode and owner.
pub fn copy_directory(from: &OwnedFd, to: &OwnedFd) -> Result<()> {
    let stat = nix::sys::stat::fstat(from).context("inspecting the image directory")?;
    copy_tree(from, to, 0)?;
    fchown(
        to,
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
    )
    .context("giving the tmpfs the image directory's owner")?;
    fchmod(to, Mode::from_bits_truncate(stat.st_mode & 0o7777))
        .context("giving the tmpfs the image directory's mode")
}

fn copy_tree(from: &OwnedFd, to: &OwnedFd, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        anyhow::bail!("the directory tree is deeper than {MAX_DEPTH} levels");
    }
    let listing = nix::unistd::dup(from).context("duplicating the directory descriptor")?;
    let mut dir = Dir::from_fd(listing).context("listing the image directory")?;
    for entry in dir.iter() {
        let entry = entry.context("reading the image directory")?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        let shown = name.to_string_lossy().into_owned();
        copy_entry(from, to, name, entry.file_type(), depth)
            .with_context(|| format!("copying {shown}"))?;
    }
    Ok(())
}

fn copy_entry(
    from: &OwnedFd,
    to: &OwnedFd,
    name: &std::ffi::CStr,
    _hint: Option<Type>,
    depth: usize,
) -> Result<()> {
    let stat = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_bits_truncate(stat.st_mode & 0o7777);
    let kind = SFlag::from_bits_truncate(stat.st_mode & libc::S_IFMT);
    let nofollow = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
            let source = openat(
                from,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            let target = openat(
                to,
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | nofollow,
                Mode::empty(),
            )?;
            copy_tree(&source, &target, depth + 1)?;
        }
        SFlag::S_IFREG => {
            let source = openat(from, name, OFlag::O_RDONLY | nofollow, Mode::empty())?;
            let target = openat(
                to,
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | nofollow,
                Mode::from_bits_truncate(0o600),
            )?;
            std::io::copy(&mut file(source), &mut file(target))?;
        }
        SFlag::S_IFLNK => {
            let link = readlinkat(from, name)?;
            symlinkat(link.as_os_str(), to, name)?;
        }
        SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK => {
            mknodat(to, name, kind, mode, stat.st_rdev)?;
        }
        // A socket is bound to a process that is not in this container: nothing to copy.
        _ => return Ok(()),
    }
    fchownat(
        to,
        name,
        Some(Uid::from_raw(stat.st_uid)),
        Some(Gid::from_raw(stat.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // After the owner, which clears set-id bits.
        // The entry was just made on a tmpfs nothing else can reach yet: not a symlink.
        fchmodat(to, name, mode, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}

fn file(fd: OwnedFd) -> File {
    File::from(fd)
}
