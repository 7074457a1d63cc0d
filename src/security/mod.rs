//! What the container's process is allowed to be: its user and groups, capabilities,
//! resource limits, no_new_privs and seccomp filter.

pub mod capabilities;
pub mod identity;
pub mod memory_policy;
pub mod personality;
pub mod rlimits;
pub mod scheduling;
pub mod seccomp;
