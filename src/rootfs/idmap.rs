//! Idmapped mounts: `mounts[].uidMappings`/`gidMappings` and the `idmap`/`ridmap`
//! options. The parent, host root in the host's mount namespace, makes a detached copy of
//! each such bind source (open_tree), gives it the mappings of a user namespace made for
//! them (mount_setattr with MOUNT_ATTR_IDMAP), and the init attaches that copy in the
//! container (move_mount), whether or not the container has a user namespace of its own.
//!
//! A mapping reads as in a user namespace: a file whose owner on disk is `containerID + n`
//! is seen through the mount as owned by `hostID + n`, and a file made through the mount
//! by `hostID + n` is stored as `containerID + n`.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use crate::sys::{self, Forked};

/// The kernel's limit on the lines of a uid_map or gid_map.
const MAX_MAPPINGS: usize = 340;

/// What one idmapped mount asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `ridmap`: the mounts below the source are idmapped too.
    pub recursive: bool,
    pub uid: Vec<LinuxIdMapping>,
    pub gid: Vec<LinuxIdMapping>,
}

/// The idmapping mount `index` asks for, if any, or why it cannot be honoured. With
/// `idmap`/`ridmap` and no mappings of its own, a mount takes the container's user
/// namespace mappings; mappings without either option make a non-recursive idmap.
pub fn request(index: usize, mount: &Mount, linux: Option<&Linux>) -> Result<Option<Request>> {
    let options = mount.options().as_deref().unwrap_or_default();
    let option = options.iter().rfind(|o| *o == "idmap" || *o == "ridmap");
    let own_uid = mount.uid_mappings().as_ref().filter(|m| !m.is_empty());
    let own_gid = mount.gid_mappings().as_ref().filter(|m| !m.is_empty());
    if option.is_none() && own_uid.is_none() && own_gid.is_none() {
        return Ok(None);
    }
    let field = format!("mounts[{index}] ({})", mount.destination().display());
    if !super::bind_sources::is_bind(mount) {
        bail!(
            "{field}: an idmapped mount must be a bind mount (type \"bind\" or option bind/rbind)"
        );
    }
    let (uid, gid) = match (own_uid, own_gid) {
        (Some(uid), Some(gid)) => (uid.clone(), gid.clone()),
        (None, None) => {
            let new_user_ns = linux
                .and_then(|l| l.namespaces().as_ref())
                .into_iter()
                .flatten()
                .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none());
            let container = |m: Option<&Vec<LinuxIdMapping>>| m.cloned().unwrap_or_default();
            let uid = container(linux.and_then(|l| l.uid_mappings().as_ref()));
            let gid = container(linux.and_then(|l| l.gid_mappings().as_ref()));
            if !new_user_ns || uid.is_empty() || gid.is_empty() {
                bail!("{field}: option {:?} without uidMappings/gidMappings takes the container's user namespace mappings, and the container has no new user namespace", option.map(String::as_str).unwrap_or("idmap"));
            }
            (uid, gid)
        }
        _ => bail!("{field}: uidMappings and gidMappings must be given together"),
    };
    for (name, mappings) in [("uidMappings", &uid), ("gidMappings", &gid)] {
        check_mappings(&format!("mounts[{index}].{name}"), mappings)?;
    }
    Ok(Some(Request {
        recursive: option.map(String::as_str) == Some("ridmap"),
        uid,
        gid,
    }))
}

/// Mappings the kernel would take: non-empty sizes, no range past the largest ID, no
/// more lines than a map file holds, and no two ranges overlapping on either side.
fn check_mappings(field: &str, mappings: &[LinuxIdMapping]) -> Result<()> {
    if mappings.len() > MAX_MAPPINGS {
        bail!(
            "{field}: {} mappings, the kernel takes at most {MAX_MAPPINGS}",
            mappings.len()
        );
    }
    for (i, m) in mappings.iter().enumerate() {
        if m.size() == 0 {
            bail!("{field}[{i}].size is 0");
        }
        for (side, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if u64::from(start) + u64::from(m.size()) > u64::from(u32::MAX) {
                bail!(
                    "{field}[{i}]: {side} {start} + size {} runs past the largest ID",
                    m.size()
                );
            }
        }
        for (j, other) in mappings[..i].iter().enumerate() {
            let overlaps = |a: u32, b: u32| a < b + other.size() && b < a + m.size();
            if overlaps(m.container_id(), other.container_id())
                || overlaps(m.host_id(), other.host_id())
            {
                bail!("{field}[{i}] overlaps {field}[{j}]");
            }
        }
    }
    Ok(())
}

/// Checks every mount's idmapping.
pub fn validate(spec: &Spec) -> Result<()> {
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        request(index, mount, spec.linux().as_ref())?;
    }
    Ok(())
}

