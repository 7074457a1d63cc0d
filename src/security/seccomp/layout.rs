//! The layout of the BPF program: the architecture dispatch, one section per ABI, and in
//! each the syscall runs and rule blocks, with the jumps between them.
//!
//! seccompiler compiles the argument comparisons (`SeccompRule` -> BPF, the 64-bit split of
//! every operator), which is the subtle part. It cannot build the whole program: its
//! `SeccompFilter` has one match action for all rules (a profile has one per rule), knows no
//! SECCOMP_RET_USER_NOTIF, and checks a single architecture (x86_64, aarch64 or riscv64),
//! killing everything else, so i386 and x32 could not be given rules of their own. So this
//! module lays out the program itself and splices seccompiler's rule code into it:
//!
//! ```text
//! ld arch
//! jeq AUDIT_ARCH_X86_64 -> x86_64 section      (x32 shares this audit value)
//! jeq AUDIT_ARCH_I386   -> i386 section         (only when SCMP_ARCH_X86 is listed)
//! ret KILL_PROCESS                              (any other architecture)
//! x86_64: ld nr; nr >= 0x40000000 -> x32 section, or KILL_PROCESS when x32 is not listed
//!         runs of unconditional syscalls sharing one `ret`, then one block per syscall
//!         with argument rules, then `ret defaultAction`
//! i386, x32: the same, with their own numbers
//! ```
//!
//! An architecture that is not listed runs nothing: libseccomp's bad-arch action is
//! SCMP_ACT_KILL (the thread); skiff kills the whole process instead, as seccompiler
//! does, so no half-killed process is left. The native x86_64 is always included (as with
//! libseccomp, whose filters start with the native architecture).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use anyhow::{bail, Result};
use seccompiler::sock_filter;

use super::compile::{Abi, Conditions, Rule};

