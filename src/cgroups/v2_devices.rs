//! The cgroup v2 device controller: an eBPF program, generated from the device rules and
//! attached to the container's cgroup before its init exists. cgroup v2 has no
//! devices.allow/deny files; the kernel runs the program on every open and mknod of a
//! device node and lets the access through only if it returns 1.
//!
//! The rules are the config's `linux.resources.devices` followed by skiff's defaults (the
//! same list v1 writes), and the last rule that matches an access decides it, as writing
//! them to v1's devices.allow/deny in that order does; nothing matching means deny. An
//! allow rule matches an access only if it grants all of it (open O_RDWR needs r and w);
//! a deny rule matches if it takes away any part.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::sys::bpf::{self, Insn};

/// A rule as the program tests it: 0 means any type; `None` any number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// BPF_DEVCG_DEV_BLOCK (1) or BPF_DEVCG_DEV_CHAR (2), 0 for all.
    kind: i32,
    major: Option<i32>,
    minor: Option<i32>,
    /// BPF_DEVCG_ACC_MKNOD (1) | READ (2) | WRITE (4).
    access: i32,
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

fn number(field: &str, index: usize, value: Option<i64>) -> Result<Option<i32>> {
    match value {
        None | Some(-1) => Ok(None),
        Some(n) => match i32::try_from(n) {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => bail!("linux.resources.devices[{index}].{field} {n} is not a device number"),
        },
    }
}

fn from_spec(index: usize, rule: &LinuxDeviceCgroup) -> Result<Rule> {
    let kind = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => 0,
        LinuxDeviceType::B => 1,
        LinuxDeviceType::C => 2,
        other => bail!(
            "linux.resources.devices[{index}].type {:?} is not one of a, b, c",
            other.as_str()
        ),
    };
    Ok(Rule {
        allow: rule.allow(),
        kind,
        // A rule of type a covers every device, whatever numbers it names (as on v1).
        major: if kind == 0 {
            None
        } else {
            number("major", index, rule.major())?
        },
        minor: if kind == 0 {
            None
        } else {
            number("minor", index, rule.minor())?
        },
        access: access_bits(rule.access().as_deref().unwrap_or("rwm")),
    })
}

