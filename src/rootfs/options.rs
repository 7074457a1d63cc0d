//! Mount options as the runtime spec writes them, turned into mount(2) flags, propagation
//! flags, recursive mount attributes (`rro`, `rnosuid`, ...) and the filesystem-specific
//! data string. Options that skiff cannot make take effect are refused by name.

use anyhow::{bail, Result};
use nix::mount::MsFlags;

use crate::sys::mount_attr::{self, MountAttr};

/// `nosymfollow`, which nix's `MsFlags` does not name.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags that the option list explicitly turns off (e.g. `rw`, `suid`), so a remount does
    /// not carry them over from the source.
    pub cleared: MsFlags,
    pub propagation: MsFlags,
    /// Attributes applied to the mount and every mount below it, after mounting.
    pub recursive_attr: MountAttr,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
    /// `tmpcopyup`: fill the new tmpfs with the directory it covers.
    pub copy_up: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: MsFlags::empty(),
            recursive_attr: MountAttr::default(),
            data: Vec::new(),
            bind: false,
            recursive: false,
            copy_up: false,
        }
    }
}

/// Flags a bind mount cannot take: they belong to the filesystem (superblock), which the
/// bind shares with its source, and a bind remount silently ignores them.
const SUPERBLOCK_ONLY: MsFlags = MsFlags::MS_SYNCHRONOUS
    .union(MsFlags::MS_DIRSYNC)
    .union(MsFlags::MS_MANDLOCK)
    .union(MsFlags::MS_LAZYTIME);

impl MountOptions {
    /// Parses a mount's options; `is_bind` is whether the mount's type already makes it a
    /// bind (`"type": "bind"`), since a bind has no filesystem to pass data options to.
    pub fn parse(options: &[String], is_bind: bool) -> Result<MountOptions> {
        let mut parsed = MountOptions::default();
        for option in options {
            if let Some((set, flag)) = flag_option(option) {
                // insert/remove keep bits nix does not name (nosymfollow), which `!`
                // would drop.
                if set {
                    parsed.flags.insert(flag);
                    parsed.cleared.remove(flag);
                } else {
                    parsed.flags.remove(flag);
                    parsed.cleared.insert(flag);
                }
            } else if let Some((set, attr)) = recursive_option(option) {
                parsed.add_recursive(set, attr);
            } else if let Some(flag) = super::propagation_flags(option) {
                parsed.propagation |= flag;
            } else if option == "bind" {
                parsed.bind = true;
            } else if option == "rbind" {
                parsed.bind = true;
                parsed.recursive = true;
            } else if option == TMPCOPYUP {
                parsed.copy_up = true;
            } else if matches!(option.as_str(), "idmap" | "ridmap") {
                // Made by the parent before the mount (rootfs::idmap), not a mount flag.
            } else {
                parsed.data.push(option.clone());
            }
        }
        if parsed.bind || is_bind {
            if let Some(option) = parsed.data.first() {
                bail!("option {option:?} is not a bind mount option");
            }
            let superblock = parsed.flags & SUPERBLOCK_ONLY;
            if !superblock.is_empty() {
                bail!("{superblock:?} cannot be set on a bind mount");
            }
        }
        Ok(parsed)
    }

    /// Adds one recursive attribute. The access-time mode is one value of three, so
    /// setting any of them replaces the whole mode.
    fn add_recursive(&mut self, set: bool, attr: u64) {
        let recursive = &mut self.recursive_attr;
        if attr & mount_attr::MOUNT_ATTR_ATIME_MASK != 0 || attr == mount_attr::MOUNT_ATTR_RELATIME
        {
            recursive.set &= !mount_attr::MOUNT_ATTR_ATIME_MASK;
            recursive.clear |= mount_attr::MOUNT_ATTR_ATIME_MASK;
            if set {
                recursive.set |= attr;
            }
        } else if set {
            recursive.set |= attr;
            recursive.clear &= !attr;
        } else {
            recursive.clear |= attr;
            recursive.set &= !attr;
        }
    }

