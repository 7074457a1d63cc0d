#!/usr/bin/env python3
"""Which of skiff's functions run in a command: a one-shot-breakpoint coverage tracer.

    trace.py BINARY OUT -- ARGS...

BINARY is a skiff built with its symbols (bench/layout/record.sh builds one). The tracer
starts BINARY with ARGS under ptrace, puts an int3 on the first byte of every function
in BINARY's symbol table, and on each hit records the function, puts the byte back and
lets the process go on; every process and thread the command makes is followed, and a
process that executes BINARY again (skiff re-executes itself from a sealed copy) gets the
breakpoints again. The breakpoints go in when the process reaches glibc's `_start`, found
by a hardware breakpoint: skiff's entry point remaps its own text from a read-only mount
before that (src/sys/early_exe.rs), which would throw away int3s put in earlier. Whatever else a process executes (the container's program) is let go.
The names of the functions that ran are appended to OUT, one per line, in the order
they first ran. The command's own exit status is returned.

Why: the kernel maps a binary's text around each page fault in 64 KiB windows, so a
`run` that touches a few hundred scattered functions keeps nearly all of a 2.7 MiB text
resident. Linking the functions that run first, together (bench/layout/link.sh), keeps
peak RSS to the code actually used. Only a trace tells which functions those are.
"""
import ctypes
import os
import signal
import struct
import subprocess
import sys

PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_POKETEXT = 0, 1, 4
PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_DETACH = 7, 12, 13, 17
PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG = 0x4200, 0x4201
PTRACE_POKEUSER = 6
DEBUGREG = 848  # offsetof(struct user, u_debugreg) on x86_64: DR0 here, DR7 at +56
OPTIONS = 0x2 | 0x4 | 0x8 | 0x10 | 0x100000  # TRACEFORK VFORK CLONE EXEC, EXITKILL
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
WALL = 0x40000000  # waitpid: children and threads alike
RIP = 16  # index of rip in struct user_regs_struct (x86_64)

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(req, pid, addr=0, data=0):
    ctypes.set_errno(0)
    r = libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    e = ctypes.get_errno()
    if r == -1 and e:
        raise OSError(e, f"ptrace({req}, {pid}): {os.strerror(e)}")
    return r


def peek(pid, addr):
    return ptrace(PTRACE_PEEKTEXT, pid, addr) & 0xFFFFFFFFFFFFFFFF


def poke_byte(pid, addr, byte):
    word = peek(pid, addr)
    word = (word & ~0xFF) | byte
    ptrace(PTRACE_POKETEXT, pid, addr, word)


def functions(binary):
    """(virtual address in the image, name) of every defined function, from nm."""
    out = subprocess.run(["nm", "--defined-only", binary], check=True,
                         capture_output=True, text=True).stdout
    seen = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            seen.setdefault(int(parts[0], 16), parts[2])
    return seen


