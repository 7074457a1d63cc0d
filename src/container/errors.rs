//! The failure texts engines match in a runtime's message (they read it back from `--log`).
//! containerd's runc shim treats a kill whose error contains "container not running" as a
//! process that already finished, and a delete or kill whose error contains "does not
//! exist" as a container that is gone; docker maps "container does not exist" to its own
//! not-found error and podman's `state` check looks for "does not exist". Every other text
//! is a failure to them, so these words are kept exactly as runc says them, with the ID.

/// runc's words for a container that is not in the state root.
pub const DOES_NOT_EXIST: &str = "container does not exist";
/// runc's words for a signal, pause or exec aimed at a container whose init is gone.
pub const NOT_RUNNING: &str = "container not running";
/// The words runc (and tools that retry on them) used for an ID that is taken.
pub const ID_EXISTS: &str = "container with id exists";

pub fn does_not_exist(id: &str) -> anyhow::Error {
    anyhow::anyhow!("{DOES_NOT_EXIST}: {id}")
}

pub fn not_running(id: &str) -> anyhow::Error {
    anyhow::anyhow!("{NOT_RUNNING}: {id}")
}

/// A container that is not running, with why (e.g. "it is created: start it first").
pub fn not_running_because(id: &str, why: &str) -> anyhow::Error {
    anyhow::anyhow!("{NOT_RUNNING}: {id}: {why}")
}

pub fn id_exists(id: &str) -> anyhow::Error {
    anyhow::anyhow!("{ID_EXISTS}: {id} (the ID is already in use)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_hold_the_words_engines_match() {
        // containerd 1.6 pkg/process/utils.go and docker 20.10 libcontainerd/remote.
        assert!(not_running("a")
            .to_string()
            .contains("container not running"));
        assert!(does_not_exist("a")
            .to_string()
            .contains("container does not exist"));
        assert!(id_exists("a")
            .to_string()
            .starts_with("container with id exists: a"));
    }
}
