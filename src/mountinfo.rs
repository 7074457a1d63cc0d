//! `/proc/self/mountinfo`, parsed once in one place for everything that needs to know what
//! is mounted where (the cgroup hierarchies, the host's kernel filesystems for --no-pivot).

use std::path::PathBuf;

use anyhow::Result;

/// The fields of one mountinfo line that skiff uses.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The path inside the mounted filesystem that is mounted (`/` for a whole one).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    pub fstype: &'a str,
    pub super_options: &'a str,
}

/// This process' mountinfo, as text for `entries`.
pub fn read() -> Result<String> {
    crate::sys::read_to_string("/proc/self/mountinfo")
}

/// Every well-formed line of `text`; a line that is not is skipped.
pub fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(|line| {
        let (before, after) = line.split_once(" - ")?;
        let mut fields = before.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let super_options = after.nth(1).unwrap_or_default();
        Some(Entry {
            root: PathBuf::from(unescape(root)),
            mount_point: PathBuf::from(unescape(mount_point)),
            fstype,
            super_options,
        })
    })
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_their_fields_unescaped() {
        let text = "\
25 1 0:21 /sys /srv/proc\\040sys ro - proc proc rw
30 24 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
broken line
";
        let found: Vec<Entry> = entries(text).collect();
        assert_eq!(
            found,
            vec![
                Entry {
                    root: PathBuf::from("/sys"),
                    mount_point: PathBuf::from("/srv/proc sys"),
                    fstype: "proc",
                    super_options: "rw",
                },
                Entry {
                    root: PathBuf::from("/"),
                    mount_point: PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                    fstype: "cgroup",
                    super_options: "rw,cpu,cpuacct",
                },
            ]
        );
        assert_eq!(unescape("/a\\040b\\134c\\011"), "/a b\\c\t");
    }
}
