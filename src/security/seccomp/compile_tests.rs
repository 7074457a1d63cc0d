//! The translation, checked by running the compiled programs in a small classic-BPF
//! interpreter over made-up syscalls, and by the shape of the code.

use super::*;
use crate::security::seccomp::layout::*;

/// One syscall as the filter sees it (struct seccomp_data).
struct Call {
    arch: u32,
    nr: u32,
    args: [u64; 6],
}

fn x86_64(nr: u32, args: &[u64]) -> Call {
    call(AUDIT_ARCH_X86_64, nr, args)
}

fn call(arch: u32, nr: u32, args: &[u64]) -> Call {
    let mut all = [0u64; 6];
    all[..args.len()].copy_from_slice(args);
    Call {
        arch,
        nr,
        args: all,
    }
}

/// Runs `program` on `call` as the kernel would (the subset the compiler emits), checking
/// every jump stays inside the program.
fn run(program: &[sock_filter], call: &Call) -> u32 {
    run_counting(program, call).0
}

/// `run`, with the number of instructions executed.
fn run_counting(program: &[sock_filter], call: &Call) -> (u32, usize) {
    let mut steps = 0;
    let word = |offset: u32| -> u32 {
        match offset {
            0 => call.nr,
            4 => call.arch,
            16..=63 => {
                let arg = call.args[(offset as usize - 16) / 8];
                if offset.is_multiple_of(8) {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load of seccomp_data offset {offset}"),
        }
    };
    let (mut pc, mut a) = (0usize, 0u32);
    loop {
        steps += 1;
        let insn = &program[pc];
        let skip = |taken: bool| 1 + usize::from(if taken { insn.jt } else { insn.jf });
        pc += match insn.code {
            LD_W_ABS => {
                a = word(insn.k);
                1
            }
            0x54 => {
                a &= insn.k;
                1
            }
            JA => 1 + insn.k as usize,
            JEQ_K => skip(a == insn.k),
            0x25 => skip(a > insn.k),
            JGE_K => skip(a >= insn.k),
            0x45 => skip(a & insn.k != 0),
            RET_K => return (insn.k, steps),
            code => panic!("unexpected BPF opcode {code:#x} at {pc}"),
        };
        assert!(pc < program.len(), "jump out of the program");
    }
}

fn profile(json: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(json).expect("a LinuxSeccomp")
}

fn compiled(json: serde_json::Value) -> Compiled {
    let c = compile(&profile(json)).expect("compiles");
    check_like_the_kernel(&c.program);
    c
}

/// What the kernel's classic-BPF checker refuses: any jump, taken or not, reachable or not,
/// that leaves the program, and a program that does not end in a `ret`.
fn check_like_the_kernel(program: &[sock_filter]) {
    let len = program.len();
    assert!(len > 0 && len <= MAX_INSTRUCTIONS);
    assert_eq!(
        program[len - 1].code,
        RET_K,
        "the last instruction must be a ret"
    );
    for (pc, insn) in program.iter().enumerate() {
        match insn.code {
            JA => assert!(
                pc + 1 + (insn.k as usize) < len,
                "ja out of the program at {pc}"
            ),
            code if code & 0x07 == 0x05 => assert!(
                pc + 1 + usize::from(insn.jt.max(insn.jf)) < len,
                "conditional jump out of the program at {pc}"
            ),
            _ => {}
        }
    }
}

fn refused(json: serde_json::Value) -> String {
    format!("{:#}", compile(&profile(json)).expect_err("refused"))
}

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const MKDIR: u32 = 83;
const MKDIR_I386: u32 = 39;
const MKDIR_X32: u32 = X32_SYSCALL_BIT | 83;

fn errno(value: u32) -> u32 {
    libc::SECCOMP_RET_ERRNO | value
}

#[test]
fn the_table_is_sorted_and_knows_each_abi() {
    assert!(SYSCALLS.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        lookup("mkdir"),
        Some([Some(MKDIR), Some(MKDIR_I386), Some(MKDIR_X32)])
    );
    assert_eq!(lookup("socketcall"), Some([None, Some(102), None]));
    assert_eq!(
        lookup("arch_prctl"),
        Some([Some(158), Some(384), Some(X32_SYSCALL_BIT | 158)])
    );
    // x32 has its own numbers for calls whose structures differ.
    assert_eq!(
        lookup("rt_sigaction").map(|n| n[2]),
        Some(Some(X32_SYSCALL_BIT | 512))
    );
    assert_eq!(lookup("no_such_call"), None);
    assert_eq!(lookup(""), None);
}

#[test]
fn denied_calls_get_their_errno_and_others_the_default() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["not_a_syscall"], "action": "SCMP_ACT_KILL"},
        ]
    }));
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[])), errno(38));
    assert_eq!(run(&c.program, &x86_64(258, &[])), errno(38));
    // errnoRet absent: EPERM, as the runtime spec says.
    assert_eq!(run(&c.program, &x86_64(84, &[])), errno(1));
    assert_eq!(run(&c.program, &x86_64(0, &[])), ALLOW);
    assert!(!c.notify);
}

