//! The read-only re-exec of `exe.rs`, done before the C library starts.
//!
//! `create`, `run` and `exec` re-execute skiff from a detached read-only bind mount of
//! its binary (see `exe.rs`). Done from `main`, that costs a whole second process start:
//! glibc's start-up in this static binary (relocation, and its CPU and cache probing,
//! about a hundred `cpuid` instructions, each a VM exit of ~6 µs on a virtual machine),
//! Rust's runtime set-up and the parse of the command line, before the process is
//! thrown away by the exec. This entry point (the ELF entry, `-Wl,--entry`, set by
//! build.rs) does the same five system calls first, with nothing started yet, and only
//! then, if it did not exec, jumps to the C library's `_start` with the stack and
//! registers exactly as the kernel left them.
//!
//! It is deliberately conservative: on any doubt it starts normally and leaves the
//! decision to `exe::run_from_read_only_binary`, which checks the result in every case.
//! - It re-executes only when an argument is exactly `create`, `run` or `exec` (the words
//!   `main::prepare_process` matches), the environment has no `_SKIFF_EXE_READ_ONLY`
//!   marker yet, and `statfs("/proc/self/exe")` does not already say read-only.
//! - Any failing call (`statfs`, `open_tree`, `mount_setattr`, `execveat`: an old kernel,
//!   an unprivileged caller) falls through to the normal start, where `exe.rs` makes the
//!   same attempt and, unprivileged, the sealed memfd copy.
//! - The re-exec carries the marker, so a binary that is still writable afterwards is
//!   reported by `exe.rs` instead of re-executed again.
//!
//! Plain assembly, not Rust: before `_start` the static PIE's relocations are not applied
//! and its IFUNCs (memcpy and the like, which the compiler may call for any loop) are not
//! resolved, so only position-independent code that calls nothing may run. The code
//! reads the argument and environment vectors the kernel put on the stack, writes only
//! below the entry stack pointer (a fresh environment vector and two small buffers), and
//! restores `rsp` and `rdx` (the only registers `_start` reads) before the jump.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(
    ".pushsection .text.skiff_entry,\"ax\",@progbits",
    ".globl skiff_entry",
    ".type skiff_entry,@function",
    "skiff_entry:",
    // r12: the entry stack (argc, argv[], NULL, envp[], NULL, auxv); r13: rdx (the
    // atexit function _start hands to __libc_start_main); r15: argc; rbx: argv; r14: envp.
    "mov r12, rsp",
    "mov r13, rdx",
    "mov r15, [rsp]",
    "lea rbx, [rsp + 8]",
    "lea r14, [rbx + r15 * 8 + 8]",
    // Is any argument after argv[0] exactly one of the three commands?
    "mov r8, 1",
    "2:",
    "cmp r8, r15",
    "jae 80f",
    "mov rsi, [rbx + r8 * 8]",
    "lea rdi, [rip + .Lskiff_entry_create]",
    "call 60f",
    "je 3f",
    "mov rsi, [rbx + r8 * 8]",
    "lea rdi, [rip + .Lskiff_entry_run]",
    "call 60f",
    "je 3f",
    "mov rsi, [rbx + r8 * 8]",
    "lea rdi, [rip + .Lskiff_entry_exec]",
    "call 60f",
    "je 3f",
    "inc r8",
    "jmp 2b",
    // Count the environment (r9), giving up if it carries the marker already.
    "3:",
    "xor r9, r9",
    "4:",
    "mov rsi, [r14 + r9 * 8]",
    "test rsi, rsi",
    "jz 5f",
    "lea rdi, [rip + .Lskiff_entry_marker_name]",
    "call 70f",
    "je 80f",
    "inc r9",
    "jmp 4b",
    // statfs("/proc/self/exe"): f_flags (offset 80 of 120 bytes) has ST_RDONLY (1) when
    // skiff already runs from a read-only mount.
    "5:",
    "sub rsp, 128",
    "and rsp, -16",
    "mov eax, 137",
    "lea rdi, [rip + .Lskiff_entry_self_exe]",
    "mov rsi, rsp",
    "syscall",
    "test rax, rax",
    "jnz 80f",
    "test qword ptr [rsp + 80], 1",
    "jnz 80f",
    // rbp = open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | O_CLOEXEC)
    "mov eax, 428",
    "mov rdi, -100",
    "lea rsi, [rip + .Lskiff_entry_self_exe]",
    "mov edx, 0x80001",
    "syscall",
    "test rax, rax",
    "js 80f",
    "mov rbp, rax",
    // mount_setattr(rbp, "", AT_EMPTY_PATH | AT_RECURSIVE, {set: RDONLY | NOSUID | NODEV},
    // 32): the same attributes exe.rs sets.
    "mov qword ptr [rsp], 7",
    "mov qword ptr [rsp + 8], 0",
    "mov qword ptr [rsp + 16], 0",
    "mov qword ptr [rsp + 24], 0",
    "mov eax, 442",
    "mov rdi, rbp",
    "lea rsi, [rip + .Lskiff_entry_empty]",
    "mov edx, 0x9000",
    "mov r10, rsp",
    "mov r8d, 32",
    "syscall",
    "test rax, rax",
    "jnz 7f",
    // The environment again with the marker appended: r9 + 2 pointers below the stack.
    "lea rax, [r9 * 8 + 31]",
    "and rax, -16",
    "sub rsp, rax",
    "xor ecx, ecx",
    "6:",
    "cmp rcx, r9",
    "jae 61f",
    "mov rax, [r14 + rcx * 8]",
    "mov [rsp + rcx * 8], rax",
    "inc rcx",
    "jmp 6b",
    "61:",
    "lea rax, [rip + .Lskiff_entry_marker]",
    "mov [rsp + rcx * 8], rax",
    "mov qword ptr [rsp + rcx * 8 + 8], 0",
    // execveat(rbp, "", argv, the new envp, AT_EMPTY_PATH): returns only on failure.
    "mov eax, 322",
    "mov rdi, rbp",
    "lea rsi, [rip + .Lskiff_entry_empty]",
    "mov rdx, rbx",
    "mov r10, rsp",
    "mov r8d, 0x1000",
    "syscall",
    // Failed after open_tree: close the mount's descriptor and start normally.
    "7:",
    "mov eax, 3",
    "mov rdi, rbp",
    "syscall",
    "jmp 80f",
    // Subroutine: ZF set when the NUL-terminated strings at rdi and rsi are equal.
    // Clobbers al, rdi, rsi.
    "60:",
    "mov al, [rdi]",
    "cmp al, [rsi]",
    "jne 69f",
    "test al, al",
    "jz 69f",
    "inc rdi",
    "inc rsi",
    "jmp 60b",
    "69:",
    "ret",
    // Subroutine: ZF set when the string at rsi starts with the one at rdi.
    "70:",
    "mov al, [rdi]",
    "test al, al",
    "jz 79f",
    "cmp al, [rsi]",
    "jne 79f",
    "inc rdi",
    "inc rsi",
    "jmp 70b",
    "79:",
    "ret",
    // The normal start, with the stack and rdx as the kernel set them.
    "80:",
    "mov rsp, r12",
    "mov rdx, r13",
    "xor ebp, ebp",
    "jmp _start",
    ".size skiff_entry, . - skiff_entry",
    ".popsection",
    ".pushsection .rodata.skiff_entry,\"a\",@progbits",
    ".Lskiff_entry_create: .asciz \"create\"",
    ".Lskiff_entry_run: .asciz \"run\"",
    ".Lskiff_entry_exec: .asciz \"exec\"",
    ".Lskiff_entry_self_exe: .asciz \"/proc/self/exe\"",
    ".Lskiff_entry_empty: .asciz \"\"",
    ".Lskiff_entry_marker_name: .asciz \"_SKIFF_EXE_READ_ONLY=\"",
    ".Lskiff_entry_marker: .asciz \"_SKIFF_EXE_READ_ONLY=1\"",
    ".popsection",
);
