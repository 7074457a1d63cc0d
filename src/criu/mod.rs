//! CRIU, driven through its RPC interface (`criu swrk`): requests as protocol buffers over
//! a socket pair, notifications answered as they come (hooks, the restored PID, a
//! terminal's master). Chosen over the command line because the RPC hands back the
//! restored init as skiff's own child (`rst_sibling`), reports its PID, and lets skiff put
//! CRIU into the container's cgroup before anything is restored.

pub mod log;
pub mod proto;
pub mod rpc;
pub mod swrk;