/// Parent side: the idmapped copy of each such mount's source, by mount index, ready for
/// the init to attach.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<HashMap<usize, OwnedFd>> {
    let mut trees = HashMap::new();
    let mut namespaces: Vec<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>, OwnedFd)> = Vec::new();
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        let Some(request) = request(index, mount, spec.linux().as_ref())? else {
            continue;
        };
        let field = format!("mounts[{index}]");
        let source = bundle.join(
            mount
                .source()
                .as_ref()
                .with_context(|| format!("{field}: a bind mount needs a source"))?,
        );
        // One user namespace per distinct mapping, however many mounts use it.
        let known = namespaces
            .iter()
            .position(|(uid, gid, _)| *uid == request.uid && *gid == request.gid);
        let position = match known {
            Some(position) => position,
            None => {
                let userns = user_namespace(&request.uid, &request.gid).with_context(|| {
                    format!("{field}: making a user namespace for its mappings")
                })?;
                namespaces.push((request.uid.clone(), request.gid.clone(), userns));
                namespaces.len() - 1
            }
        };
        let recursive_bind = mount.options().iter().flatten().any(|o| o == "rbind");
        let tree = sys::mount_attr::clone_tree(&source, recursive_bind || request.recursive)
            .with_context(|| format!("{field}: copying the mount of {}", source.display()))?;
        sys::mount_attr::set_idmap(&tree, &namespaces[position].2, request.recursive)
            .with_context(|| {
                format!(
                    "{field}: idmapping {} (does its filesystem support idmapped mounts?)",
                    source.display()
                )
            })?;
        trees.insert(index, tree);
    }
    Ok(trees)
}

/// A user namespace with the given mappings, held by a descriptor: a child is cloned into
/// it, its maps are written, the namespace is opened, and the child exits.
fn user_namespace(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (wait_end, release_end) = nix::unistd::pipe().context("creating a pipe")?;
    match sys::clone_process(libc::CLONE_NEWUSER as u64, None)
        .context("cloning into a new user namespace")?
    {
        Forked::Child => {
            drop(release_end);
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(&wait_end, &mut byte);
            std::process::exit(0)
        }
        Forked::Parent(pid) => {
            drop(wait_end);
            let opened = crate::process::parent::write_id_map(pid, "uid_map", uid)
                .and_then(|()| crate::process::parent::write_id_map(pid, "gid_map", gid))
                .and_then(|()| {
                    let path = format!("/proc/{pid}/ns/user");
                    let file =
                        std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
                    Ok(OwnedFd::from(file))
                });
            drop(release_end);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            opened
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: serde_json::Value) -> Mount {
        serde_json::from_value(json).unwrap()
    }

    fn map(c: u32, h: u32, s: u32) -> serde_json::Value {
        serde_json::json!({"containerID": c, "hostID": h, "size": s})
    }

    #[test]
    fn options_and_mappings_make_a_request() {
        let m = mount(
            serde_json::json!({"destination": "/m", "type": "bind", "source": "/s",
            "options": ["rbind", "ridmap"], "uidMappings": [map(0, 1000, 10)], "gidMappings": [map(0, 2000, 10)]}),
        );
        let r = request(0, &m, None).unwrap().unwrap();
        assert!(r.recursive);
        assert_eq!(r.uid[0].host_id(), 1000);
        assert_eq!(r.gid[0].host_id(), 2000);
        let plain = mount(serde_json::json!({"destination": "/m", "type": "bind", "source": "/s"}));
        assert_eq!(request(0, &plain, None).unwrap(), None);
    }

    #[test]
    fn bad_requests_are_refused_by_field() {
        for (json, needle) in [
            (
                serde_json::json!({"destination": "/m", "type": "tmpfs", "source": "t", "options": ["idmap"],
                "uidMappings": [map(0, 1, 1)], "gidMappings": [map(0, 1, 1)]}),
                "must be a bind mount",
            ),
            (
                serde_json::json!({"destination": "/m", "type": "bind", "source": "/s",
                "uidMappings": [map(0, 1, 1)]}),
                "given together",
            ),
            (
                serde_json::json!({"destination": "/m", "type": "bind", "source": "/s", "options": ["idmap"]}),
                "no new user namespace",
            ),
            (
                serde_json::json!({"destination": "/m", "type": "bind", "source": "/s",
                "uidMappings": [map(0, 1, 0)], "gidMappings": [map(0, 1, 1)]}),
                "mounts[0].uidMappings[0].size is 0",
            ),
            (
                serde_json::json!({"destination": "/m", "type": "bind", "source": "/s",
                "uidMappings": [map(0, 4294967295, 2)], "gidMappings": [map(0, 1, 1)]}),
                "past the largest ID",
            ),
            (
                serde_json::json!({"destination": "/m", "type": "bind", "source": "/s",
                "uidMappings": [map(0, 100, 10), map(5, 500, 10)], "gidMappings": [map(0, 1, 1)]}),
                "overlaps",
            ),
        ] {
            let err = request(0, &mount(json.clone()), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("mounts[0]"),
                "{json}: {err}"
            );
        }
    }
}
