//! Loading and validating a bundle's `config.json`, and the template `skiff spec` writes.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

pub mod cgroups;
mod hooks;
pub mod lsm;
mod mappings;
mod mounts;
mod sysctl;
mod template;
pub use template::template;

/// A bundle whose configuration has been read and checked: everything the create path
/// needs is known to be present, so later steps can use it without re-checking.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Reads `<bundle>/config.json` and rejects what skiff cannot or must not run, naming the
/// offending field.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir =
        std::fs::canonicalize(bundle).with_context(|| format!("bundle {}", bundle.display()))?;
    let config = dir.join("config.json");
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("reading {}", config.display()))?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|e| crate::security::seccomp::name_the_field(&text, e.into()))
        .with_context(|| format!("parsing {}", config.display()))?;
    let rootfs = validate(&spec, &dir)?;
    Ok(Bundle { dir, rootfs, spec })
}

/// Checks the fields skiff relies on and returns the absolute root filesystem path.
fn validate(spec: &Spec, bundle_dir: &Path) -> Result<PathBuf> {
    if !version_supported(spec.version()) {
        bail!(
            "ociVersion {:?} is not supported: skiff runs 1.x.y configurations",
            spec.version()
        );
    }
    let root = spec
        .root()
        .as_ref()
        .context("root.path is missing: root is required on Linux")?;
    // A `root` without `path` parses as an empty path, which would make the bundle
    // directory itself (config.json and all) the container's root.
    if root.path().as_os_str().is_empty() {
        bail!("root.path is missing");
    }
    let rootfs = bundle_dir.join(root.path());
    if !rootfs.is_dir() {
        bail!("root.path {} is not a directory", rootfs.display());
    }
    let process = spec.process().as_ref().context("process.args is missing")?;
    validate_process(process)?;
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        if !mount.destination().is_absolute() {
            bail!(
                "mounts[{index}].destination {} must be an absolute path",
                mount.destination().display()
            );
        }
    }
    let linux = spec.linux().as_ref().context("linux is missing")?;
    cgroups::validate(linux)?;
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let has_new = |kind: LinuxNamespaceType| {
        namespaces
            .iter()
            .any(|ns| ns.typ() == kind && ns.path().is_none())
    };
    let has_any = |kind: LinuxNamespaceType| namespaces.iter().any(|ns| ns.typ() == kind);
    for (index, ns) in namespaces.iter().enumerate() {
        if namespaces[..index]
            .iter()
            .any(|seen| seen.typ() == ns.typ())
        {
            bail!("linux.namespaces[{index}]: {:?} is listed twice", ns.typ());
        }
        if ns.typ() == LinuxNamespaceType::Time {
            bail!("linux.namespaces[{index}]: time namespaces are not supported yet");
        }
    }
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        // A uts namespace joined by path will do (as in runc), unless it is the host's own.
        if value.as_deref().is_some_and(|v| !v.is_empty())
            && !sysctl::container_owns(namespaces, LinuxNamespaceType::Uts)
                .with_context(|| format!("{field}: checking the uts namespace"))?
        {
            bail!(
                "{field} is set but the container has no uts namespace of its own (a new \
                 one, or one joined by path that is not the host's)"
            );
        }
    }
    if !has_any(LinuxNamespaceType::Mount) {
        bail!("linux.namespaces must include a mount namespace");
    }
    let user_joined = namespaces
        .iter()
        .any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_some());
    if user_joined && namespaces.iter().any(|ns| ns.path().is_none()) {
        bail!("linux.namespaces: joining a user namespace by path while creating other namespaces is not supported yet");
    }
    if has_new(LinuxNamespaceType::User) {
        for (field, mappings) in [
            ("linux.uidMappings", linux.uid_mappings()),
            ("linux.gidMappings", linux.gid_mappings()),
        ] {
            if mappings.as_deref().unwrap_or_default().is_empty() {
                bail!("{field} is required with a new user namespace");
            }
        }
    }
    sysctl::validate(linux)?;
    mappings::validate(linux)?;
    lsm::validate(spec)?;
    mounts::validate(spec)?;
    hooks::validate(spec)?;
    // Settings skiff cannot honour yet are refused rather than silently ignored: a
    // container asked to run confined must not run unconfined.
    let unsupported = [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
        ("linux.timeOffsets", linux.time_offsets().is_some()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, present)| *present) {
        bail!("{field} is not supported yet");
    }
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
            bail!(
                "mounts[{index}]: idmapped mounts (uidMappings/gidMappings) are not supported yet"
            );
        }
    }
    if let Some(propagation) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flags(propagation).is_none() {
            bail!("linux.rootfsPropagation {propagation:?} is not a propagation mode");
        }
    }
    Ok(rootfs)
}