    /// The per-mount flags asked for (`flags`, and `cleared` for the ones turned off) as
    /// `mount_setattr` attributes. Unlike a bind remount, which sets every per-mount flag
    /// anew, they leave what is not named as it is, so nothing is needed to keep the flags
    /// the kernel locks on mounts a user namespace inherited. The access-time mode is
    /// changed only when one is named, as a remount does.
    pub fn per_mount_attr(&self) -> MountAttr {
        let mut attr = MountAttr::default();
        for (flag, value) in [
            (MsFlags::MS_RDONLY, mount_attr::MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, mount_attr::MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, mount_attr::MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, mount_attr::MOUNT_ATTR_NOEXEC),
            (MsFlags::MS_NODIRATIME, mount_attr::MOUNT_ATTR_NODIRATIME),
            (MS_NOSYMFOLLOW, mount_attr::MOUNT_ATTR_NOSYMFOLLOW),
        ] {
            if self.flags.contains(flag) {
                attr.set |= value;
            } else if self.cleared.contains(flag) {
                attr.clear |= value;
            }
        }
        let atime = if self.flags.contains(MsFlags::MS_STRICTATIME) {
            Some(mount_attr::MOUNT_ATTR_STRICTATIME)
        } else if self.flags.contains(MsFlags::MS_NOATIME) {
            Some(mount_attr::MOUNT_ATTR_NOATIME)
        } else if self.flags.contains(MsFlags::MS_RELATIME) {
            Some(mount_attr::MOUNT_ATTR_RELATIME)
        } else {
            None
        };
        if let Some(mode) = atime {
            attr.set |= mode;
            attr.clear |= mount_attr::MOUNT_ATTR_ATIME_MASK;
        }
        attr
    }

    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Checks a config mount's options without mounting anything, so a bad option is refused
/// before a container is made.
pub fn check(mount: &oci_spec::runtime::Mount) -> Result<()> {
    let typ = mount.typ().as_deref().unwrap_or("none");
    let parsed = MountOptions::parse(
        mount.options().as_deref().unwrap_or_default(),
        typ == "bind",
    )?;
    if parsed.copy_up && (typ != "tmpfs" || parsed.bind) {
        bail!("option {TMPCOPYUP:?} applies to tmpfs mounts only, not {typ}");
    }
    // The cgroup mount is built by skiff from binds and a tmpfs: there is no filesystem
    // to take data options.
    if (typ == "cgroup" || typ == "cgroup2") && !parsed.bind {
        if let Some(option) = parsed.data.first() {
            bail!("option {option:?} is not a cgroup mount option");
        }
    }
    Ok(())
}

/// The recursive options: `(name, true, A)` sets attribute A on the mount and every mount
/// below it, `(name, false, A)` clears it. For the access-time mode, `true` selects that
/// mode.
const RECURSIVE_OPTIONS: &[(&str, bool, u64)] = &[
    ("rro", true, mount_attr::MOUNT_ATTR_RDONLY),
    ("rrw", false, mount_attr::MOUNT_ATTR_RDONLY),
    ("rnosuid", true, mount_attr::MOUNT_ATTR_NOSUID),
    ("rsuid", false, mount_attr::MOUNT_ATTR_NOSUID),
    ("rnodev", true, mount_attr::MOUNT_ATTR_NODEV),
    ("rdev", false, mount_attr::MOUNT_ATTR_NODEV),
    ("rnoexec", true, mount_attr::MOUNT_ATTR_NOEXEC),
    ("rexec", false, mount_attr::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", true, mount_attr::MOUNT_ATTR_NODIRATIME),
    ("rdiratime", false, mount_attr::MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", true, mount_attr::MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", false, mount_attr::MOUNT_ATTR_NOSYMFOLLOW),
    ("rnoatime", true, mount_attr::MOUNT_ATTR_NOATIME),
    ("rstrictatime", true, mount_attr::MOUNT_ATTR_STRICTATIME),
    // Turning noatime or strictatime off leaves the kernel's default, relatime;
    // turning relatime off asks for strict access times.
    ("rrelatime", true, mount_attr::MOUNT_ATTR_RELATIME),
    ("ratime", true, mount_attr::MOUNT_ATTR_RELATIME),
    ("rnostrictatime", true, mount_attr::MOUNT_ATTR_RELATIME),
    ("rnorelatime", true, mount_attr::MOUNT_ATTR_STRICTATIME),
];

/// The mount(2) flag options: `(name, true, F)` sets flag F, `(name, false, F)` clears it.
const FLAG_OPTIONS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("mand", true, MsFlags::MS_MANDLOCK),
    ("nomand", false, MsFlags::MS_MANDLOCK),
    ("atime", false, MsFlags::MS_NOATIME),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("nostrictatime", false, MsFlags::MS_STRICTATIME),
    ("silent", true, MsFlags::MS_SILENT),
    ("loud", false, MsFlags::MS_SILENT),
    ("lazytime", true, MsFlags::MS_LAZYTIME),
    ("nolazytime", false, MsFlags::MS_LAZYTIME),
    ("nosymfollow", true, MS_NOSYMFOLLOW),
    ("symfollow", false, MS_NOSYMFOLLOW),
];

/// Options that say how to mount rather than which flag to set.
const MODE_OPTIONS: &[&str] = &["bind", "rbind", TMPCOPYUP];

/// A tmpfs that starts with the covered image directory's contents (see `copyup`).
pub const TMPCOPYUP: &str = "tmpcopyup";

fn recursive_option(option: &str) -> Option<(bool, u64)> {
    RECURSIVE_OPTIONS
        .iter()
        .find(|(name, _, _)| *name == option)
        .map(|&(_, set, attr)| (set, attr))
}

fn flag_option(option: &str) -> Option<(bool, MsFlags)> {
    FLAG_OPTIONS
        .iter()
        .find(|(name, _, _)| *name == option)
        .map(|&(_, set, flag)| (set, flag))
}

/// Every option skiff gives a meaning of its own (the rest go to the filesystem as data),
/// for `skiff features`.
pub fn named_options() -> Vec<&'static str> {
    let mut names: Vec<&str> = FLAG_OPTIONS.iter().map(|(name, _, _)| *name).collect();
    names.extend(RECURSIVE_OPTIONS.iter().map(|(name, _, _)| *name));
    names.extend(super::PROPAGATION_OPTIONS.iter().map(|(name, _)| *name));
    names.extend_from_slice(MODE_OPTIONS);
    if crate::spec::support::IDMAPPED_MOUNTS {
        names.extend_from_slice(&["idmap", "ridmap"]);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        try_parse(options, false).unwrap()
    }

