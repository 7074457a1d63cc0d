//! `exec --user` by name: looked up in the container's own /etc/passwd and /etc/group,
//! opened inside the container's root (as its init sees it) with `RESOLVE_IN_ROOT`, so a
//! symlink in the image can never point the lookup at the host's files. What the files say
//! is the container's to decide; only numbers come out of them.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::rootfs::paths;

/// A user or group as `--user` gives it.
#[derive(Debug, PartialEq, Eq)]
pub enum Id {
    Number(u32),
    Name(String),
}

/// `--user user[:group]`.
#[derive(Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub user: Id,
    pub group: Option<Id>,
}

impl UserSpec {
    pub fn parse(text: &str) -> Result<UserSpec> {
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (text, None),
        };
        Ok(UserSpec {
            user: id(text, user)?,
            group: group.map(|g| id(text, g)).transpose()?,
        })
    }

    pub fn has_names(&self) -> bool {
        matches!(self.user, Id::Name(_)) || matches!(self.group, Some(Id::Name(_)))
    }

    /// The uid, and the gid if the spec decides it: the group given, or the primary
    /// group of a user given by name. `root` is the container's root, needed for names.
    pub fn resolve(&self, root: Option<&OwnedFd>) -> Result<(u32, Option<u32>)> {
        let root = || root.context("resolving --user names needs the container's root");
        let (uid, primary_gid) = match &self.user {
            Id::Number(uid) => (*uid, None),
            Id::Name(name) => {
                let entry = lookup(root()?, "/etc/passwd", name)?.with_context(|| {
                    format!("--user: no user {name:?} in the container's /etc/passwd")
                })?;
                let uid = number(&entry, 2, name, "/etc/passwd")?;
                let gid = number(&entry, 3, name, "/etc/passwd")?;
                (uid, Some(gid))
            }
        };
        let gid = match &self.group {
            None => primary_gid,
            Some(Id::Number(gid)) => Some(*gid),
            Some(Id::Name(name)) => {
                let entry = lookup(root()?, "/etc/group", name)?.with_context(|| {
                    format!("--user: no group {name:?} in the container's /etc/group")
                })?;
                Some(number(&entry, 2, name, "/etc/group")?)
            }
        };
        Ok((uid, gid))
    }
}

/// One side of `user[:group]`: a number, or a name as passwd(5) allows one.
fn id(text: &str, part: &str) -> Result<Id> {
    if part.is_empty() {
        bail!("--user {text:?}: expected user[:group]");
    }
    if part.chars().all(|c| c.is_ascii_digit()) {
        let number = part
            .parse()
            .with_context(|| format!("--user {text:?}: {part} is out of range"))?;
        return Ok(Id::Number(number));
    }
    let valid = part.len() <= 256
        && !part.starts_with('-')
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c));
    if !valid {
        bail!("--user {text:?}: {part:?} is neither a number nor a valid name");
    }
    Ok(Id::Name(part.to_string()))
}

/// The most of /etc/passwd or /etc/group read: a huge (or endless) file in the image must
/// not exhaust skiff's memory.
const MAX_DATABASE: u64 = 4 << 20;

/// The fields of the line of `file` (inside `root`) whose first field is `name`.
fn lookup(root: &OwnedFd, file: &str, name: &str) -> Result<Option<Vec<String>>> {
    let fd = paths::open(root, Path::new(file), libc::O_RDONLY | libc::O_NOCTTY)
        .with_context(|| format!("--user {name:?}: opening the container's {file}"))?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_DATABASE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("--user {name:?}: reading the container's {file}"))?;
    if text.len() as u64 > MAX_DATABASE {
        bail!("--user {name:?}: the container's {file} is larger than 4 MiB");
    }
    Ok(text
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .map(|fields| fields.into_iter().map(str::to_string).collect()))
}

fn number(fields: &[String], index: usize, name: &str, file: &str) -> Result<u32> {
    fields
        .get(index)
        .and_then(|field| field.parse().ok())
        .with_context(|| {
            format!("--user {name:?}: its line in the container's {file} is malformed")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_told_apart() {
        assert_eq!(
            UserSpec::parse("1000").unwrap(),
            UserSpec {
                user: Id::Number(1000),
                group: None
            }
        );
        assert_eq!(
            UserSpec::parse("alice:100").unwrap(),
            UserSpec {
                user: Id::Name("alice".into()),
                group: Some(Id::Number(100))
            }
        );
        assert!(UserSpec::parse("0:staff").unwrap().has_names());
        assert!(!UserSpec::parse("0:0").unwrap().has_names());
        for bad in [
            "",
            ":",
            "1000:",
            ":5",
            "-1",
            "99999999999",
            "a/b",
            "../etc",
            "a b",
            "1:2:3",
        ] {
            assert!(UserSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_need_no_root() {
        assert_eq!(
            UserSpec::parse("7:8").unwrap().resolve(None).unwrap(),
            (7, Some(8))
        );
        assert_eq!(
            UserSpec::parse("7").unwrap().resolve(None).unwrap(),
            (7, None)
        );
        assert!(UserSpec::parse("alice").unwrap().resolve(None).is_err());
    }

    #[test]
    fn names_are_looked_up_inside_the_root_only() {
        let dir = std::env::temp_dir().join(format!("skiff-users-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(
            dir.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1001::/home/alice:/bin/sh\nbad:x:nope:1\n",
        )
        .unwrap();
        // A group file that points at the host's: resolved inside the root, it is missing.
        std::os::unix::fs::symlink(
            "/../../../etc/nonexistent-skiff-group",
            dir.join("etc/group"),
        )
        .unwrap();
        let root = OwnedFd::from(std::fs::File::open(&dir).unwrap());
        let resolve = |text: &str| UserSpec::parse(text).unwrap().resolve(Some(&root));
        assert_eq!(resolve("alice").unwrap(), (1000, Some(1001)));
        assert_eq!(resolve("alice:5").unwrap(), (1000, Some(5)));
        assert!(resolve("nobody")
            .unwrap_err()
            .to_string()
            .contains("no user"));
        assert!(resolve("bad")
            .unwrap_err()
            .to_string()
            .contains("malformed"));
        assert!(resolve("0:root")
            .unwrap_err()
            .to_string()
            .contains("/etc/group"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
