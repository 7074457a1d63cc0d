//! The translation of a runtime-spec profile into one classic-BPF program for this kernel's
//! three x86 ABIs, with the field named in every refusal.
//!
//! seccompiler compiles the argument comparisons (`SeccompRule` -> BPF); `layout` builds
//! the program around them, and says why seccompiler cannot build it whole.
//!
//! i386's multiplexers are not unpacked: a rule naming `socket` or `semop` matches i386's
//! direct calls of those names, not `socketcall(SYS_SOCKET, ...)` or `ipc(SEMOP, ...)`
//! (libseccomp adds rules for those too). An allow-list profile (the usual kind) then
//! refuses the multiplexed forms by its default action; a deny-list profile that lists
//! SCMP_ARCH_X86 should deny `socketcall` and `ipc` as well.
//!
//! What a syscall does when several rules name it: the most restrictive rule whose
//! conditions all hold decides, in the kernel's order of precedence (KILL_PROCESS,
//! KILL_THREAD, TRAP, ERRNO, NOTIFY, TRACE, LOG, ALLOW; equal ones in profile order); when
//! none holds, the default action. The conditions of one rule are ANDed, unless an argument
//! index repeats among them: then each is a rule of its own (ORed), as runc makes them.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompRule,
};

use super::layout;
use super::syscalls::{NONE, SYSCALLS};

/// At most this many comparisons in one rule: six arguments, some compared twice (a
/// range). It keeps each rule short enough that seccompiler needs none of the helper
/// jumps it inserts into long rules, which land where only its own layout expects.
const MAX_CONDITIONS: usize = 16;

/// The largest errno the kernel returns as such (MAX_ERRNO); larger ones it clamps.
const MAX_ERRNO: u32 = 4095;

/// seccompiler has no notify action: its value from linux/seccomp.h.
pub const RET_USER_NOTIF: u32 = libc::SECCOMP_RET_USER_NOTIF;

/// The ABIs an x86_64 kernel runs, each with its own syscall numbers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Abi {
    X86_64,
    I386,
    X32,
}

impl Abi {
    pub const ALL: [Abi; 3] = [Abi::X86_64, Abi::I386, Abi::X32];

    fn name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::I386 => "SCMP_ARCH_X86",
            Abi::X32 => "SCMP_ARCH_X32",
        }
    }

    /// The syscall's number in this ABI (x32's with its bit), from the generated table.
    fn number(self, entry: &(&str, u32, u32, u32)) -> Option<u32> {
        let nr = match self {
            Abi::X86_64 => entry.1,
            Abi::I386 => entry.2,
            Abi::X32 => entry.3,
        };
        (nr != NONE).then_some(nr)
    }

    /// i386 passes 32-bit arguments: comparing only their low halves is what the kernel
    /// uses, so no bits above them (which a 64-bit process doing `int 0x80` controls) can
    /// make a rule miss. x32 and x86_64 pass 64-bit registers.
    pub(super) fn is_32_bit(self) -> bool {
        self == Abi::I386
    }
}

/// A syscall's numbers in (x86_64, i386, x32), or None for a name none of them has.
pub fn lookup(name: &str) -> Option<[Option<u32>; 3]> {
    let index = SYSCALLS.binary_search_by(|e| e.0.cmp(name)).ok()?;
    let entry = &SYSCALLS[index];
    Some(Abi::ALL.map(|abi| abi.number(entry)))
}

/// The compiled profile and what installing it needs.
#[derive(Debug)]
pub struct Compiled {
    pub program: Vec<sock_filter>,
    /// SECCOMP_FILTER_FLAG_* bits from `flags`, each with its field, for the kernel probe.
    pub flags: Vec<(u32, String)>,
    /// Every distinct action kind (SECCOMP_RET_ACTION_FULL) with the first field using it.
    pub actions: Vec<(u32, String)>,
    /// Whether a rule returns SECCOMP_RET_USER_NOTIF.
    pub notify: bool,
}

/// How one rule's conditions compile for one argument width.
#[derive(Clone)]
pub(super) enum Conditions {
    /// Some condition can never hold: the rule never applies.
    Never,
    /// No condition (left): the rule applies to every call.
    Always,
    /// The rule's BPF from seccompiler, without its final `ret`.
    Code(BpfProgram),
}

pub(super) struct Rule {
    pub(super) action: u32,
    wide: Conditions,
    narrow: Conditions,
}

impl Rule {
    pub(super) fn conditions(&self, abi: Abi) -> &Conditions {
        if abi.is_32_bit() {
            &self.narrow
        } else {
            &self.wide
        }
    }
}

