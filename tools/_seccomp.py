"""A seccomp filter that keeps commands from typing into the shell's terminal.

``ioctl(fd, TIOCSTI, &c)`` pushes a byte into a terminal's input queue as if
it had been typed. Every command the persistent shell runs has the shell's
pty as its controlling terminal, so without this filter a command (or a
background process it leaves) could queue ``rm -rf ~\\n`` and bash would read
and run it as the next line — a command nobody proposed, judged or approved,
its output and status attributed to the next call. (Linux 6.2+ can turn
TIOCSTI off system-wide, ``dev.tty.legacy_tiocsti=0``, but it is on by
default, and a process with CAP_SYS_ADMIN may use it anyway.) ``TIOCLINUX``
has a subcommand that does the same on virtual consoles. This is the filter
Flatpak uses, as classic BPF built here for the common architectures; on
another architecture nothing is filtered (and ``FILTER`` is None).

The filter is installed in the child between fork and exec (it is inherited
by bwrap, bash and everything they start, and cannot be removed). Only the
low 32 bits of the request are compared: the kernel ignores the high half,
so ``TIOCSTI | 1 << 32`` must not slip through.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
import termios

TIOCSTI = getattr(termios, "TIOCSTI", 0x5412)
TIOCLINUX = getattr(termios, "TIOCLINUX", 0x541C)

# (AUDIT_ARCH_*, ioctl syscall numbers) per architecture.
_ARCHES: dict[str, list[tuple[int, list[int]]]] = {
    # x86-64, its x32 ABI (bit 30 set) and 32-bit programs on it
    "x86_64": [(0xC000003E, [16, 0x40000000 | 16, 0x40000000 | 514]), (0x40000003, [54])],
    "aarch64": [(0xC00000B7, [29]), (0x40000028, [54])],
    "riscv64": [(0xC00000F3, [29])],
    "ppc64le": [(0xC0000015, [54])],
}

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JA = 0x05  # BPF_JMP | BPF_JA
_RET_K = 0x06  # BPF_RET | BPF_K
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | 1  # SECCOMP_RET_ERRNO | EPERM
_OFF_NR, _OFF_ARCH, _OFF_ARG1_LO = 0, 4, 24  # struct seccomp_data, little-endian


def build_filter(machine: str | None = None) -> bytes | None:
    """The filter program (``struct sock_filter[]``) for ``machine``, or None."""
    arches = _ARCHES.get(machine or platform.machine())
    if not arches:
        return None
    # Symbolic program first; jumps are resolved to offsets below.
    prog: list[tuple[int | str, object, object, int]] = [(_LD_W_ABS, 0, 0, _OFF_ARCH)]
    for i, (arch, _nrs) in enumerate(arches):
        prog.append((_JEQ_K, f"arch{i}", 0, arch))
    prog.append((_RET_K, 0, 0, _RET_ALLOW))  # an unknown arch: not ours to judge
    for i, (_arch, nrs) in enumerate(arches):
        prog.append(("label", f"arch{i}", 0, 0))
        prog.append((_LD_W_ABS, 0, 0, _OFF_NR))
        for nr in nrs:
            prog.append((_JEQ_K, "ioctl", 0, nr))
        prog.append((_RET_K, 0, 0, _RET_ALLOW))
    prog.append(("label", "ioctl", 0, 0))
    prog.append((_LD_W_ABS, 0, 0, _OFF_ARG1_LO))
    prog.append((_JEQ_K, "deny", 0, TIOCSTI))
    prog.append((_JEQ_K, "deny", 0, TIOCLINUX))
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    prog.append(("label", "deny", 0, 0))
    prog.append((_RET_K, 0, 0, _RET_EPERM))

    labels: dict[str, int] = {}
    code: list[tuple[int | str, object, object, int]] = []
    for ins in prog:
        if ins[0] == "label":
            labels[str(ins[1])] = len(code)
        else:
            code.append(ins)
    out = bytearray()
    for pc, (op, jt, jf, k) in enumerate(code):
        # A jump is the number of instructions to skip after this one.
        t = labels[jt] - pc - 1 if isinstance(jt, str) else 0
        f = labels[jf] - pc - 1 if isinstance(jf, str) else 0
        out += struct.pack("=HBBI", int(op), t, f, k)
    return bytes(out)


FILTER = build_filter()

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
# Built in the parent: the child between fork and exec should only make calls.
_BUF = ctypes.create_string_buffer(FILTER or b"\0", len(FILTER or b"\0"))
_PROG = _SockFprog(len(FILTER or b"") // 8, ctypes.cast(_BUF, ctypes.c_void_p).value)


def install() -> None:
    """Install the filter in this process (call between fork and exec).

    Without CAP_SYS_ADMIN the kernel wants ``no_new_privs`` first; bwrap sets
    it for sandboxed commands anyway. Raises OSError when it cannot be done,
    so the shell does not start without it."""
    if FILTER is None:
        return
    if os.geteuid() != 0 and _prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(_PROG), 0, 0) != 0:
        err = ctypes.get_errno()
        if _prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or (
            _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(_PROG), 0, 0) != 0
        ):
            raise OSError(err, "installing the TIOCSTI seccomp filter failed")