// Classic BPF opcodes (linux/bpf_common.h); seccompiler keeps its own private.
pub(super) const LD_W_ABS: u16 = 0x20;
pub(super) const JA: u16 = 0x05;
pub(super) const JEQ_K: u16 = 0x15;
pub(super) const JGE_K: u16 = 0x35;
pub(super) const RET_K: u16 = 0x06;
// struct seccomp_data
pub(super) const NR_OFFSET: u32 = 0;
pub(super) const ARCH_OFFSET: u32 = 4;
// linux/audit.h
pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// An x32 syscall is an x86_64 one (same audit value) with this bit in its number.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The kernel's limit on one filter (BPF_MAXINSNS).
pub(super) const MAX_INSTRUCTIONS: usize = 4096;
pub(super) const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
/// The kernel's precedence of an action when several apply (linux/seccomp.h).
pub(super) fn precedence(action: u32) -> u8 {
    match action & libc::SECCOMP_RET_ACTION_FULL {
        libc::SECCOMP_RET_KILL_PROCESS => 7,
        libc::SECCOMP_RET_KILL_THREAD => 6,
        libc::SECCOMP_RET_TRAP => 5,
        libc::SECCOMP_RET_ERRNO => 4,
        libc::SECCOMP_RET_USER_NOTIF => 3,
        libc::SECCOMP_RET_TRACE => 2,
        libc::SECCOMP_RET_LOG => 1,
        _ => 0,
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

fn ret(action: u32) -> sock_filter {
    stmt(RET_K, action)
}

/// Where a syscall number leads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The same action whatever the arguments.
    Ret(u32),
    /// The rule block with this index in the section.
    Block(usize),
}

/// Syscalls per leaf of the dispatch tree, tested one after the other.
const LEAF: usize = 16;

/// One ABI's code, entered with anything in the accumulator; x86_64's second and third
/// instructions send x32 numbers away (patched in `assemble`).
///
/// The syscall number is found by a binary search down to leaves of at most 16 numbers:
/// a call costs a dozen instructions instead of a walk past every listed syscall, and so
/// does the kernel's emulation of the filter for each syscall number when it builds its
/// cache of always-allowed calls as the filter is attached.
pub(super) fn section(
    abi: Abi,
    by_nr: &BTreeMap<u32, Vec<usize>>,
    rules: &[Rule],
    default: u32,
) -> Vec<sock_filter> {
    let mut code = vec![stmt(LD_W_ABS, NR_OFFSET)];
    if abi == Abi::X86_64 {
        code.push(jump(JGE_K, X32_SYSCALL_BIT, 0, 1));
        code.push(ret(RET_KILL_PROCESS));
    }
    let mut entries: Vec<(u32, Target)> = Vec::new();
    let mut blocks: Vec<Vec<sock_filter>> = Vec::new();
    for (&nr, indexes) in by_nr {
        let mut applying: Vec<(u32, &Conditions)> = indexes
            .iter()
            .map(|&i| (rules[i].action, rules[i].conditions(abi)))
            .filter(|(_, c)| !matches!(c, Conditions::Never))
            .collect();
        // Stable: equal precedence keeps profile order.
        applying.sort_by_key(|(action, _)| Reverse(precedence(*action)));
        // Nothing after a rule that always applies is ever reached.
        if let Some(always) = applying
            .iter()
            .position(|(_, c)| matches!(c, Conditions::Always))
        {
            applying.truncate(always + 1);
        }
        if applying.iter().all(|(action, _)| *action == default) {
            continue;
        }
        let fallback = match applying.last() {
            Some((action, Conditions::Always)) => {
                let action = *action;
                applying.pop();
                action
            }
            _ => default,
        };
        if applying.is_empty() {
            entries.push((nr, Target::Ret(fallback)));
            continue;
        }
        let mut block = Vec::new();
        for (action, conditions) in applying {
            if let Conditions::Code(bpf) = conditions {
                // seccompiler's rule code falls through to the next instruction when every
                // condition holds and jumps past it otherwise: that next one is the rule's
                // own `ret`.
                block.extend_from_slice(bpf);
                block.push(ret(action));
            }
        }
        block.push(ret(fallback));
        entries.push((nr, Target::Block(blocks.len())));
        blocks.push(block);
    }
    // The tree jumps to blocks through `ja`s patched once the blocks have their places.
    let mut to_blocks = Vec::new();
    let tree_start = code.len();
    code.extend(tree(&entries, default, &mut to_blocks));
    let mut block_starts = Vec::new();
    for block in blocks {
        block_starts.push(code.len());
        code.extend(block);
    }
    for (at, block) in to_blocks {
        let at = tree_start + at;
        code[at].k = (block_starts[block] - at - 1) as u32;
    }
    code
}

/// The dispatch over sorted `entries`: every path ends in a `ret` or a `ja` to a block
/// (listed in `to_blocks` as (position, block), positions relative to this code).
fn tree(
    entries: &[(u32, Target)],
    default: u32,
    to_blocks: &mut Vec<(usize, usize)>,
) -> Vec<sock_filter> {
    if entries.len() <= LEAF {
        // Each number jumps to its target's slot after the `ret default` of a miss.
        let mut slots: Vec<Target> = Vec::new();
        let mut code = Vec::new();
        let m = entries.len();
        for (i, (nr, target)) in entries.iter().enumerate() {
            let slot = slots.iter().position(|t| t == target).unwrap_or_else(|| {
                slots.push(*target);
                slots.len() - 1
            });
            // From i to m + 1 + slot: at most 2 * LEAF, well within a u8.
            code.push(jump(JEQ_K, *nr, (m - i + slot) as u8, 0));
        }
        code.push(ret(default));
        for target in slots {
            match target {
                Target::Ret(action) => code.push(ret(action)),
                Target::Block(block) => {
                    to_blocks.push((code.len(), block));
                    code.push(stmt(JA, 0));
                }
            }
        }
        return code;
    }
    let mid = entries.len() / 2;
    let mut left_blocks = Vec::new();
    let left = tree(&entries[..mid], default, &mut left_blocks);
    let mut right_blocks = Vec::new();
    let right = tree(&entries[mid..], default, &mut right_blocks);
    // nr >= the right half's first number: skip the left half.
    let mut code = match u8::try_from(left.len()) {
        Ok(len) => vec![jump(JGE_K, entries[mid].0, len, 0)],
        Err(_) => vec![
            jump(JGE_K, entries[mid].0, 0, 1),
            stmt(JA, left.len() as u32),
        ],
    };
    let left_at = code.len();
    let right_at = left_at + left.len();
    to_blocks.extend(left_blocks.into_iter().map(|(at, b)| (left_at + at, b)));
    to_blocks.extend(right_blocks.into_iter().map(|(at, b)| (right_at + at, b)));
    code.extend(left);
    code.extend(right);
    code
}

/// The architecture dispatch in front of the sections, with the jumps between them.
pub(super) fn assemble(sections: Vec<(Abi, Vec<sock_filter>)>) -> Result<Vec<sock_filter>> {
    let audited: Vec<(u32, Abi)> = sections
        .iter()
        .filter_map(|(abi, _)| match abi {
            Abi::X86_64 => Some((AUDIT_ARCH_X86_64, *abi)),
            Abi::I386 => Some((AUDIT_ARCH_I386, *abi)),
            Abi::X32 => None,
        })
        .collect();
    let prefix_len = 1 + 2 * audited.len() + 1;
    let mut starts = Vec::new();
    let mut at = prefix_len;
    for (abi, code) in &sections {
        starts.push((*abi, at));
        at += code.len();
    }
    if at > MAX_INSTRUCTIONS {
        bail!("linux.seccomp: the profile compiles to {at} BPF instructions, more than the kernel's {MAX_INSTRUCTIONS}");
    }
    let start_of = |abi: Abi| starts.iter().find(|(a, _)| *a == abi).map(|(_, s)| *s);
    let mut program = Vec::with_capacity(at);
    program.push(stmt(LD_W_ABS, ARCH_OFFSET));
    for (audit, abi) in &audited {
        program.push(jump(JEQ_K, *audit, 0, 1));
        let here = program.len();
        let target = start_of(*abi).unwrap_or(here + 1);
        program.push(stmt(JA, (target - here - 1) as u32));
    }
    program.push(ret(RET_KILL_PROCESS));
    for (abi, mut code) in sections {
        if abi == Abi::X86_64 {
            if let Some(x32) = start_of(Abi::X32) {
                // Replace the KILL_PROCESS for x32 numbers by a jump to x32's own rules.
                let here = program.len() + 2;
                code[2] = stmt(JA, (x32 - here - 1) as u32);
            }
        }
        program.extend(code);
    }
    Ok(program)
}
