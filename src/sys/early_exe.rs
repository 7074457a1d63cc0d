//! The move onto a read-only copy of skiff's binary (see `exe.rs`), done before the C
//! library starts.
//!
//! `create`, `run` and `exec` must run from a detached read-only bind mount of skiff's
//! binary before anything of a container exists. Done from `main` by re-executing, that
//! cost a whole second process start: glibc's start-up in this static binary
//! (relocation, and its CPU and cache probing, about a hundred `cpuid` instructions, each
//! a VM exit of ~6 µs on a virtual machine), Rust's runtime set-up and the parse of the
//! command line, all thrown away by the exec, and then the exec itself. This entry point
//! (the ELF entry, `-Wl,--entry`, set by build.rs) does it first, with nothing started:
//! 1. `open_tree(/proc/self/exe, OPEN_TREE_CLONE)` and `mount_setattr(RDONLY | NOSUID |
//!    NODEV)`, as `exe.rs` does;
//! 2. without any exec: each PT_LOAD segment is mapped again from that mount, at the same
//!    address with the same protection (the same inode, so the same bytes; none has been
//!    changed yet, as relocation is glibc's first job after `_start`; the loader's
//!    zeroing of the last file page of a writable segment is redone), and
//!    `prctl(PR_SET_MM, PR_SET_MM_MAP)` points `/proc/self/exe` at the mount. The kernel
//!    allows that only once no mapping of the old path is left, and only to a holder of
//!    CAP_SYS_ADMIN (which open_tree needed anyway) on a kernel with
//!    CONFIG_CHECKPOINT_RESTORE; the map's other fields (code, data, brk, stack,
//!    arguments, environment) are passed as they are, read from `/proc/self/stat`; the
//!    mount's descriptor is then kept open (`EXE_MOUNT_FD`, below, says why);
//! 3. where step 2 fails, `execveat` of the mount, as before (it replaces whatever step 2
//!    remapped), with `_SKIFF_EXE_READ_ONLY=1` added to the environment;
//! 4. `jmp _start`, with the stack and `rdx` exactly as the kernel left them.
//!
//! It is deliberately conservative: on any doubt it starts normally and leaves the
//! decision to `exe::run_from_read_only_binary`, which checks the result in every case.
//! - It acts only when an argument is exactly `create`, `run` or `exec` (the words
//!   `main::prepare_process` matches), the environment has no `_SKIFF_EXE_READ_ONLY`
//!   marker, and `statfs("/proc/self/exe")` does not already say read-only.
//! - Any failing call (an old kernel, an unprivileged caller) falls through to the normal
//!   start, where `exe.rs` makes its own attempt and, unprivileged, the sealed memfd copy.
//! - The marker of the exec makes a binary that is still writable afterwards an error
//!   reported by `exe.rs`, not a loop of re-executions.
//!
//! Plain assembly, not Rust: before `_start` the static PIE's relocations are not applied
//! and its IFUNCs (memcpy and the like, which the compiler may call for any loop) are not
//! resolved, so only position-independent code that calls nothing may run. The code
//! reads the argument and environment vectors and the ELF header (`__ehdr_start`), writes
//! only below the entry stack pointer (a 2 KiB buffer and a fresh environment vector)
//! and into the zeroed page tails, and restores `rsp` and `rdx` (the only registers
//! `_start` reads) before the jump.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

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
    // Give up if the environment carries the marker already (r9 indexes it; the exec
    // below counts it again, r9 being an argument register of the calls in between).
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
    "sub rsp, 2048",
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
    // Step 2 (see above): remap the segments from the mount, then PR_SET_MM_MAP.
    // r15 = open("/proc/self/fd/<rbp>", O_RDONLY | O_CLOEXEC): mmap and prctl need a file
    // that is not O_PATH. The name is built backwards from [rsp + 127].
    "mov rax, rbp",
    "lea rsi, [rsp + 127]",
    "mov byte ptr [rsi], 0",
    "mov ecx, 10",
    "11:",
    "xor edx, edx",
    "div rcx",
    "add dl, 48",
    "dec rsi",
    "mov [rsi], dl",
    "test rax, rax",
    "jnz 11b",
    "sub rsi, 14",
    "lea rdi, [rip + .Lskiff_entry_fd_dir]",
    "xor ecx, ecx",
    "12:",
    "mov al, [rdi + rcx]",
    "mov [rsi + rcx], al",
    "inc rcx",
    "cmp rcx, 14",
    "jb 12b",
    "mov eax, 2",
    "mov rdi, rsi",
    "mov esi, 0x80000",
    "syscall",
    "test rax, rax",
    "js 20f",
    "mov r15, rax",
    // rbx: the ELF header in memory (the load bias: the first PT_LOAD is at vaddr 0);
    // r14 walks the program headers, [rsp + 40] is their end, [rsp + 48] their size.
    "lea rbx, [rip + __ehdr_start]",
    "mov r14, [rbx + 32]",
    "add r14, rbx",
    "movzx eax, word ptr [rbx + 54]",
    "mov [rsp + 48], rax",
    "movzx ecx, word ptr [rbx + 56]",
    "imul rax, rcx",
    "add rax, r14",
    "mov [rsp + 40], rax",
    "13:",
    "cmp r14, [rsp + 40]",
    "jae 15f",
    "cmp dword ptr [r14], 1",
    "jne 14f",
    "mov rsi, [r14 + 32]",
    "test rsi, rsi",
    "jz 14f",
    // mmap(bias + page(vaddr), filesz + offset-in-page, prot, MAP_PRIVATE | MAP_FIXED,
    // r15, page(p_offset)): what the kernel's ELF loader mapped.
    "mov rdi, [r14 + 16]",
    "mov r9, rdi",
    "and r9, 0xfff",
    "add rsi, r9",
    "sub rdi, r9",
    "add rdi, rbx",
    "neg r9",
    "add r9, [r14 + 8]",
    "xor edx, edx",
    "mov eax, [r14 + 4]",
    "test eax, 4",
    "jz 31f",
    "or edx, 1",
    "31:",
    "test eax, 2",
    "jz 32f",
    "or edx, 2",
    "32:",
    "test eax, 1",
    "jz 33f",
    "or edx, 4",
    "33:",
    // A writable segment (relro and data) is populated at once: glibc's relocation of
    // this static PIE writes nearly every page of it, one copy-on-write fault each.
    "mov r10d, 0x12",
    "test eax, 2",
    "jz 34f",
    "or r10d, 0x8000",
    "34:",
    "mov r8, r15",
    "mov eax, 9",
    "syscall",
    "cmp rax, rdi",
    "jne 19f",
    // A writable segment with bss: zero the rest of its last file page, as the loader did.
    "mov rax, [r14 + 40]",
    "cmp rax, [r14 + 32]",
    "jbe 14f",
    "test dword ptr [r14 + 4], 2",
    "jz 14f",
    "mov rdi, [r14 + 16]",
    "add rdi, [r14 + 32]",
    "add rdi, rbx",
    "mov rcx, rdi",
    "neg rcx",
    "and rcx, 0xfff",
    "xor eax, eax",
    "rep stosb",
    "14:",
    "add r14, [rsp + 48]",
    "jmp 13b",
    // prctl(PR_SET_MM, PR_SET_MM_MAP, &map, 104, 0) with map.exe_fd = r15: the form that
    // needs CAP_SYS_ADMIN (held: open_tree needed it) rather than CAP_SYS_RESOURCE. It
    // also sets the mm's code, data, brk, stack, argument and environment bounds, so
    // they are given as they are: from /proc/self/stat, the brk from brk(0).
    // The stat line goes to [rsp + 128] (at most 511 bytes: a fresh process' line is
    // ~300), its fields as numbers to [rsp + 640 + 8 * n] (n = proc(5)'s field number).
    "15:",
    "mov eax, 2",
    "lea rdi, [rip + .Lskiff_entry_self_stat]",
    "mov esi, 0x80000",
    "syscall",
    "test rax, rax",
    "js 19f",
    "mov r14, rax",
    "xor eax, eax",
    "mov rdi, r14",
    "lea rsi, [rsp + 128]",
    "mov edx, 511",
    "syscall",
    "mov rbx, rax",
    "mov eax, 3",
    "mov rdi, r14",
    "syscall",
    "test rbx, rbx",
    "jle 19f",
    "lea rdi, [rsp + 128]",
    "mov byte ptr [rdi + rbx], 0",
    // The command name (field 2) ends at the last ')', whatever it contains.
    "lea rcx, [rdi + rbx]",
    "16:",
    "dec rcx",
    "cmp rcx, rdi",
    "jb 19f",
    "cmp byte ptr [rcx], 41",
    "jne 16b",
    "inc rcx",
    "mov r8, 2",
    // rcx at a separator: the next field starts after it.
    "17:",
    "cmp byte ptr [rcx], 32",
    "jne 18f",
    "inc rcx",
    "inc r8",
    "xor eax, eax",
    "171:",
    "movzx edx, byte ptr [rcx]",
    "sub edx, 48",
    "cmp edx, 9",
    "ja 172f",
    "imul rax, rax, 10",
    "add rax, rdx",
    "inc rcx",
    "jmp 171b",
    // Past the digits (a field like the state letter has none): on to its end.
    "172:",
    "movzx edx, byte ptr [rcx]",
    "cmp dl, 32",
    "je 173f",
    "cmp dl, 10",
    "je 173f",
    "test dl, dl",
    "je 173f",
    "inc rcx",
    "jmp 172b",
    "173:",
    "cmp r8, 56",
    "jae 17b",
    "mov [rsp + 640 + r8 * 8], rax",
    "jmp 17b",
    "18:",
    "cmp r8, 51",
    "jb 19f",
    "lea rdi, [rsp + 1088]",
    "mov rax, [rsp + 640 + 26 * 8]",
    "mov [rdi], rax",
    "mov rax, [rsp + 640 + 27 * 8]",
    "mov [rdi + 8], rax",
    "mov rax, [rsp + 640 + 45 * 8]",
    "mov [rdi + 16], rax",
    "mov rax, [rsp + 640 + 46 * 8]",
    "mov [rdi + 24], rax",
    "mov rax, [rsp + 640 + 47 * 8]",
    "mov [rdi + 32], rax",
    "mov rax, [rsp + 640 + 28 * 8]",
    "mov [rdi + 48], rax",
    "mov rax, [rsp + 640 + 48 * 8]",
    "mov [rdi + 56], rax",
    "mov rax, [rsp + 640 + 49 * 8]",
    "mov [rdi + 64], rax",
    "mov rax, [rsp + 640 + 50 * 8]",
    "mov [rdi + 72], rax",
    "mov rax, [rsp + 640 + 51 * 8]",
    "mov [rdi + 80], rax",
    "mov qword ptr [rdi + 88], 0",
    "mov dword ptr [rdi + 96], 0",
    "mov [rdi + 100], r15d",
    "mov eax, 12",
    "xor edi, edi",
    "syscall",
    "lea rdi, [rsp + 1088]",
    "mov [rdi + 40], rax",
    "mov rdx, rdi",
    "mov eax, 157",
    "mov edi, 35",
    "mov esi, 14",
    "mov r10d, 104",
    "xor r8d, r8d",
    "syscall",
    "test rax, rax",
    "jnz 19f",
    // Done: skiff runs from the read-only mount. Close the file (the mappings and the
    // exe link hold it) and keep the mount's descriptor for `close_exe_mount` (stored
    // now: the remap reset the data segment to the file's bytes), then start normally.
    "mov eax, 3",
    "mov rdi, r15",
    "syscall",
    "mov dword ptr [rip + {exe_mount_fd}], ebp",
    "jmp 80f",
    "19:",
    "mov eax, 3",
    "mov rdi, r15",
    "syscall",
    // The exec instead. argv and envp again from the entry stack (their registers
    // served the remap), and the environment counted into r9.
    "20:",
    "lea rbx, [r12 + 8]",
    "mov rax, [r12]",
    "lea r14, [rbx + rax * 8 + 8]",
    "xor r9, r9",
    "21:",
    "cmp qword ptr [r14 + r9 * 8], 0",
    "je 22f",
    "inc r9",
    "jmp 21b",
    "22:",
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
    // After open_tree, failed (mount_setattr, or the exec): close the mount's descriptor
    // and start normally.
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
    // The normal start, with the stack and rdx as the kernel set them. First the
    // writable segments (relro and data) are populated, as the remap does with
    // MAP_POPULATE (a no-op after it): glibc's relocation of this static PIE writes
    // nearly every page of them, one copy-on-write fault each, where one
    // madvise(MADV_POPULATE_WRITE) copies them all. A kernel without it (before 5.14)
    // refuses the advice, and the pages fault in as they did. r9 counts the program
    // headers down (a syscall clobbers rcx and r11).
    "80:",
    "lea rbx, [rip + __ehdr_start]",
    "mov r14, [rbx + 32]",
    "add r14, rbx",
    "movzx r9d, word ptr [rbx + 56]",
    "movzx r15d, word ptr [rbx + 54]",
    "81:",
    "test r9, r9",
    "jz 84f",
    "cmp dword ptr [r14], 1",
    "jne 83f",
    "test dword ptr [r14 + 4], 2",
    "jz 83f",
    "mov rsi, [r14 + 32]",
    "test rsi, rsi",
    "jz 83f",
    // madvise(bias + page(vaddr), filesz + offset-in-page, MADV_POPULATE_WRITE)
    "mov rdi, [r14 + 16]",
    "mov rax, rdi",
    "and rax, 0xfff",
    "add rsi, rax",
    "sub rdi, rax",
    "add rdi, rbx",
    "mov edx, 23",
    "mov eax, 28",
    "syscall",
    "83:",
    "add r14, r15",
    "dec r9",
    "jmp 81b",
    // The stack too: its first 96 KiB below the entry stack pointer, which the kernel's
    // 128 KiB stack mapping always covers (Rust's frames grow it ~20 pages, a fault each).
    "84:",
    "lea rdi, [r12 - 0x18000]",
    "and rdi, -4096",
    "mov rsi, r12",
    "sub rsi, rdi",
    "mov edx, 23",
    "mov eax, 28",
    "syscall",
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
    ".Lskiff_entry_fd_dir: .ascii \"/proc/self/fd/\"",
    ".Lskiff_entry_self_stat: .asciz \"/proc/self/stat\"",
    ".Lskiff_entry_marker_name: .asciz \"_SKIFF_EXE_READ_ONLY=\"",
    ".Lskiff_entry_marker: .asciz \"_SKIFF_EXE_READ_ONLY=1\"",
    ".popsection",
    exe_mount_fd = sym EXE_MOUNT_FD,
);

