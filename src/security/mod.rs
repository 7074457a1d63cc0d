//! What the container's process is allowed to be: its user and groups, capabilities,
//! resource limits and no_new_privs.

pub mod capabilities;
pub mod identity;
pub mod rlimits;