/// What skiff checks of a process and refuses in it: the config's, or one `exec` is
/// given.
pub fn validate_process(process: &Process) -> Result<()> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => bail!("process.args must name the program to run"),
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {} must be absolute", process.cwd().display());
    }
    lsm::validate_process(process)?;
    // Settings skiff cannot honour yet are refused rather than silently ignored.
    let unsupported = [
        ("process.scheduler", process.scheduler().is_some()),
        ("process.ioPriority", process.io_priority().is_some()),
        (
            "process.execCPUAffinity",
            process.exec_cpu_affinity().is_some(),
        ),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, present)| *present) {
        bail!("{field} is not supported yet");
    }
    Ok(())
}

/// Every 1.x.y release of the runtime spec is compatible with 1.0's schema; anything else
/// (0.x, 2.x, or not a version at all) is refused.
fn version_supported(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts[0] == "1"
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_1_x_y_version() {
        for v in ["1.0.0", "1.0.2-dev", "1.2.1", "1.3.0", "1.10.4+build"] {
            assert!(version_supported(v), "{v}");
        }
    }

    #[test]
    fn refuses_other_versions() {
        for v in ["2.0.0", "0.9.0", "1.0", "1", "", "1.x.0", "v1.0.0"] {
            assert!(!version_supported(v), "{v}");
        }
    }

    fn validate_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<PathBuf> {
        // One bundle per call (tests run in parallel threads), removed afterwards so unit
        // tests leave nothing in /tmp.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bundle = std::env::temp_dir().join(format!("skiff-spec-{}-{call}", std::process::id()));
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let mut config = template(false);
        edit(&mut config);
        let spec: Spec = serde_json::from_value(config).unwrap();
        let result = validate(&spec, &bundle);
        std::fs::remove_dir_all(&bundle).unwrap();
        result
    }

    #[test]
    fn exec_cpu_affinity_is_refused_by_name() {
        let err = validate_with(|c| {
            c["process"]["execCPUAffinity"] = serde_json::json!({"initial": "0"})
        })
        .unwrap_err();
        assert!(err.to_string().contains("process.execCPUAffinity"), "{err}");
    }

    #[test]
    fn settings_skiff_cannot_honour_are_refused_by_name() {
        let cases: [(&str, serde_json::Value); 2] = [
            (
                "linux.personality",
                serde_json::json!({"domain": "LINUX32"}),
            ),
            ("linux.intelRdt", serde_json::json!({"closID": "x"})),
        ];
        for (field, value) in cases {
            let key = field.trim_start_matches("linux.").to_string();
            let err = validate_with(|c| c["linux"][key] = value).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn the_template_validates() {
        validate_with(|_| {}).unwrap();
    }

    #[test]
    fn template_parses_as_a_spec() {
        for rootless in [false, true] {
            let spec: Spec = serde_json::from_value(template(rootless)).expect("valid spec");
            // runc's template asks for a terminal; scripts turn it off when they need to.
            assert_eq!(spec.process().as_ref().unwrap().terminal(), Some(true));
        }
    }
}