def entry_and_loads(binary):
    """e_entry and the PT_LOAD segments (vaddr, file offset, size) of an ELF64 file."""
    with open(binary, "rb") as f:
        elf = f.read()
    e_entry, e_phoff = struct.unpack_from("<QQ", elf, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", elf, 54)
    loads = []
    for i in range(e_phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, e_phoff + i * e_phentsize)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
    return e_entry, loads


def load_base(pid, e_entry):
    """The PIE's load address, from AT_ENTRY in the process's auxiliary vector."""
    data = open(f"/proc/{pid}/auxv", "rb").read()
    for i in range(0, len(data), 16):
        key, val = struct.unpack_from("<QQ", data, i)
        if key == 9:  # AT_ENTRY
            return val - e_entry
    raise RuntimeError("no AT_ENTRY")


class Tracer:
    def __init__(self, binary):
        self.funcs = functions(binary)
        self.e_entry, loads = entry_and_loads(binary)
        with open(binary, "rb") as f:
            data = f.read()
        # Each function's first byte as the file holds it, by virtual address.
        self.orig = {}
        for vaddr in self.funcs:
            for seg_vaddr, seg_off, size in loads:
                if seg_vaddr <= vaddr < seg_vaddr + size:
                    self.orig[vaddr] = data[seg_off + vaddr - seg_vaddr]
        self.funcs = {v: n for v, n in self.funcs.items() if v in self.orig}
        self.base = {}  # pid -> load base of BINARY in that process (None: not ours)
        self.hit = []  # names in first-hit order
        self.hit_offsets = set()
        self.start = next(v for v, n in self.funcs.items() if n == "_start")
        self.at_start = set()  # pids whose hardware breakpoint on _start is still set

    def is_ours(self, pid, base):
        for off in list(self.funcs)[:64:8]:
            try:
                if peek(pid, base + off) & 0xFF != self.orig[off]:
                    return False
            except OSError:
                return False
        return True

    def arm(self, pid):
        """At an exec of BINARY: a hardware breakpoint on `_start`, where `on_trap` puts
        the int3s in (the text may be remapped before it, see the module doc)."""
        try:
            base = load_base(pid, self.e_entry)
        except (OSError, RuntimeError):
            base = None
        if base is None or not self.is_ours(pid, base):
            self.base[pid] = None
            return
        self.base[pid] = base
        ptrace(PTRACE_POKEUSER, pid, DEBUGREG, base + self.start)
        ptrace(PTRACE_POKEUSER, pid, DEBUGREG + 7 * 8, 1)  # DR7: DR0 on, on execution
        self.at_start.add(pid)

    def set_unhit(self, pid, base, armed):
        """Puts an int3 on (or the original byte back at) every function not yet hit."""
        for off in self.funcs:
            if off not in self.hit_offsets:
                poke_byte(pid, base + off, 0xCC if armed else self.orig[off])

    def on_trap(self, pid):
        """An int3 of ours: record the function, restore its byte, re-run it."""
        base = self.base.get(pid)
        if base is None:
            return False
        regs = (ctypes.c_ulonglong * 27)()
        ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
        if pid in self.at_start and regs[RIP] == base + self.start:
            # The hardware breakpoint (it stops before the instruction): off, int3s in.
            self.at_start.discard(pid)
            ptrace(PTRACE_POKEUSER, pid, DEBUGREG + 7 * 8, 0)
            ptrace(PTRACE_POKEUSER, pid, DEBUGREG + 6 * 8, 0)
            self.set_unhit(pid, base, armed=True)
            return True
        off = regs[RIP] - 1 - base
        if off not in self.funcs:
            return False
        if off not in self.hit_offsets:
            self.hit_offsets.add(off)
            self.hit.append(self.funcs[off])
        if peek(pid, base + off) & 0xFF == 0xCC:
            poke_byte(pid, base + off, self.orig[off])
        regs[RIP] -= 1
        ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(regs))
        return True

    def release_all(self):
        """Stops each process still traced, takes the breakpoints out and detaches it."""
        for pid in list(self.base):
            try:
                os.kill(pid, signal.SIGSTOP)
                while True:
                    _, status = os.waitpid(pid, WALL)
                    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                        break
                    if os.WIFSTOPPED(status) and os.WSTOPSIG(status) == signal.SIGSTOP:
                        if self.base[pid] is not None:
                            self.set_unhit(pid, self.base[pid], armed=False)
                        if pid in self.at_start:
                            ptrace(PTRACE_POKEUSER, pid, DEBUGREG + 7 * 8, 0)
                        # Detaching from this signal-delivery stop drops the SIGSTOP.
                        ptrace(PTRACE_DETACH, pid, 0, 0)
                        break
                    ptrace(PTRACE_CONT, pid, 0, 0)
            except (OSError, ChildProcessError):
                pass
            self.base.pop(pid, None)

    def run(self, argv):
        child = os.fork()
        if child == 0:
            ptrace(PTRACE_TRACEME, 0)
            os.execv(argv[0], argv)
        _, status = os.waitpid(child, 0)  # stopped at its exec
        ptrace(PTRACE_SETOPTIONS, child, 0, OPTIONS)
        self.arm(child)
        ptrace(PTRACE_CONT, child)
        exit_status = None
        fresh = set()  # auto-attached children: their first stop is a SIGSTOP to swallow
        while True:
            try:
                pid, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                break
            if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                self.base.pop(pid, None)
                if pid == child:
                    exit_status = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                                   else 128 + os.WTERMSIG(status))
                    # The command is done; what it left running (the init `create`
                    # leaves waiting for `start`) goes on untraced.
                    self.release_all()
                    break
                continue
            if not os.WIFSTOPPED(status):
                continue
            sig, event = os.WSTOPSIG(status), status >> 16
            deliver = 0
            try:
                if event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
                    new = ctypes.c_ulong()
                    ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(new))
                    # A fork copies the memory with the breakpoints still in; a thread
                    # shares it.
                    self.base[new.value] = self.base.get(pid)
                    fresh.add(new.value)
                elif event == EVENT_EXEC:
                    self.arm(pid)
                    if self.base[pid] is None:
                        ptrace(PTRACE_DETACH, pid)
                        continue
                elif sig == signal.SIGSTOP and pid in fresh:
                    fresh.discard(pid)
                elif sig == signal.SIGTRAP:
                    if not self.on_trap(pid):
                        deliver = sig
                else:
                    deliver = sig
                ptrace(PTRACE_CONT, pid, 0, deliver)
            except OSError:
                pass  # the process went away meanwhile
        return exit_status


def main():
    if len(sys.argv) < 4 or sys.argv[3] != "--":
        sys.exit(__doc__)
    binary, out, argv = sys.argv[1], sys.argv[2], sys.argv[4:]
    tracer = Tracer(binary)
    status = tracer.run(argv)
    with open(out, "a") as f:
        for name in tracer.hit:
            f.write(name + "\n")
    sys.exit(status if status is not None else 1)


if __name__ == "__main__":
    main()