#[test]
fn the_default_errno_applies_to_unlisted_calls() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 95,
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(run(&c.program, &x86_64(0, &[])), ALLOW);
    assert_eq!(run(&c.program, &x86_64(1, &[])), errno(95));
    let c = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(run(&c.program, &x86_64(1, &[])), errno(1));
}

#[test]
fn every_action_has_its_kernel_value() {
    let cases = [
        ("SCMP_ACT_KILL", libc::SECCOMP_RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", libc::SECCOMP_RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", KILL_PROCESS),
        ("SCMP_ACT_TRAP", libc::SECCOMP_RET_TRAP),
        ("SCMP_ACT_LOG", libc::SECCOMP_RET_LOG),
        ("SCMP_ACT_NOTIFY", RET_USER_NOTIF),
        ("SCMP_ACT_ERRNO", errno(1)),
        ("SCMP_ACT_TRACE", libc::SECCOMP_RET_TRACE | 1),
    ];
    for (action, value) in cases {
        let c = compiled(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": action}]
        }));
        assert_eq!(run(&c.program, &x86_64(MKDIR, &[])), value, "{action}");
        assert_eq!(run(&c.program, &x86_64(0, &[])), ALLOW, "{action}");
        assert_eq!(c.notify, action == "SCMP_ACT_NOTIFY");
    }
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 4242}]
    }));
    assert_eq!(
        run(&c.program, &x86_64(MKDIR, &[])),
        libc::SECCOMP_RET_TRACE | 4242
    );
}

#[test]
fn notify_rules_return_user_notif_in_the_code() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY",
                      "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]}]
    }));
    let notify_rets = c
        .program
        .iter()
        .filter(|i| i.code == RET_K && i.k == RET_USER_NOTIF)
        .count();
    assert_eq!(notify_rets, 1);
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o700])), RET_USER_NOTIF);
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o755])), ALLOW);
    assert!(c.actions.iter().any(
        |(kind, field)| *kind == RET_USER_NOTIF && field == "linux.seccomp.syscalls[0].action"
    ));
}

#[test]
fn unlisted_architectures_are_killed_and_listed_ones_use_their_numbers() {
    let deny_mkdir = |arches: serde_json::Value| {
        compiled(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": arches,
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        }))
    };
    let only_native = deny_mkdir(serde_json::json!(["SCMP_ARCH_X86_64"]));
    let ld_nr = |c: &Compiled| {
        c.program
            .iter()
            .filter(|i| i.code == LD_W_ABS && i.k == NR_OFFSET)
            .count()
    };
    assert_eq!(ld_nr(&only_native), 1);
    assert_eq!(run(&only_native.program, &x86_64(MKDIR, &[])), errno(1));
    assert_eq!(
        run(
            &only_native.program,
            &call(AUDIT_ARCH_I386, MKDIR_I386, &[])
        ),
        KILL_PROCESS
    );
    assert_eq!(
        run(&only_native.program, &call(AUDIT_ARCH_I386, 1, &[])),
        KILL_PROCESS
    );
    // The x32 bit must not reach x86_64's ALLOW default.
    assert_eq!(
        run(&only_native.program, &x86_64(MKDIR_X32, &[])),
        KILL_PROCESS
    );
    assert_eq!(
        run(&only_native.program, &x86_64(X32_SYSCALL_BIT, &[])),
        KILL_PROCESS
    );
    assert_eq!(
        run(&only_native.program, &call(0xc000_00b7, MKDIR, &[])),
        KILL_PROCESS
    );

    let all = deny_mkdir(serde_json::json!([
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_S390X"
    ]));
    assert_eq!(ld_nr(&all), 3);
    assert_eq!(run(&all.program, &x86_64(MKDIR, &[])), errno(1));
    assert_eq!(
        run(&all.program, &call(AUDIT_ARCH_I386, MKDIR_I386, &[])),
        errno(1)
    );
    // i386's 83 is symlink, x86_64's mkdir.
    assert_eq!(run(&all.program, &call(AUDIT_ARCH_I386, MKDIR, &[])), ALLOW);
    assert_eq!(run(&all.program, &x86_64(MKDIR_X32, &[])), errno(1));
    assert_eq!(run(&all.program, &x86_64(X32_SYSCALL_BIT, &[])), ALLOW);
    assert_eq!(
        run(&all.program, &call(0xc000_00b7, MKDIR, &[])),
        KILL_PROCESS
    );

    // No list at all: the native architecture only.
    let none = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(run(&none.program, &x86_64(1, &[])), ALLOW);
    assert_eq!(
        run(&none.program, &call(AUDIT_ARCH_I386, 1, &[])),
        KILL_PROCESS
    );
    assert_eq!(run(&none.program, &x86_64(MKDIR_X32, &[])), KILL_PROCESS);
}

