//! The container's processes: the parent side that clones the init and configures it from
//! outside, the init's own steps, and the channel between them.

pub mod channel;
pub mod console;
pub mod exec;
mod id_map;
pub mod init;
pub mod parent;
pub mod tail;
pub mod time_namespace;