pub fn compile(config: &LinuxSeccomp) -> Result<Compiled> {
    let mut actions: Vec<(u32, String)> = Vec::new();
    let mut note_action = |value: u32, field: &str| {
        let kind = value & libc::SECCOMP_RET_ACTION_FULL;
        if !actions.iter().any(|(k, _)| *k == kind) {
            actions.push((kind, field.to_string()));
        }
    };
    let default = action_value(
        config.default_action(),
        config.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == RET_USER_NOTIF {
        // The notify descriptor itself is handed over with sendmsg after the filter is in
        // place: that call would wait for a listener that does not have the descriptor yet.
        bail!("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action");
    }
    note_action(default, "linux.seccomp.defaultAction");

    let mut abis = vec![Abi::X86_64];
    for (index, arch) in config.architectures().iter().flatten().enumerate() {
        let abi = match arch {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::I386,
            Arch::ScmpArchX32 => Abi::X32,
            // Profiles list every architecture they were written for (podman's and
            // docker's name a dozen); an x86_64 kernel runs none of these.
            other => {
                crate::logging::debug(&format!(
                    "linux.seccomp.architectures[{index}]: {other} cannot run on this x86_64 kernel: no rules needed"
                ));
                continue;
            }
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }

    let mut rules = Vec::new();
    // Per ABI: syscall number -> indexes into `rules`, in profile order.
    let mut by_abi: [BTreeMap<u32, Vec<usize>>; 3] = Default::default();
    let mut notify = false;
    for (index, syscall) in config.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{index}]");
        let action = action_value(
            syscall.action(),
            syscall.errno_ret(),
            &format!("{field}.errnoRet"),
        )?;
        note_action(action, &format!("{field}.action"));
        if syscall.names().is_empty() {
            bail!("{field}.names is empty: a rule names at least one syscall");
        }
        let args = syscall.args().as_deref().unwrap_or_default();
        if args.len() > MAX_CONDITIONS {
            bail!(
                "{field}.args: {} comparisons, at most {MAX_CONDITIONS} in one rule",
                args.len()
            );
        }
        // As runc does (libseccomp takes one comparison per argument in a rule): when an
        // argument index repeats, each comparison is a rule of its own, so they are ORed;
        // otherwise the comparisons of the rule are ANDed. Profiles written for runc rely
        // on this.
        let repeats_an_index = args
            .iter()
            .enumerate()
            .any(|(i, arg)| args[..i].iter().any(|seen| seen.index() == arg.index()));
        let alternatives: Vec<&[LinuxSeccompArg]> = if repeats_an_index {
            args.chunks(1).collect()
        } else {
            vec![args]
        };
        let first_rule = rules.len();
        for alternative in alternatives {
            rules.push(Rule {
                action,
                wide: conditions(alternative, false, &field)?,
                narrow: conditions(alternative, true, &field)?,
            });
        }
        let rule_indexes = first_rule..rules.len();
        if action == RET_USER_NOTIF {
            notify = true;
        }
        for (name_index, name) in syscall.names().iter().enumerate() {
            if action == RET_USER_NOTIF && name == "sendmsg" {
                bail!("{field}.names[{name_index}]: SCMP_ACT_NOTIFY cannot apply to sendmsg, which hands the notify descriptor to the listener");
            }
            let Some(numbers) = lookup(name) else {
                crate::logging::debug(&format!(
                    "{field}.names[{name_index}]: no x86 architecture has a syscall {name:?}: skipped"
                ));
                continue;
            };
            for (slot, abi) in Abi::ALL.iter().enumerate() {
                if !abis.contains(abi) {
                    continue;
                }
                match numbers[slot] {
                    Some(nr) => by_abi[slot]
                        .entry(nr)
                        .or_default()
                        .extend(rule_indexes.clone()),
                    None => crate::logging::debug(&format!(
                        "{field}.names[{name_index}]: {} has no syscall {name:?}: skipped there",
                        abi.name()
                    )),
                }
            }
        }
    }

    let sections: Vec<(Abi, Vec<sock_filter>)> = Abi::ALL
        .iter()
        .enumerate()
        .filter(|(_, abi)| abis.contains(abi))
        .map(|(slot, abi)| (*abi, layout::section(*abi, &by_abi[slot], &rules, default)))
        .collect();
    let program = layout::assemble(sections)?;
    Ok(Compiled {
        program,
        flags: filter_flags(config.flags().as_deref().unwrap_or_default(), notify)?,
        actions,
        notify,
    })
}