#[test]
fn argument_conditions_are_anded_or_ored_on_a_repeated_index_and_rules_combine() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            // (flags & O_CREAT) == O_CREAT and mode above 0o700: denied.
            {"names": ["openat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 0o100, "valueTwo": 0o100, "op": "SCMP_CMP_MASKED_EQ"},
                      {"index": 3, "value": 0o700, "op": "SCMP_CMP_GT"}]},
            {"names": ["openat"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
             "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 2, "value": 9, "op": "SCMP_CMP_NE"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]},
            // The same argument twice: either comparison allows it (as in runc).
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 20, "op": "SCMP_CMP_EQ"}]},
            {"names": ["dup"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_LE"}]},
        ]
    }));
    let p = &c.program;
    let personality = 135;
    assert_eq!(run(p, &x86_64(personality, &[0])), ALLOW);
    assert_eq!(run(p, &x86_64(personality, &[0xffff_ffff])), ALLOW);
    assert_eq!(run(p, &x86_64(personality, &[8])), errno(38));
    // The upper half counts on x86_64...
    assert_eq!(run(p, &x86_64(personality, &[0x1_0000_0000])), errno(38));
    // ...but not on i386, whose arguments are 32-bit.
    assert_eq!(run(p, &call(AUDIT_ARCH_I386, 136, &[0x1_0000_0000])), ALLOW);
    assert_eq!(run(p, &call(AUDIT_ARCH_I386, 136, &[8])), errno(38));

    let openat = 257;
    assert_eq!(run(p, &x86_64(openat, &[0, 0, 0o101, 0o755])), errno(13));
    assert_eq!(run(p, &x86_64(openat, &[0, 0, 0o1101, 0o755])), errno(13));
    assert_eq!(run(p, &x86_64(openat, &[0, 0, 0o101, 0o600])), ALLOW);
    assert_eq!(run(p, &x86_64(openat, &[0, 0, 0o001, 0o755])), ALLOW);

    let socket = 41;
    assert_eq!(run(p, &x86_64(socket, &[16, 3, 9])), errno(22));
    assert_eq!(run(p, &x86_64(socket, &[16, 3, 0])), ALLOW);
    assert_eq!(run(p, &x86_64(socket, &[2, 1, 9])), ALLOW);

    let lseek = 8;
    assert_eq!(run(p, &x86_64(lseek, &[0, 10])), ALLOW);
    assert_eq!(run(p, &x86_64(lseek, &[0, 20])), ALLOW);
    assert_eq!(run(p, &x86_64(lseek, &[0, 15])), errno(38));
    assert_eq!(run(p, &x86_64(lseek, &[0, 0x1_0000_000a])), errno(38));

    let dup = 32;
    assert_eq!(run(p, &x86_64(dup, &[3])), ALLOW);
    assert_eq!(run(p, &x86_64(dup, &[4])), errno(38));
}

#[test]
fn the_most_restrictive_matching_rule_wins() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_LOG"},
            {"names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS",
             "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2,
             "args": [{"index": 1, "value": 0o700, "op": "SCMP_CMP_EQ"}]},
        ]
    }));
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o777])), KILL_PROCESS);
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o700])), errno(2));
    assert_eq!(
        run(&c.program, &x86_64(MKDIR, &[0, 0o755])),
        libc::SECCOMP_RET_LOG
    );
}

