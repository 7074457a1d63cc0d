//! Mount options as the runtime spec writes them, turned into mount(2) flags, propagation
//! flags and the filesystem-specific data string.

use nix::mount::MsFlags;

#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags that the option list explicitly turns off (e.g. `rw`, `suid`), so a remount does
    /// not carry them over from the source.
    pub cleared: MsFlags,
    pub propagation: MsFlags,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: Vec::new(),
            bind: false,
            recursive: false,
        }
    }
}

impl MountOptions {
    pub fn parse(options: &[String]) -> MountOptions {
        let mut parsed = MountOptions::default();
        for option in options {
            if let Some((set, flag)) = flag_option(option) {
                if set {
                    parsed.flags |= flag;
                    parsed.cleared &= !flag;
                } else {
                    parsed.flags &= !flag;
                    parsed.cleared |= flag;
                }
            } else if let Some(flag) = super::propagation_flags(option) {
                parsed.propagation |= flag;
            } else if option == "bind" {
                parsed.bind = true;
            } else if option == "rbind" {
                parsed.bind = true;
                parsed.recursive = true;
            } else {
                parsed.data.push(option.clone());
            }
        }
        parsed
    }

    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// `(true, F)` for an option that sets flag F, `(false, F)` for one that clears it.
fn flag_option(option: &str) -> Option<(bool, MsFlags)> {
    let entry = match option {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        _ => return None,
    };
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(options: &[&str]) -> MountOptions {
        MountOptions::parse(&options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
}
