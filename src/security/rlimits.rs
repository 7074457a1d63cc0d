//! `process.rlimits`.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::PosixRlimit;

/// The resource number for a spec rlimit type, through its `RLIMIT_*` name.
fn resource_of(limit: &PosixRlimit) -> Result<(String, libc::__rlimit_resource_t)> {
    let name = serde_json::to_value(limit.typ())?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let resource = match name.as_str() {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        other => bail!("process.rlimits: unknown type {other}"),
    };
    Ok((name, resource))
}

pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for limit in limits {
        let (name, resource) = resource_of(limit)?;
        let value = libc::rlimit {
            rlim_cur: limit.soft(),
            rlim_max: limit.hard(),
        };
        crate::sys::set_rlimit(resource, &value).with_context(|| {
            format!(
                "process.rlimits: setting {name} to {}:{}",
                limit.soft(),
                limit.hard()
            )
        })?;
    }
    Ok(())
}