    fn try_parse(options: &[&str], is_bind: bool) -> Result<MountOptions> {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        MountOptions::parse(&options, is_bind)
    }

    #[test]
    fn splits_flags_propagation_and_data() {
        let parsed = parse(&["nosuid", "ro", "rslave", "mode=755", "size=65536k"]);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(parsed.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(parsed.data().as_deref(), Some("mode=755,size=65536k"));
        assert!(!parsed.bind);
    }

    #[test]
    fn later_options_win_and_clearing_is_remembered() {
        let parsed = parse(&["ro", "rw", "rbind"]);
        assert_eq!(parsed.flags, MsFlags::empty());
        assert_eq!(parsed.cleared, MsFlags::MS_RDONLY);
        assert!(parsed.bind && parsed.recursive);
    }

    #[test]
    fn recursive_forms_become_mount_attributes() {
        let parsed = parse(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            parsed.recursive_attr.set,
            mount_attr::MOUNT_ATTR_RDONLY
                | mount_attr::MOUNT_ATTR_NOSUID
                | mount_attr::MOUNT_ATTR_NOATIME
        );
        assert_eq!(
            parsed.recursive_attr.clear,
            mount_attr::MOUNT_ATTR_ATIME_MASK
        );
        let parsed = parse(&["rro", "rrw", "rnoatime", "rrelatime"]);
        assert_eq!(parsed.recursive_attr.set, 0);
        assert_eq!(
            parsed.recursive_attr.clear,
            mount_attr::MOUNT_ATTR_RDONLY | mount_attr::MOUNT_ATTR_ATIME_MASK
        );
    }

    #[test]
    fn binds_refuse_what_they_cannot_honour() {
        let err = try_parse(&["rbind", "size=10"], false).unwrap_err();
        assert!(err.to_string().contains("size=10"), "{err}");
        assert!(try_parse(&["bogus"], true).is_err());
        assert!(try_parse(&["bind", "sync"], false).is_err());
        assert!(try_parse(&["bind", "ro", "nosymfollow", "rprivate"], false).is_ok());
        // A filesystem mount passes unknown options to the filesystem.
        assert_eq!(parse(&["size=10"]).data().as_deref(), Some("size=10"));
    }

    #[test]
    fn deferred_features_are_refused_by_name() {
        // idmap/ridmap are no mount flags: rootfs::idmap makes them.
        assert_eq!(parse(&["bind", "idmap"]), parse(&["bind"]));
    }
    #[test]
    fn per_mount_attributes_name_only_what_the_options_do() {
        let parsed = parse(&["nosuid", "noexec", "nodev", "relatime", "ro"]);
        let attr = parsed.per_mount_attr();
        assert_eq!(
            attr.set,
            mount_attr::MOUNT_ATTR_RDONLY
                | mount_attr::MOUNT_ATTR_NOSUID
                | mount_attr::MOUNT_ATTR_NODEV
                | mount_attr::MOUNT_ATTR_NOEXEC
        );
        assert_eq!(attr.clear, mount_attr::MOUNT_ATTR_ATIME_MASK);
        let attr = parse(&["rw", "suid", "noatime"]).per_mount_attr();
        assert_eq!(attr.set, mount_attr::MOUNT_ATTR_NOATIME);
        assert_eq!(
            attr.clear,
            mount_attr::MOUNT_ATTR_RDONLY
                | mount_attr::MOUNT_ATTR_NOSUID
                | mount_attr::MOUNT_ATTR_ATIME_MASK
        );
        // No access-time option: the mode is left alone.
        assert_eq!(parse(&["nodev"]).per_mount_attr().clear, 0);
    }
}
