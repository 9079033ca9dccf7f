"""How overseer learns that a shell command ended, with what status, and
where the shell is — from places the command's output cannot reach.

**Nothing the command prints decides what the log records** (invariant 11).
Output goes to the pty; the rest comes out of band:

- *Exit status* travels on a ``SOCK_SEQPACKET`` socket (fd ``STATUS_FD`` in
  bash): every line overseer sends ends with a tail, ``\\builtin printf
  '%s NONCE' "$?" >&250``, NONCE fresh for each line. The runtime's end has
  ``SO_PASSCRED``: the kernel stamps every message with the sending
  process's pid, and only messages from the shell's own pid count. A child,
  a subshell, a background job, any process holding a copy of the
  descriptor is another pid: its message is counted and dropped. The
  shell's pid is learnt from the first message, sent before any command
  ran. The nonce is no secret that authenticates (a ``DEBUG`` trap sees
  the tail in ``$BASH_COMMAND``); it exists nowhere before bash has read
  the line, so a status sent earlier — a trap firing while bash waits at
  its prompt, a replay of an earlier tail — is not this line's and cannot
  end it before it ran, even while the line is still on its way to bash.
- *The end* is the kernel's word, not a message: after a status message the
  runtime reads ``/proc/PID/syscall`` and accepts the end only when bash is
  blocked in the very ``read`` of its top-level loop — same syscall,
  descriptor, buffer, count, stack pointer and program counter as learnt at
  start-up — and runs the same program image (``/proc/PID/exe`` and its
  stack start: an ``exec`` changes them). Code running *in* bash (a trap, a
  replayed tail) does send from bash's pid, but it cannot be inside that
  top-level ``read`` while it runs: a forged "done" is followed by no idle
  shell, so the call keeps waiting for the real end. The status recorded is
  the last one bash sent before it went idle, which is the tail's: it is the
  line's last command (a ``DEBUG`` trap runs before it, and bash keeps
  ``$?`` across the trap). bash idle with no status (the descriptor closed,
  or SIGINT cut the line short) is a lost status, never a success — but
  only once bash has read the whole line (its ``rchar`` in
  ``/proc/PID/io`` grew by the line's length: until the kernel hands the
  line to the terminal, bash waits at its prompt with nothing pending) and
  no status waits on the socket.
- *The cwd* is ``readlink /proc/PID/cwd``: where bash really is.
- *Output boundaries.* The kernel hands pty output to the reader
  asynchronously, so a command's last bytes may lag behind its status. The
  prompt (``PS1``) is a fixed marker, ``OUTPUT_END``, printed after the
  tail; once bash is idle, output is read until it ends with the marker. A
  command that prints the marker can only move where its own output is
  cut, never the status or the cwd.

Why it holds against a command that knows all this: what it can write (the
pty, the status socket from a child, the socket from bash itself) is either
not read as status, dropped by pid, or not followed by an idle bash. What
it can read (the tail, ``/proc/self/fd``, the environment) holds no
secret, and a nonce it may see is spent by the time it could use it. In
the sandbox, bash runs from an execute-only copy, which the kernel marks
non-dumpable: what bash starts runs without capabilities and cannot ptrace
bash, read its memory or open its descriptors through ``/proc/PID/fd`` —
the only ways to make bash itself look idle.

What it does not cover: code the agent left *in* the shell (a function named
``builtin`` or ``eval``, a trap) runs inside bash and can change the status
bash reports for the call it runs in — as a command may choose its own exit
code. It cannot end a call early, report for another call, or move the
recorded cwd. (Aliases do not apply: the line says ``\\eval`` and
``\\builtin``.) Without a sandbox, a process running as the same user may
ptrace bash where Yama allows it; the sandbox is the wall.

Why ``/proc/PID/syscall`` is stable: an idle interactive bash with
``--noediting`` always waits in the same ``read(0, buf, 1024)`` from the
same stack frame; the ``read`` builtin, ``mapfile`` or a nested parse use
other buffers and frames. Where the file cannot be read (Yama
``ptrace_scope`` >= 2 for a non-root runtime), a pid-checked status ends the
command and results say so (``idle_check: false``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import termios
import time

STATUS_FD = 250  # bash's end of the status socket (high: scripts use 3-9, bash 10 up)
OUTPUT_END = b"\x1e\x1d"  # the prompt
_CRED = struct.calcsize("iII")  # struct ucred: pid, uid, gid
_TIOCGPTPEER = 0x5441


def status_socket() -> tuple[socket.socket, socket.socket]:
    """(ours, bash's): a socket pair whose every message carries its sender's pid."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    ours.setblocking(False)
    return ours, theirs


def sender(anc: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _CRED:
            return int(struct.unpack("iII", data[:_CRED])[0])
    return None


class ShellWatch:
    """The kernel's view of one bash: its pid, whether it is idle at its
    prompt, where it is, and the status messages it (and only it) sent."""

    def __init__(self, status: socket.socket, pty_fd: int) -> None:
        self.status = status
        self.pid = 0
        self.ignored = 0  # status messages from other processes, dropped
        self._idle: tuple[str, ...] | None = None
        self._exe: tuple[int, int, int] | None = None
        # /proc/PID/syscall and stat kept open and re-read with pread: an
        # open costs five times the read. Bound to the process, not the
        # number: a dead shell's files read ESRCH, never another's.
        self._fds: dict[str, int] = {}
        self._pty = pty_fd
        self._sent: tuple[int | None, int] = (None, 0)  # bash's rchar before the line, its length

    # -- what bash is doing ------------------------------------------------------

    def _read(self, name: str) -> bytes:
        fd = self._fds.get(name)
        if fd is None:
            fd = os.open(f"/proc/{self.pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
            self._fds[name] = fd
        return os.pread(fd, 4096, 0)

    def syscall(self) -> tuple[str, ...] | None:
        """(nr, fd, buf, count, sp, pc) of the call bash is blocked in, or None."""
        try:
            parts = self._read("syscall").split()
        except OSError:
            return None
        if len(parts) < 9:
            return None  # "running", or stopped outside a syscall
        return tuple(p.decode() for p in (*parts[:4], *parts[-2:]))

    def image(self) -> tuple[int, int, int] | None:
        """The program bash runs as: file and start of stack (an exec of the
        same file gets a new random stack)."""
        try:
            st = os.stat(f"/proc/{self.pid}/exe")
            fields = self._read("stat").rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (st.st_dev, st.st_ino, int(fields[25]) if len(fields) > 25 else 0)

    def learn_idle(self, deadline: float) -> tuple[str, ...] | None:
        """The call bash is blocked in, seen the same twice 1 ms apart; None
        when ``/proc/PID/syscall`` cannot be read here."""
        last = None
        while time.monotonic() < deadline:
            try:
                self._read("syscall")
            except OSError:
                return None
            now = self.syscall()
            if now is not None and now == last:
                return now
            last = now
            time.sleep(0.001)
        return None

    def start(
        self, pid: int, before: tuple[str, ...] | None, after: tuple[str, ...] | None
    ) -> None:
        """Pin the shell: its pid, its image, and what idle looks like (the
        same top-level read before and after a first command, or no check)."""
        self.pid = pid
        self._exe = self.image()
        self._idle = before if before is not None and before == after else None

    @property
    def idle_check(self) -> bool:
        return self._idle is not None

    def read_bytes(self) -> int | None:
        """How many bytes bash has read so far (``rchar``), or None."""
        if not self.pid:
            return None
        try:
            for line in self._read("io").splitlines():
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None

    def sending(self, length: int) -> None:
        """A line of ``length`` bytes is about to be sent to bash."""
        self._sent = (self.read_bytes(), length)

    def line_read(self) -> bool:
        """Whether bash has read the whole line sent last: its ``rchar`` grew
        by the line's length. Where that cannot be read, no input is pending
        (which misses a line the kernel has not handed to the terminal yet)."""
        before, length = self._sent
        if before is not None:
            now = self.read_bytes()
            if now is not None:
                return now >= before + length
        return self.pending_input() == 0

    def pending_input(self) -> int:
        """Bytes of input waiting for bash on the pty (its other end, opened
        for the question only: holding it open slows every write)."""
        try:
            peer = fcntl.ioctl(self._pty, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:
            return 0
        try:
            buf = fcntl.ioctl(peer, termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return 0
        finally:
            os.close(peer)
        return int(struct.unpack("i", buf)[0])

    def is_idle(self, *, line_taken: bool) -> bool:
        """Whether bash is back in its top-level read, having read the line
        sent last. ``line_taken``: a status carrying the line's nonce came,
        so bash has read the line."""
        if self._idle is None:
            return True  # cannot tell: the status message alone decides
        # The line first, then the syscall: seen the other way round, bash
        # could be caught in its read just before it takes a line, then take it.
        if not line_taken and not self.line_read():
            return False
        return self.syscall() == self._idle and self.image() == self._exe

    def replaced(self) -> bool:
        """bash exec'd another program (same pid, another image)."""
        return self._exe is not None and self.image() not in (self._exe, None)

    def cwd(self) -> str | None:
        """Where bash really is (the kernel's answer), or None when unknown."""
        if not self.pid:
            return None
        try:
            path = os.readlink(f"/proc/{self.pid}/cwd")
        except OSError:
            return None
        return path.removesuffix(" (deleted)")

    # -- the status socket ---------------------------------------------------

    def reports(self) -> tuple[list[bytes], bool]:
        """Messages from the shell itself now waiting, and whether the socket
        hung up. Others' messages are counted and dropped."""
        out: list[bytes] = []
        while True:
            try:
                msg, anc, _flags, _addr = self.status.recvmsg(65536, socket.CMSG_SPACE(_CRED))
            except (BlockingIOError, InterruptedError):
                return out, False
            except OSError:
                return out, True
            if not msg and not anc:
                return out, True
            if self.pid and sender(anc) == self.pid:
                out.append(msg)
            else:
                self.ignored += 1

    def _close_fds(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()

    def close(self) -> None:
        self._close_fds()
        with contextlib.suppress(OSError):
            self.status.close()


class OutputFilter:
    """Takes ``OUTPUT_END`` markers out of the pty stream and says whether
    the stream, so far, ends with one (nothing after the last marker)."""

    def __init__(self) -> None:
        self.hold = b""  # a trailing byte that may start a marker
        self.markers = 0
        self.after = 0  # bytes passed on since the last marker

    def reset(self) -> None:
        self.markers = 0
        self.after = 0

    def feed(self, chunk: bytes) -> bytes:
        data = self.hold + chunk
        self.hold = b""
        head, rest = b"", data
        if OUTPUT_END in data:
            head, _, rest = data.rpartition(OUTPUT_END)
            self.markers += 1 + head.count(OUTPUT_END)
            head = head.replace(OUTPUT_END, b"")
            self.after = 0
        if rest.endswith(OUTPUT_END[:1]):
            rest, self.hold = rest[:-1], rest[-1:]
        self.after += len(rest)
        return head + rest

    def flush(self) -> bytes:
        data, self.hold = self.hold, b""
        return data

    @property
    def ended(self) -> bool:
        return self.markers > 0 and self.after == 0 and not self.hold
