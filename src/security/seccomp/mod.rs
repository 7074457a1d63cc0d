//! `linux.seccomp`: the profile compiled to BPF in the parent, before anything is cloned,
//! and installed by the container's process as the last step before exec.

use anyhow::{bail, Result};
use oci_spec::runtime::LinuxSeccomp;

use crate::oci_state::ContainerState;

/// A compiled profile, with the connected listener socket when it uses SCMP_ACT_NOTIFY.
pub struct Seccomp {
    _compiled: (),
}

impl Seccomp {
    /// Compiles the profile (and connects to `listenerPath`, which lies outside the
    /// container's root once it is entered).
    pub fn prepare(_config: &LinuxSeccomp) -> Result<Seccomp> {
        bail!("linux.seccomp is not supported yet")
    }

    /// Installs the filter on the calling process; with NOTIFY actions, sends the listener
    /// descriptor and `state` to the listener.
    pub fn install(&self, _state: &ContainerState) -> Result<()> {
        bail!("linux.seccomp is not supported yet")
    }
}