/// The kernel's return value for an action, refusing an errnoRet the action cannot carry.
fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<u32> {
    use LinuxSeccompAction::*;
    let no_errno = |name: &str| -> Result<()> {
        if let Some(value) = errno_ret {
            bail!("{errno_field} {value}: {name} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one)");
        }
        Ok(())
    };
    let action = match action {
        ScmpActAllow => {
            no_errno("SCMP_ACT_ALLOW")?;
            SeccompAction::Allow
        }
        ScmpActErrno => {
            // The runtime spec's default when errnoRet is absent.
            let errno = errno_ret.unwrap_or(libc::EPERM as u32);
            if errno > MAX_ERRNO {
                bail!("{errno_field} {errno}: an errno is at most {MAX_ERRNO}");
            }
            SeccompAction::Errno(errno)
        }
        // SCMP_ACT_KILL is the old name of SCMP_ACT_KILL_THREAD.
        ScmpActKill | ScmpActKillThread => {
            no_errno("SCMP_ACT_KILL_THREAD")?;
            SeccompAction::KillThread
        }
        ScmpActKillProcess => {
            no_errno("SCMP_ACT_KILL_PROCESS")?;
            SeccompAction::KillProcess
        }
        ScmpActTrap => {
            no_errno("SCMP_ACT_TRAP")?;
            SeccompAction::Trap
        }
        ScmpActTrace => {
            // errnoRet is the value the tracer reads with PTRACE_GETEVENTMSG.
            let value = errno_ret.unwrap_or(libc::EPERM as u32);
            if value > libc::SECCOMP_RET_DATA {
                bail!("{errno_field} {value}: a trace value is at most 65535");
            }
            SeccompAction::Trace(value)
        }
        ScmpActLog => {
            no_errno("SCMP_ACT_LOG")?;
            SeccompAction::Log
        }
        ScmpActNotify => {
            no_errno("SCMP_ACT_NOTIFY")?;
            return Ok(RET_USER_NOTIF);
        }
    };
    Ok(u32::from(action))
}

/// One rule's `args` (or one of them, see `compile`), ANDed, compiled for 64-bit or (i386)
/// 32-bit arguments.
fn conditions(args: &[LinuxSeccompArg], narrow: bool, field: &str) -> Result<Conditions> {
    if args.len() > MAX_CONDITIONS {
        bail!(
            "{field}.args: {} comparisons, at most {MAX_CONDITIONS} in one rule",
            args.len()
        );
    }
    let mut kept = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        let field = format!("{field}.args[{index}]");
        match condition(arg, narrow, &field)? {
            Some(Some(condition)) => kept.push(condition),
            // Always holds: nothing to test.
            Some(None) => {}
            None => return Ok(Conditions::Never),
        }
    }
    if kept.is_empty() {
        return Ok(Conditions::Always);
    }
    // Cannot fail: `kept` is not empty and every index was checked.
    let rule = SeccompRule::new(kept).map_err(|e| anyhow::anyhow!("{field}.args: {e}"))?;
    let mut code: BpfProgram = rule.into();
    // seccompiler starts a rule with two jumps: [0] enters it, [1] leaves it, to where its
    // own layout has the next rule's [1]. Only its helper jumps of very long rules (which
    // MAX_CONDITIONS rules out) lead to [1], but the kernel checks every jump, and the
    // last rule's would point past the end of the program: it leaves to the instruction
    // after the rule's `ret` instead, which in a block always exists.
    if code.len() < 2 || code[0].code != layout::JA || code[1].code != layout::JA {
        bail!("{field}.args: unexpected rule code from seccompiler");
    }
    code[1].k = (code.len() - 1) as u32;
    Ok(Conditions::Code(code))
}

