//! The runtime spec's state of a container, as hooks read it on stdin and a seccomp
//! listener receives it with the notify descriptor.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ContainerState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// One of creating, created, running, stopped.
    pub status: String,
    /// The init's PID as the host sees it; 0 once it is stopped.
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl ContainerState {
    pub fn new(
        id: &str,
        status: &str,
        pid: i32,
        bundle: &std::path::Path,
        annotations: &HashMap<String, String>,
    ) -> ContainerState {
        ContainerState {
            oci_version: crate::SPEC_VERSION.to_string(),
            id: id.to_string(),
            status: status.to_string(),
            pid,
            bundle: bundle.to_path_buf(),
            annotations: annotations.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and a string map always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}