/// One of v1's default allow lines ("c 1:3 rwm", "b *:* m").
fn from_default(line: &str) -> Rule {
    let mut parts = line.split([' ', ':']);
    let kind = match parts.next() {
        Some("b") => 1,
        Some("c") => 2,
        _ => 0,
    };
    let mut num = || parts.next().and_then(|n| n.parse::<i32>().ok());
    let (major, minor) = (num(), num());
    Rule {
        allow: true,
        kind,
        major,
        minor,
        access: access_bits(parts.next().unwrap_or("")),
    }
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// The opcodes used (class | operation | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program for `rules` (in the order written; the last match wins). Registers:
/// r2 the requested access, r3 the device type, r4 major, r5 minor (from the
/// `struct bpf_cgroup_dev_ctx` in r1), r6 scratch.
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_W, 2, 1, 0, 0), // r2 = ctx->access_type
        insn(MOV_X, 3, 2, 0, 0),
        insn(AND_K, 3, 0, 0, 0xffff), // r3 = type
        insn(RSH_K, 2, 0, 0, 16),     // r2 = access
        insn(LDX_W, 4, 1, 4, 0),      // r4 = ctx->major
        insn(LDX_W, 5, 1, 8, 0),      // r5 = ctx->minor
    ];
    for rule in rules.iter().rev() {
        // Each test jumps to the end of this rule's block when the rule does not match;
        // the offsets are filled in once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps = Vec::new();
        let mut test = |block: &mut Vec<Insn>, code: u8, reg: u8, imm: i32| {
            jumps.push(block.len());
            block.push(insn(code, reg, 0, 0, imm));
        };
        if rule.kind != 0 {
            test(&mut block, JNE_K, 3, rule.kind);
        }
        if let Some(major) = rule.major {
            test(&mut block, JNE_K, 4, major);
        }
        if let Some(minor) = rule.minor {
            test(&mut block, JNE_K, 5, minor);
        }
        block.push(insn(MOV_X, 6, 2, 0, 0));
        if rule.allow {
            // Matches only if the rule grants every bit asked for.
            block.push(insn(AND_K, 6, 0, 0, !rule.access & 7));
            test(&mut block, JNE_K, 6, 0);
        } else {
            // Matches if the rule takes away any bit asked for.
            block.push(insn(AND_K, 6, 0, 0, rule.access));
            test(&mut block, JEQ_K, 6, 0);
        }
        block.push(insn(MOV_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for at in jumps {
            block[at].off = (len - at - 1) as i16;
        }
        code.extend(block);
    }
    code.push(insn(MOV_K, 0, 0, 0, 0));
    code.push(insn(EXIT, 0, 0, 0, 0));
    code
}

/// The rules for a container: the config's, then the defaults.
fn rules_for(config: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let mut rules = Vec::with_capacity(config.len() + super::v1::DEFAULT_ALLOWED.len());
    for (index, rule) in config.iter().enumerate() {
        rules.push(from_spec(index, rule)?);
    }
    rules.extend(super::v1::DEFAULT_ALLOWED.iter().map(|l| from_default(l)));
    Ok(rules)
}

/// Loads the program for the config's rules and attaches it to the cgroup `dir`, which
/// must still be empty: the init is cloned into it only afterwards.
pub fn apply(dir: &Path, config: &[LinuxDeviceCgroup]) -> Result<()> {
    let code = program(&rules_for(config)?);
    let program = bpf::load_device_program(&code)
        .context("linux.resources.devices: loading the cgroup v2 device program")?;
    let cgroup = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    bpf::attach_device_program(cgroup.as_fd(), program.as_fd()).with_context(|| {
        format!(
            "linux.resources.devices: attaching the device program to {}",
            dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the generated program on one access, as the kernel would: a tiny interpreter
    /// of exactly the instructions `program` emits.
    fn run(code: &[Insn], kind: i32, major: i32, minor: i32, access: i32) -> i64 {
        let mut r = [0i64; 11];
        let ctx = [((access << 16) | kind) as i64, major as i64, minor as i64];
        let mut pc = 0usize;
        loop {
            let i = code[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[i.off as usize / 4],
                MOV_X => r[dst] = r[src],
                MOV_K => r[dst] = i.imm as i64,
                AND_K => r[dst] &= i.imm as i64,
                RSH_K => r[dst] >>= i.imm,
                JNE_K if r[dst] != i.imm as i64 => pc += i.off as usize,
                JEQ_K if r[dst] == i.imm as i64 => pc += i.off as usize,
                JNE_K | JEQ_K => {}
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rules(json: serde_json::Value) -> Vec<Rule> {
        let config: Vec<LinuxDeviceCgroup> = serde_json::from_value(json).unwrap();
        rules_for(&config).unwrap()
    }

    const CHAR: i32 = 2;
    const BLOCK: i32 = 1;
    const M: i32 = 1;
    const R: i32 = 2;
    const W: i32 = 4;

    #[test]
    fn the_default_rules_allow_the_standard_nodes_and_mknod_only() {
        let code = program(&rules(
            serde_json::json!([{"allow": false, "access": "rwm"}]),
        ));
        assert_eq!(run(&code, CHAR, 1, 3, R | W), 1, "/dev/null");
        assert_eq!(run(&code, CHAR, 136, 5, R | W), 1, "a pty");
        assert_eq!(run(&code, CHAR, 5, 2, R | W), 1, "/dev/ptmx");
        assert_eq!(run(&code, BLOCK, 8, 0, R), 0, "/dev/sda");
        assert_eq!(run(&code, CHAR, 7, 0, R), 0, "/dev/vcs");
        assert_eq!(run(&code, CHAR, 1, 1, W), 0, "/dev/mem");
        assert_eq!(
            run(&code, BLOCK, 8, 0, M),
            1,
            "mknod stays allowed, as on v1"
        );
    }

    #[test]
    fn later_rules_win_and_allow_needs_all_of_the_access() {
        let code = program(&rules(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 8, "minor": -1, "access": "r"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
        ])));
        assert_eq!(run(&code, BLOCK, 8, 1, R), 1);
        assert_eq!(run(&code, BLOCK, 8, 1, R | W), 0, "r does not grant rw");
        assert_eq!(run(&code, CHAR, 8, 1, R), 0, "the type must match");
        // The defaults come last and allow c 1:3 rwm again, as on v1.
        assert_eq!(run(&code, CHAR, 1, 3, W), 1);
    }

    #[test]
    fn allow_all_allows_all() {
        let code = program(&rules(
            serde_json::json!([{"allow": true, "access": "rwm"}]),
        ));
        assert_eq!(run(&code, BLOCK, 8, 0, R | W), 1);
        assert_eq!(run(&code, CHAR, 4095, 1_048_575, M), 1);
    }

    #[test]
    fn hostile_numbers_are_refused_by_field() {
        for (field, value) in [("major", 1i64 << 33), ("minor", -7)] {
            let config: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
                {"allow": true, "type": "c", field: value, "access": "r"}
            ]))
            .unwrap();
            let err = rules_for(&config).unwrap_err().to_string();
            assert!(
                err.contains(&format!("linux.resources.devices[0].{field}")),
                "{err}"
            );
        }
    }
}