/// One comparison: `None` if it can never hold, `Some(None)` if it always holds.
fn condition(
    arg: &LinuxSeccompArg,
    narrow: bool,
    field: &str,
) -> Result<Option<Option<SeccompCondition>>> {
    use LinuxSeccompOperator::*;
    let index = arg.index();
    if index > 5 {
        bail!("{field}.index {index}: a syscall has arguments 0 to 5");
    }
    let value = arg.value();
    let two = arg.value_two().unwrap_or(0);
    if arg.op() != ScmpCmpMaskedEq && two != 0 {
        bail!(
            "{field}.valueTwo {two}: only SCMP_CMP_MASKED_EQ uses a second value ({} given)",
            arg.op()
        );
    }
    // libseccomp compares (arg & value) == valueTwo: bits of valueTwo outside the mask can
    // never match (seccompiler would mask them away and match).
    if arg.op() == ScmpCmpMaskedEq && two & !value != 0 {
        return Ok(None);
    }
    let (len, op, operand) = if narrow {
        // A 32-bit argument against a 64-bit value: decide the comparisons the upper half
        // settles, compare the rest on 32 bits.
        let max = u64::from(u32::MAX);
        let settled = match arg.op() {
            ScmpCmpEq | ScmpCmpGe if value > max => Some(false),
            ScmpCmpGt if value >= max => Some(false),
            ScmpCmpNe | ScmpCmpLt if value > max => Some(true),
            ScmpCmpLe if value >= max => Some(true),
            ScmpCmpMaskedEq if two > max => Some(false),
            _ => None,
        };
        match settled {
            Some(true) => return Ok(Some(None)),
            Some(false) => return Ok(None),
            None => {}
        }
        let op = match arg.op() {
            ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(value & max),
            other => wide_op(other, value),
        };
        let operand = if arg.op() == ScmpCmpMaskedEq {
            two
        } else {
            value
        };
        (SeccompCmpArgLen::Dword, op, operand)
    } else {
        let operand = if arg.op() == ScmpCmpMaskedEq {
            two
        } else {
            value
        };
        (SeccompCmpArgLen::Qword, wide_op(arg.op(), value), operand)
    };
    let condition = SeccompCondition::new(index as u8, len, op, operand)
        .map_err(|e| anyhow::anyhow!("{field}: {e}"))?;
    Ok(Some(Some(condition)))
}

fn wide_op(op: LinuxSeccompOperator, value: u64) -> SeccompCmpOp {
    use LinuxSeccompOperator::*;
    match op {
        ScmpCmpNe => SeccompCmpOp::Ne,
        ScmpCmpLt => SeccompCmpOp::Lt,
        ScmpCmpLe => SeccompCmpOp::Le,
        ScmpCmpEq => SeccompCmpOp::Eq,
        ScmpCmpGe => SeccompCmpOp::Ge,
        ScmpCmpGt => SeccompCmpOp::Gt,
        // (arg & value) == valueTwo: seccompiler takes the mask in the operator.
        ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(value),
    }
}

/// The `flags` as SECCOMP_FILTER_FLAG_* bits, each with its field.
fn filter_flags(flags: &[LinuxSeccompFilterFlag], notify: bool) -> Result<Vec<(u32, String)>> {
    use LinuxSeccompFilterFlag::*;
    let mut bits = Vec::new();
    for (index, flag) in flags.iter().enumerate() {
        let field = format!("linux.seccomp.flags[{index}]");
        let bit = match flag {
            SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            SeccompFilterFlagWaitKillableRecv => {
                if !notify {
                    bail!("{field}: {flag} applies to SCMP_ACT_NOTIFY, which no rule uses");
                }
                libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
        } as u32;
        bits.push((bit, format!("{field} {flag}")));
    }
    Ok(bits)
}

/// Every action `compile` turns into a filter return value (`action_value` matches all).
pub const ACTIONS: &[LinuxSeccompAction] = &[
    LinuxSeccompAction::ScmpActKill,
    LinuxSeccompAction::ScmpActKillThread,
    LinuxSeccompAction::ScmpActKillProcess,
    LinuxSeccompAction::ScmpActTrap,
    LinuxSeccompAction::ScmpActErrno,
    LinuxSeccompAction::ScmpActTrace,
    LinuxSeccompAction::ScmpActLog,
    LinuxSeccompAction::ScmpActNotify,
    LinuxSeccompAction::ScmpActAllow,
];

/// Every comparison `condition` compiles.
pub const OPERATORS: &[LinuxSeccompOperator] = &[
    LinuxSeccompOperator::ScmpCmpNe,
    LinuxSeccompOperator::ScmpCmpLt,
    LinuxSeccompOperator::ScmpCmpLe,
    LinuxSeccompOperator::ScmpCmpEq,
    LinuxSeccompOperator::ScmpCmpGe,
    LinuxSeccompOperator::ScmpCmpGt,
    LinuxSeccompOperator::ScmpCmpMaskedEq,
];

/// The architectures the filter has rules for; the others a profile lists are accepted and
/// need none on an x86_64 kernel.
pub const ARCHS: &[Arch] = &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32];

/// Every `flags` value `filter_flags` turns into a SECCOMP_FILTER_FLAG_* bit.
pub const FLAGS: &[LinuxSeccompFilterFlag] = &[
    LinuxSeccompFilterFlag::SeccompFilterFlagTsync,
    LinuxSeccompFilterFlag::SeccompFilterFlagLog,
    LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
    LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
];

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
