//! Turning a CRIU failure into one line: CRIU's own first real error, quoted from its
//! log file, and where that log is.

use std::path::Path;

/// Error lines CRIU logs on every run here that are not why anything failed: without
/// CAP_SYS_RESOURCE it cannot raise its own descriptor limit, and carries on.
const NOISE: &[&str] = &["Can't setup RLIMIT_NOFILE for self"];

/// The summaries CRIU ends a failed run with, which say nothing of the cause.
const SUMMARIES: &[&str] = &[
    "Dumping FAILED.",
    "Restoring FAILED.",
    "Pre-dumping FAILED.",
];

/// The first error line in `text` that names a cause: `Error (file.c:N): message`,
/// returned as `message (file.c:N)`.
pub fn first_error(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let at = line.find("Error (")?;
        let rest = &line[at + "Error (".len()..];
        let (place, message) = rest.split_once("): ")?;
        let message = message.trim();
        if NOISE.iter().any(|n| message.contains(n)) || SUMMARIES.contains(&message) {
            return None;
        }
        Some(format!("{message} ({place})"))
    })
}

/// What a failed CRIU call says: CRIU's first error from the log if there is one, else
/// what its response said, and the log's path.
pub fn describe(what: &str, log: &Path, response: Option<&str>) -> String {
    let quoted = std::fs::read_to_string(log)
        .ok()
        .and_then(|text| first_error(&text));
    let cause = quoted
        .or_else(|| response.map(str::to_string))
        .unwrap_or_else(|| "no error line in its log".to_string());
    let hint = hint_for(&cause);
    format!("criu {what} failed: {cause}{hint} (log: {})", log.display())
}

/// A pointer to skiff's rules for the failures a user is most likely to meet.
fn hint_for(cause: &str) -> &'static str {
    if cause.contains("Can't lookup mount") && cause.contains("for fd=") {
        "; the container's stdio must be pipes (or a terminal) to be checkpointed, not files or /dev/null of the host"
    } else if cause.contains("Unexpected rt vDSO area bounds") {
        "; this CRIU is too old for this kernel: use CRIU 4.1 or later (--criu PATH)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "(00.05) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted\n\
(00.19) Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=0 path=/dev/null\n\
(00.19) Error (criu/cr-dump.c:1698): Dump files (pid: 23688) failed with -1\n\
(00.20) Error (criu/cr-dump.c:2128): Dumping FAILED.\n";

    #[test]
    fn the_first_cause_is_quoted_and_noise_skipped() {
        assert_eq!(
            first_error(LOG).unwrap(),
            "Can't lookup mount=24 for fd=0 path=/dev/null (criu/files-reg.c:1790)"
        );
        assert_eq!(first_error("(0.1) Error (a.c:1): Dumping FAILED.\n"), None);
    }

    #[test]
    fn a_missing_log_falls_back_to_the_response() {
        let text = describe(
            "restore",
            Path::new("/nonexistent/restore.log"),
            Some("boom"),
        );
        assert_eq!(
            text,
            "criu restore failed: boom (log: /nonexistent/restore.log)"
        );
    }
}