/// The descriptor from `open_tree` that the entry stub keeps open once the remap is done,
/// or -1. Written by the stub before any Rust code runs, taken once by `close_exe_mount`.
///
/// Why it is kept: closing the last descriptor of a detached mount tree dissolves it, and
/// the kernel waits for an expedited RCU grace period there (~65 µs alone, more on a busy
/// machine, with an IPI to every CPU). Closed by the stub, that wait sat at the start of
/// every `create` and `run`. Kept, the init inherits it with the clone; the parent's close
/// after the clone is then not the last, and the init's, right after it reports ready
/// while the parent records the container, is. The descriptor never reaches a container
/// process: the shared last steps before execve close it too (it is close-on-exec
/// besides), `fds::record_inherited` does not count it as the caller's, and every command
/// but create and run closes it before starting any process (`cli::main`).
static EXE_MOUNT_FD: AtomicI32 = AtomicI32::new(-1);

/// The kept descriptor of the read-only mount, if it is still open in this process.
pub fn exe_mount_fd() -> Option<RawFd> {
    Some(EXE_MOUNT_FD.load(Ordering::Relaxed)).filter(|fd| *fd >= 0)
}

/// Closes this process' copy of the kept mount descriptor (see `EXE_MOUNT_FD`); later
/// calls do nothing.
pub fn close_exe_mount() {
    let fd = EXE_MOUNT_FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the entry stub opened this descriptor and handed it to no one; the swap
        // makes this the only place that closes it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
