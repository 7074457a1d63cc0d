//! `hooks`: what each hook must be for skiff to run it as configured.

use anyhow::{bail, Result};
use oci_spec::runtime::Spec;

use crate::hooks::Kind;

/// Every hook needs an absolute `path` and, when it has one, a `timeout` above zero. A NUL
/// byte in its path, args or env is refused too: execve could not pass it, and a
/// poststart or poststop hook that cannot run would only be a warning.
pub fn validate(spec: &Spec) -> Result<()> {
    for kind in Kind::ALL {
        for (index, hook) in kind.of(spec.hooks().as_ref()).iter().enumerate() {
            let field = format!("hooks.{}[{index}]", kind.name());
            let path = hook.path();
            if path.as_os_str().is_empty() {
                bail!("{field}.path is empty: a hook needs a program to run");
            }
            if !path.is_absolute() {
                bail!("{field}.path {} must be absolute", path.display());
            }
            if path.to_string_lossy().contains('\0') {
                bail!("{field}.path {path:?} contains a NUL byte");
            }
            if let Some(timeout) = hook.timeout() {
                if timeout <= 0 {
                    bail!("{field}.timeout {timeout} must be greater than zero");
                }
            }
            for (i, arg) in hook.args().iter().flatten().enumerate() {
                if arg.contains('\0') {
                    bail!("{field}.args[{i}] {arg:?} contains a NUL byte");
                }
            }
            for (i, entry) in hook.env().iter().flatten().enumerate() {
                if entry.contains('\0') {
                    bail!("{field}.env[{i}] {entry:?} contains a NUL byte");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(hooks: serde_json::Value) -> Result<()> {
        let mut config = crate::spec::template(false);
        config["hooks"] = hooks;
        let spec: Spec = serde_json::from_value(config).unwrap();
        validate(&spec)
    }

    #[test]
    fn good_hooks_and_no_hooks_pass() {
        check(serde_json::json!({})).unwrap();
        check(serde_json::json!({
            "prestart": [{"path": "/bin/true"}],
            "createRuntime": [{"path": "/bin/true", "args": ["true", "a"], "env": ["A=1", "B=", "A=2", "NOEQUALS"], "timeout": 1}],
            "poststop": []
        }))
        .unwrap();
    }

    #[test]
    fn bad_hooks_are_refused_naming_the_field() {
        let cases = [
            (
                serde_json::json!({"poststart": [{"path": "/bin/true"}, {"path": "true"}]}),
                "hooks.poststart[1].path",
            ),
            (
                serde_json::json!({"prestart": [{"path": ""}]}),
                "hooks.prestart[0].path",
            ),
            (
                serde_json::json!({"createContainer": [{"path": "../x"}]}),
                "hooks.createContainer[0].path",
            ),
            (
                serde_json::json!({"startContainer": [{"path": "/x", "timeout": 0}]}),
                "hooks.startContainer[0].timeout",
            ),
            (
                serde_json::json!({"poststop": [{"path": "/x", "timeout": -5}]}),
                "hooks.poststop[0].timeout",
            ),
            (
                serde_json::json!({"createRuntime": [{"path": "/x", "env": ["A=1", "B=\u{0}"]}]}),
                "hooks.createRuntime[0].env[1]",
            ),
            (
                serde_json::json!({"createRuntime": [{"path": "/x", "args": ["x", "a\u{0}b"]}]}),
                "hooks.createRuntime[0].args[1]",
            ),
            (
                serde_json::json!({"createRuntime": [{"path": "/x\u{0}y"}]}),
                "hooks.createRuntime[0].path",
            ),
        ];
        for (hooks, field) in cases {
            let err = check(hooks.clone()).unwrap_err().to_string();
            assert!(err.starts_with(field), "{hooks}: {err}");
        }
    }
}