#[test]
fn masked_eq_outside_the_mask_never_matches() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 0o7, "valueTwo": 0o17, "op": "SCMP_CMP_MASKED_EQ"}]}]
    }));
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o17])), ALLOW);
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 0o7])), ALLOW);
}

#[test]
fn podman_sized_profiles_stay_small() {
    let names: Vec<&str> = SYSCALLS.iter().map(|e| e.0).collect();
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    }));
    // About 1.2 instructions per (syscall, ABI).
    assert!(c.program.len() < 1700, "{} instructions", c.program.len());
    let mut most = 0;
    for entry in SYSCALLS {
        if entry.1 != NONE {
            let (action, steps) = run_counting(&c.program, &x86_64(entry.1, &[]));
            assert_eq!(action, ALLOW, "{}", entry.0);
            most = most.max(steps);
        }
        if entry.2 != NONE {
            assert_eq!(run(&c.program, &call(AUDIT_ARCH_I386, entry.2, &[])), ALLOW);
        }
        if entry.3 != NONE {
            assert_eq!(run(&c.program, &x86_64(entry.3, &[])), ALLOW);
        }
    }
    assert_eq!(run(&c.program, &x86_64(4000, &[])), errno(1));
    // A binary search, not a walk past 400 numbers: what each call costs, and what the
    // kernel's per-number emulation costs when the filter is attached.
    assert!(most <= 30, "{most} instructions for one call");
}

#[test]
fn long_rule_blocks_jump_over_themselves() {
    let args: Vec<serde_json::Value> = (0..80)
        .map(|i| {
            serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                                    "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let mut syscalls = args;
    syscalls
        .push(serde_json::json!({"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}));
    let c = compiled(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls}));
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 41])), errno(42));
    assert_eq!(run(&c.program, &x86_64(MKDIR, &[0, 1000])), ALLOW);
    assert_eq!(run(&c.program, &x86_64(84, &[])), errno(99));
    assert_eq!(run(&c.program, &x86_64(0, &[])), ALLOW);
}

#[test]
fn refusals_name_the_field() {
    let base = |syscall: serde_json::Value| {
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}, syscall]})
    };
    let cases = [
        (
            base(
                serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}),
            ),
            "linux.seccomp.syscalls[1].args[0].index 6",
        ),
        (
            base(
                serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4096}),
            ),
            "linux.seccomp.syscalls[1].errnoRet 4096",
        ),
        (
            base(
                serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}),
            ),
            "linux.seccomp.syscalls[1].errnoRet 1: SCMP_ACT_ALLOW",
        ),
        (
            base(
                serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}),
            ),
            "linux.seccomp.syscalls[1].errnoRet 65536",
        ),
        (
            base(serde_json::json!({"names": [], "action": "SCMP_ACT_ERRNO"})),
            "linux.seccomp.syscalls[1].names is empty",
        ),
        (
            base(
                serde_json::json!({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 1, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}),
            ),
            "linux.seccomp.syscalls[1].args[0].valueTwo 2",
        ),
        (
            base(serde_json::json!({"names": ["write", "sendmsg"], "action": "SCMP_ACT_NOTIFY"})),
            "linux.seccomp.syscalls[1].names[1]: SCMP_ACT_NOTIFY cannot apply to sendmsg",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
            "linux.seccomp.defaultErrnoRet 1",
        ),
        (
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
            "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ),
    ];
    for (json, want) in cases {
        let got = refused(json);
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn flags_become_their_bits() {
    let c = compiled(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let bits: Vec<u32> = c.flags.iter().map(|(bit, _)| *bit).collect();
    assert_eq!(bits, [1, 2, 4]);
    assert_eq!(
        c.flags[2].1,
        "linux.seccomp.flags[2] SECCOMP_FILTER_FLAG_SPEC_ALLOW"
    );
}

#[test]
fn a_profile_too_large_for_the_kernel_is_refused() {
    let names: Vec<&str> = SYSCALLS.iter().map(|e| e.0).collect();
    let too_many: Vec<serde_json::Value> = (0..17)
        .map(|i| serde_json::json!({"index": i % 6, "value": i, "op": "SCMP_CMP_NE"}))
        .collect();
    let got = refused(
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": too_many}]}),
    );
    assert!(
        got.starts_with("linux.seccomp.syscalls[0].args: 17 comparisons, at most 16"),
        "{got}"
    );
    let got = refused(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert!(
        got.starts_with("linux.seccomp: the profile compiles to"),
        "{got}"
    );
    assert!(got.contains("more than the kernel's 4096"), "{got}");
}
