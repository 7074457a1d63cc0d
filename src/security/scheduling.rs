//! `process.scheduler` (sched_setattr) and `process.ioPriority` (ioprio_set): checked when
//! the config is loaded, so a value the kernel would refuse or ignore is refused by name
//! before anything exists, and applied by every process (init and exec) before it drops
//! the capabilities a real-time policy or class needs.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler,
};

use crate::sys::sched::{self, SchedAttr};

const FIELD: &str = "process.scheduler";

/// The kernel's number for a policy; SCHED_ISO is in the spec's list but Linux never had
/// it (the kernel refuses it), so it is refused here with that reason.
fn policy_number(policy: LinuxSchedulerPolicy) -> Result<u32> {
    Ok(match policy {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => {
            bail!(
                "{FIELD}.policy SCHED_ISO: Linux has no such policy (reserved, never implemented)"
            )
        }
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    })
}

fn flag_bit(flag: LinuxSchedulerFlag) -> u64 {
    match flag {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// The kernel's attributes for `process.scheduler`, or why they cannot be honoured. Values
/// a policy does not use are refused rather than passed on for the kernel to ignore.
pub fn sched_attr(scheduler: &Scheduler) -> Result<SchedAttr> {
    use LinuxSchedulerPolicy::*;
    let policy = *scheduler.policy();
    let name = serde_json::to_value(policy)?
        .as_str()
        .unwrap_or_default()
        .to_string();
    let number = policy_number(policy)?;
    let mut attr = SchedAttr {
        policy: number,
        ..Default::default()
    };
    if let Some(nice) = *scheduler.nice() {
        if !matches!(policy, SchedOther | SchedBatch) {
            bail!("{FIELD}.nice: {name} does not use a nice value (only SCHED_OTHER and SCHED_BATCH do)");
        }
        if !(-20..=19).contains(&nice) {
            bail!("{FIELD}.nice {nice} is outside -20..19");
        }
        attr.nice = nice;
    }
    if let Some(priority) = *scheduler.priority() {
        let realtime = matches!(policy, SchedFifo | SchedRr);
        if realtime && !(1..=99).contains(&priority) {
            bail!("{FIELD}.priority {priority} is outside 1..99 for {name}");
        }
        if !realtime && priority != 0 {
            bail!("{FIELD}.priority {priority}: {name} takes priority 0 (only SCHED_FIFO and SCHED_RR have priorities)");
        }
        attr.priority = priority as u32;
    } else if matches!(policy, SchedFifo | SchedRr) {
        bail!("{FIELD}.priority is required for {name} (1..99)");
    }
    let deadline_fields = [
        ("runtime", *scheduler.runtime()),
        ("deadline", *scheduler.deadline()),
        ("period", *scheduler.period()),
    ];
    if policy == SchedDeadline {
        let runtime = scheduler.runtime().unwrap_or(0);
        let deadline = scheduler.deadline().unwrap_or(0);
        let period = scheduler.period().unwrap_or(0);
        // The kernel's own rules for a deadline task (sched(7)), checked here so the error
        // names the field instead of saying EINVAL.
        if runtime < 1024 {
            bail!("{FIELD}.runtime {runtime}: SCHED_DEADLINE needs a runtime of at least 1024 ns");
        }
        if deadline < runtime {
            bail!("{FIELD}.deadline {deadline} is less than runtime {runtime}");
        }
        if period != 0 && period < deadline {
            bail!("{FIELD}.period {period} is less than deadline {deadline}");
        }
        // The kernel keeps these in signed 64-bit nanoseconds (at most 2^63 - 1).
        for (field, value) in deadline_fields {
            if value.unwrap_or(0) >= 1 << 63 {
                bail!("{FIELD}.{field} {} is too large", value.unwrap_or(0));
            }
        }
        attr.runtime = runtime;
        attr.deadline = deadline;
        attr.period = period;
    } else if let Some((field, _)) = deadline_fields.iter().find(|(_, v)| v.is_some()) {
        bail!("{FIELD}.{field}: only SCHED_DEADLINE uses a {field}, not {name}");
    }
    for flag in scheduler.flags().iter().flatten() {
        let deadline_only = matches!(
            flag,
            LinuxSchedulerFlag::SchedFlagReclaim | LinuxSchedulerFlag::SchedFlagDLOverrun
        );
        if deadline_only && policy != SchedDeadline {
            let flag_name = serde_json::to_value(flag)?;
            bail!("{FIELD}.flags: {flag_name} applies only to SCHED_DEADLINE, not {name}");
        }
        attr.flags |= flag_bit(*flag);
    }
    Ok(attr)
}

/// The kernel's class number and level for `process.ioPriority`.
pub fn io_priority(priority: &LinuxIOPriority) -> Result<(u32, u32)> {
    let field = "process.ioPriority";
    let class = match priority.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = priority.priority();
    if !(0..=7).contains(&level) {
        bail!("{field}.priority {level} is outside 0..7");
    }
    if class == 3 && level != 0 {
        bail!("{field}.priority {level}: IOPRIO_CLASS_IDLE has no levels (use 0)");
    }
    Ok((class, level as u32))
}

/// Refuses what `apply` could not honour.
pub fn validate(process: &Process) -> Result<()> {
    if let Some(scheduler) = process.scheduler() {
        sched_attr(scheduler)?;
    }
    if let Some(priority) = process.io_priority() {
        io_priority(priority)?;
    }
    Ok(())
}

/// Applies the process' scheduler and I/O priority to the calling process (kept across
/// exec). Runs while the process still holds its capabilities: a real-time policy takes
/// CAP_SYS_NICE, the real-time I/O class CAP_SYS_ADMIN.
pub fn apply(process: &Process) -> Result<()> {
    if let Some(priority) = process.io_priority() {
        let (class, level) = io_priority(priority)?;
        sched::ioprio_set(class, level).context("process.ioPriority: ioprio_set")?;
    }
    if let Some(scheduler) = process.scheduler() {
        let attr = sched_attr(scheduler)?;
        sched::sched_setattr(&attr).with_context(|| {
            format!("{FIELD}: sched_setattr (a real-time policy in a cgroup v1 cpu hierarchy also needs linux.resources.cpu.realtimeRuntime)")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler(json: serde_json::Value) -> Scheduler {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_policy_maps_to_the_kernel_number() {
        for (policy, extra, number) in [
            ("SCHED_OTHER", serde_json::json!({"nice": 5}), 0),
            ("SCHED_FIFO", serde_json::json!({"priority": 10}), 1),
            ("SCHED_RR", serde_json::json!({"priority": 99}), 2),
            ("SCHED_BATCH", serde_json::json!({}), 3),
            ("SCHED_IDLE", serde_json::json!({}), 5),
            (
                "SCHED_DEADLINE",
                serde_json::json!({"runtime": 10000, "deadline": 20000, "period": 30000}),
                6,
            ),
        ] {
            let mut json = extra.clone();
            json["policy"] = policy.into();
            let attr = sched_attr(&scheduler(json)).unwrap();
            assert_eq!(attr.policy, number, "{policy}");
        }
    }

    #[test]
    fn flags_are_or_ed() {
        let attr = sched_attr(&scheduler(serde_json::json!({
            "policy": "SCHED_OTHER",
            "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN"]
        })))
        .unwrap();
        assert_eq!(attr.flags, 0x01 | 0x10 | 0x20);
    }

    #[test]
    fn values_the_kernel_would_refuse_or_ignore_are_refused_by_field() {
        for (json, field) in [
            (serde_json::json!({"policy": "SCHED_ISO"}), "policy"),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "nice": 20}),
                "nice",
            ),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "nice": -21}),
                "nice",
            ),
            (
                serde_json::json!({"policy": "SCHED_FIFO", "nice": 1, "priority": 1}),
                "nice",
            ),
            (
                serde_json::json!({"policy": "SCHED_FIFO", "priority": 100}),
                "priority",
            ),
            (
                serde_json::json!({"policy": "SCHED_RR", "priority": -1}),
                "priority",
            ),
            (serde_json::json!({"policy": "SCHED_FIFO"}), "priority"),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "priority": 3}),
                "priority",
            ),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "runtime": 3}),
                "runtime",
            ),
            (
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10}),
                "runtime",
            ),
            (
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 10}),
                "deadline",
            ),
            (
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 6000, "period": 5500}),
                "period",
            ),
            (
                serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": u64::MAX, "period": u64::MAX}),
                "deadline",
            ),
            (
                serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RECLAIM"]}),
                "flags",
            ),
        ] {
            let err = sched_attr(&scheduler(json.clone()))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("process.scheduler.{field}")),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn io_priority_levels_are_checked() {
        let parse = |json| serde_json::from_value::<LinuxIOPriority>(json).unwrap();
        assert_eq!(
            io_priority(&parse(
                serde_json::json!({"class": "IOPRIO_CLASS_RT", "priority": 3})
            ))
            .unwrap(),
            (1, 3)
        );
        for json in [
            serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": -1}),
            serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 2}),
        ] {
            let err = io_priority(&parse(json)).unwrap_err().to_string();
            assert!(err.contains("process.ioPriority.priority"), "{err}");
        }
    }
}
