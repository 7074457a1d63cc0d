//! Switching to the container's user: supplementary groups, then gid, then uid, keeping the
//! permitted capabilities across the uid change so the capability step can pick from them.

use anyhow::{bail, Context, Result};
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::sys;

pub fn switch_to(user: &User, setgroups_allowed: bool) -> Result<()> {
    let groups = user.additional_gids().clone().unwrap_or_default();
    if setgroups_allowed {
        sys::set_groups(&groups).context("setting process.user.additionalGids")?;
    } else if !groups.is_empty() {
        // Dropping them would run the process without groups the config relies on.
        bail!("process.user.additionalGids cannot be set: the user namespace denies setgroups");
    }
    nix::sys::prctl::set_keepcaps(true).context("keeping capabilities across setuid")?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).with_context(|| format!("setting process.user.gid {}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).with_context(|| format!("setting process.user.uid {}", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).context("resetting keepcaps")?;
    Ok(())
}
