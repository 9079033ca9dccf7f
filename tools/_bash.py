"""One persistent bash on a pty: starting it, sending commands, timeouts.

The command is sent as one line, ``\\eval $'...'`` with every control byte
escaped, then the status tail: no echo, multi-line commands and heredocs
work, an incomplete command is a syntax error (not a shell waiting for
more), and what runs is byte for byte what was approved. A command longer
than the pty's line limit is sent in pieces (``__overseer_cmd+=$'...'``,
one line each, each taken by bash before the next is sent; the variable is
unset first and every piece must be stored), then run with
``\\eval "$__overseer_cmd"``: no file a command could swap in between.

How the end of a command, its exit status and the cwd are learnt without
trusting anything the command prints is ``overseer.tools._shell_watch``.
Here: the prompt (``PS1``) is the output marker and each line's tail sends
``$?`` and the line's nonce on the status socket; bash runs from an
execute-only copy in the sandbox; ``enable`` is disabled so no loadable
builtin brings native code into bash; commands cannot type into the
terminal (``_seccomp``).

- ``delaybeforesend`` is None: pexpect's default sleeps 50 ms before every
  send, which would cost more than the whole mediated call.
- Timeout: Ctrl-C (SIGINT to the foreground job), then SIGKILL of the
  foreground process group, then killing the shell (the tool starts a new
  one); each step waits ``INTERRUPT_GRACE_S`` for the prompt.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import socket
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import ptyprocess

from . import _seccomp
from ._output import BoundedOutput
from ._proc import StreamDecoder
from ._quote import ansi_c_quote, quoted_pieces
from ._shell_watch import OUTPUT_END, STATUS_FD, OutputFilter, ShellWatch, sender, status_socket

__all__ = [
    "OUTPUT_END",
    "STATUS_FD",
    "PersistentShell",
    "RunOutcome",
    "ShellStartError",
    "ansi_c_quote",
]

STARTUP_TIMEOUT_S = 15.0
INTERRUPT_GRACE_S = 0.6  # after a timeout: how long each escalation step waits
MAX_LINE = 3800  # a canonical-mode pty cuts input lines at 4095 bytes
_TAIL_MAX = 64  # the status tail's length, at most
LONG_VAR = "__overseer_cmd"
TICK_S = 0.05  # while a command runs: how often the idle state is checked without a message
# Poll briefly for bash's first answer before sleeping: a builtin answers in
# microseconds and waking a sleeping thread costs about as much again. Only
# with a second CPU for bash to answer on.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
POLL_BEFORE_SLEEP_S = 0.0003 if _CPUS > 1 else 0.0


@dataclass
class RunOutcome:
    exit_code: int | None
    timed_out: bool
    shell: str  # survived | respawned | exited
    cwd: str | None
    duration_ms: int
    note: str = ""
    ignored_reports: int = 0  # status messages from other processes, dropped


class ShellStartError(RuntimeError):
    pass


class _Spawn(pexpect.spawn):  # type: ignore[misc]
    """pexpect's spawn, passing the status socket to the child and
    installing the terminal filter before exec."""

    def __init__(self, *args: object, status_fd: int, **kwargs: object) -> None:
        self._status_fd = status_fd
        super().__init__(*args, **kwargs)

    def _spawnpty(self, args: list[str], **kwargs: object) -> ptyprocess.PtyProcess:
        fd = self._status_fd

        def child() -> None:
            os.dup2(fd, STATUS_FD)  # dup2 clears close-on-exec on the copy
            if fd != STATUS_FD:
                os.close(fd)
            _seccomp.install()

        kwargs["preexec_fn"] = child
        return ptyprocess.PtyProcess.spawn(args, pass_fds=(fd,), **kwargs)


def _readable(fds: list[int], wait: float, poll: float = 0.0) -> list[int]:
    """Which of ``fds`` have data (or hung up) within ``wait`` seconds,
    polling ``poll`` seconds first. poll(2), not select(2): a process with
    many files open may hand the pty a descriptor above 1023."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    if poll:
        until = time.perf_counter() + min(poll, wait)
        while True:
            ready = poller.poll(0)
            if ready:
                return [fd for fd, _ in ready]
            if time.perf_counter() >= until:
                break
        wait = max(wait - poll, 0.0)
    return [fd for fd, _ in poller.poll(wait * 1000)]


def execute_only_bash(directory: Path) -> Path:
    """A copy of bash that its own user cannot read (mode 0111): the kernel
    marks a process that execs an unreadable program non-dumpable."""
    src = shutil.which("bash") or "/bin/bash"
    dst = directory / "bash"
    shutil.copyfile(os.path.realpath(src), dst)
    os.chmod(dst, 0o111)
    return dst


class PersistentShell:
    """One bash process on a pty, possibly inside bwrap."""

    def __init__(
        self, workspace: Path, prefix: list[str], env: dict[str, str], bash: str = "bash"
    ) -> None:
        self.workspace = workspace
        self._filter = OutputFilter()
        ours, theirs = status_socket()
        self.status = ours
        env = dict(env)
        env.update(
            # The prompt is the output marker: bash prints it after
            # PROMPT_COMMAND, right before it reads the next line, and
            # printing a prompt runs no command (no DEBUG trap) after the
            # status is sent.
            PS1=OUTPUT_END.decode(),
            PS2="",
            PS4="+ ",
            HISTFILE="",
            # The status is sent by the line overseer sends (its tail), not
            # by a prompt hook the agent could read or replace.
            PROMPT_COMMAND="",
        )
        argv = [*prefix, "--"] if prefix else []
        argv += [bash, "--noprofile", "--norc", "--noediting", "-i"]
        try:
            self.proc = _Spawn(
                argv[0],
                argv[1:],
                status_fd=theirs.fileno(),
                cwd=str(workspace),
                env=env,
                echo=False,
                encoding=None,
                dimensions=(50, 200),
                use_poll=True,
            )
        except (pexpect.ExceptionPexpect, OSError) as exc:
            ours.close()
            raise ShellStartError(f"cannot start bash: {exc}") from exc
        finally:
            theirs.close()
        self.proc.delaybeforesend = None  # pexpect sleeps 50 ms before every send by default
        self.proc.delayafterclose = 0.01  # and 0.1 s when closing
        self.fd = self.proc.child_fd
        self.shell_pgrp = -1
        self.watch = ShellWatch(ours, self.fd)
        self._nonce = b""  # the status tail's nonce for the line in flight
        self._quiet_tty()
        self._start()

    def _start(self) -> None:
        sink = BoundedOutput(spool_cap=0)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            # Read at bash's first prompt, before any command of the agent's:
            # its sender is the shell.
            self.proc.send(f"builtin printf 0 >&{STATUS_FD}\n".encode())
        except OSError:
            pass  # the shell is gone: the wait below says so
        first = self._first_report(deadline, sink)
        if first is None:
            text = sink.text().strip()
            alive = self.proc.isalive()
            self.close()
            why = f"did not answer within {STARTUP_TIMEOUT_S:.0f} s" if alive else "exited"
            raise ShellStartError(f"bash {why} at start" + (f": {text}" if text else ""))
        self.watch.start(first, None, None)  # the pid and image; no idle check yet
        learnt = self.watch.learn_idle(deadline)
        try:
            self.shell_pgrp = os.tcgetpgrp(self.fd)
        except OSError:
            self.shell_pgrp = -1
        # Not exported: a child `bash -i` must not run it; readonly: a
        # command cannot silence it by accident; no `enable`: no native code
        # loaded into bash. No command of the agent's has run yet, so the
        # status message alone may end this one.
        init = (
            "export -n PROMPT_COMMAND PS1 PS2 HISTFILE; set +o history; "
            "readonly PROMPT_COMMAND; enable -n enable"
        )
        sink = BoundedOutput(spool_cap=0)
        outcome = self.run(init, 10.0, sink, None)
        if outcome.exit_code != 0:
            self.close()
            raise ShellStartError("bash did not accept its setup: " + sink.text())
        # The same top-level read twice, before and after a command: that is
        # what idle looks like. Anything else, and the check is off.
        self.watch.start(first, learnt, self.watch.learn_idle(time.monotonic() + 2.0))

    @property
    def idle_check(self) -> bool:
        return self.watch.idle_check

    @property
    def ignored(self) -> int:
        return self.watch.ignored

    def cwd(self) -> str | None:
        """Where bash really is (the kernel's answer), or None when unknown."""
        return self.watch.cwd()

    def _first_report(self, deadline: float, sink: BoundedOutput) -> int | None:
        """The pid of the first status message (bash's, before any command)."""
        while time.monotonic() < deadline:
            ready = _readable(
                [self.fd, self.status.fileno()], max(0.0, deadline - time.monotonic())
            )
            if self.fd in ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    return None
                self._feed(chunk, sink, None)
            if self.status.fileno() in ready:
                try:
                    msg, anc, _f, _a = self.status.recvmsg(64, socket.CMSG_SPACE(64))
                except BlockingIOError:
                    continue
                pid = sender(anc)
                if pid is not None:
                    self._wait_output_end(sink, None)
                    return pid
                if not msg:
                    return None
        return None

    # -- running -------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.isalive()

    def run(
        self, command: str, timeout: float, out: BoundedOutput, decoder: StreamDecoder | None
    ) -> RunOutcome:
        start = time.monotonic()
        self._drain(out, decoder)
        self.watch.reports()  # anything sent while no command ran is not this command's
        self.watch.ignored = 0
        self._filter.reset()
        # \eval, \builtin: an alias the agent defined does not apply.
        body = b"\\eval " + ansi_c_quote(command)
        try:
            if len(body) + _TAIL_MAX > MAX_LINE:
                if not self.proc.isalive():
                    return self._outcome(None, False, "exited", start, "the shell is gone")
                if not self._send_long(command, start + timeout):
                    # Not stored whole (a readonly variable, a timeout): the
                    # shell is not trusted with it; a new one is started.
                    self.close()
                    note = "the shell did not store the long command, so it did not run"
                    return self._outcome(None, False, "respawned", start, note)
                self._filter.reset()
                body = f'\\eval "${LONG_VAR}"'.encode()
            self._send_line(body)
        except OSError as exc:
            return self._outcome(None, False, "exited", start, f"the shell is gone: {exc}")
        rc, eof, lost = self._wait_end(start + timeout, out, decoder)
        if rc is not None or lost:
            if lost:
                self.close()
                return self._outcome(
                    None, False, "respawned", start, "the shell stopped reporting exit status"
                )
            return self._outcome(rc, False, "survived", start)
        if eof:
            return self._outcome(self._exit_status(), False, "exited", start, "the shell exited")
        # Timed out: escalate, each step waiting briefly for the prompt.
        steps: list[str] = []
        with contextlib.suppress(OSError):
            self.proc.send(b"\x03")  # what Ctrl-C does: SIGINT to the foreground job
            steps.append("SIGINT")
        rc, eof, lost = self._wait_end(time.monotonic() + INTERRUPT_GRACE_S, out, decoder)
        if lost == "silent":
            # A job killed by SIGINT makes bash drop the rest of the line,
            # the status tail with it: bash is back at its prompt, but what
            # the command would have returned is unknown.
            self._quiet_tty()
            return self._outcome(None, True, "survived", start, ", then ".join(steps))
        if rc is None and not eof and not lost:
            pgrp = self._foreground()
            if pgrp > 0 and pgrp != self.shell_pgrp:
                with contextlib.suppress(OSError):
                    os.killpg(pgrp, signal.SIGKILL)
                    steps.append("SIGKILL to the foreground job")
                rc, eof, lost = self._wait_end(time.monotonic() + INTERRUPT_GRACE_S, out, decoder)
        if rc is not None:
            # bash restores the terminal modes it saved when a job dies of a
            # signal, which may bring ONLCR ("\r\n") and echo back.
            self._quiet_tty()
            return self._outcome(rc, True, "survived", start, ", then ".join(steps))
        steps.append("killed the shell")
        self.close()
        return self._outcome(None, True, "respawned", start, ", then ".join(steps))

    def _outcome(
        self, rc: int | None, timed_out: bool, shell: str, start: float, note: str = ""
    ) -> RunOutcome:
        cwd = self.cwd() if shell == "survived" else None
        return RunOutcome(
            rc, timed_out, shell, cwd, int((time.monotonic() - start) * 1000), note, self.ignored
        )

    def _send_line(self, body: bytes) -> None:
        """Send ``body`` and the tail that sends its status with a fresh nonce.

        The nonce exists nowhere before bash has read the line: a status
        sent before that (a trap firing while bash waits at its prompt, a
        replay of an earlier tail) carries another and is dropped, so the
        idle bash that follows it cannot pass for this line's end."""
        self._nonce = b"%d" % (10**17 + secrets.randbelow(8 * 10**17))
        line = body + b"; \\builtin printf '%s " + self._nonce + b'\' "$?" >&%d\n' % STATUS_FD
        self.watch.sending(len(line))
        self.proc.send(line)

    def _status(self, msg: bytes) -> int | None:
        """The exit status in a status message for the line in flight, or None."""
        rc, _, nonce = msg.partition(b" ")
        if nonce != self._nonce or not rc.isdigit():
            return None
        return int(rc)

    def _send_long(self, command: str, deadline: float) -> bool:
        """Send a long command as variable pieces, one line each, waiting for
        bash to take each (a pty holds only 4 KB of unread input). The
        variable is unset first (no attribute the agent gave it, -u, -i or
        a nameref, applies) and every piece must be stored (status 0): a
        variable the agent made readonly must not run what it holds."""
        pieces = quoted_pieces(command, MAX_LINE - 64 - _TAIL_MAX)
        sink = BoundedOutput(spool_cap=0)
        for i, piece in enumerate(pieces):
            if i == 0:
                head = (
                    f"\\builtin unset -n {LONG_VAR}; \\builtin unset -v {LONG_VAR} && {LONG_VAR}="
                )
            else:
                head = f"{LONG_VAR}+="
            self._filter.reset()
            self._send_line(head.encode() + b"$'" + piece + b"'")
            rc, eof, lost = self._wait_end(deadline, sink, None)
            if rc != 0:
                return False
        return True

    def _foreground(self) -> int:
        try:
            return os.tcgetpgrp(self.fd)
        except OSError:
            return -1

    def _feed(self, data: bytes, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        self._emit(self._filter.feed(data), out, decoder)

    @staticmethod
    def _emit(data: bytes, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        if data:
            out.feed(data)
            if decoder is not None:
                decoder.feed(data)

    def _drain(self, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        """Output that arrived between calls (a background job) belongs to the
        terminal: the agent sees it at the top of the next call's output."""
        self._emit(self._filter.flush(), out, decoder)
        drained = 0
        # Bounded: a background job printing without end must not stall the call.
        while drained < (1 << 20):
            try:
                if not _readable([self.fd], 0):
                    break
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            drained += len(chunk)
            self._feed(chunk, out, decoder)
        self._emit(self._filter.flush(), out, decoder)

    def _quiet_tty(self) -> None:
        """No echo, and "\n" kept as is: the output is data, not a screen."""
        with contextlib.suppress(termios.error):
            attrs = termios.tcgetattr(self.fd)
            attrs[1] &= ~termios.ONLCR
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def _wait_end(
        self, deadline: float, out: BoundedOutput, decoder: StreamDecoder | None
    ) -> tuple[int | None, bool, str]:
        """Wait for the end of the command: (exit code, eof, lost). The code
        is None at the deadline; ``lost``: "silent" when bash went idle
        without a status (its status descriptor was closed or redirected,
        or SIGINT cut the line short), "replaced" when bash exec'd another
        program."""
        status: int | None = None
        poll = POLL_BEFORE_SLEEP_S  # only for the first answer
        fds = [self.fd, self.status.fileno()]
        hung_up = False
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return None, False, ""
            try:
                ready = _readable(fds, min(wait, TICK_S), poll)
            except InterruptedError:
                continue
            poll = 0.0
            # The socket first: bash prints the prompt after it sent the
            # status, so only a marker read after a status can be its prompt
            # (one the command printed earlier must not end the output).
            if self.status.fileno() in ready:
                reports, hung_up = self.watch.reports()
                if hung_up:
                    fds = [self.fd]
                rc = self._take_statuses(reports)
                if rc is not None:
                    status = rc
                    # The prompt follows within microseconds: poll for it
                    # rather than sleep and pay a second wake-up.
                    poll = POLL_BEFORE_SLEEP_S
            if self.fd in ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # EIO: the other side of the pty is closed
                    chunk = b""
                if not chunk:
                    return None, True, ""
                self._feed(chunk, out, decoder)
            if status is not None and (self._filter.ended or not ready):
                # A status, and the output marker bash prints after it (or a
                # quiet tick): is bash really back at its prompt?
                if self._settle():
                    late, _ = self.watch.reports()  # sent before bash went idle: still ours
                    status = self._take_statuses(late, status)
                    self._wait_output_end(out, decoder)
                    return status, False, ""
            elif status is None and not ready and self.watch.idle_check:
                if self.watch.replaced():
                    return None, False, "replaced"
                if self.watch.is_idle(line_taken=False) and self._confirm_idle(fds):
                    return None, False, "silent"
            if not ready and not self.proc.isalive():
                return None, True, ""

    def _take_statuses(self, reports: list[bytes], status: int | None = None) -> int | None:
        """The last of ``reports`` that is this line's status (else
        ``status``); each resets the output filter, as its prompt is still
        to be read. The others are counted as ignored."""
        for msg in reports:
            rc = self._status(msg)
            if rc is None:
                self.watch.ignored += 1  # not this line's: sent before it was read, or replayed
                continue
            status = rc
            self._filter.reset()
        return status

    def _settle(self) -> bool:
        """After a status message: is bash idle (soon)? bash reaches its read
        microseconds after the message; a forged message is followed by no
        idle shell."""
        if not self.watch.idle_check:
            return True
        spin = time.perf_counter() + (0.0005 if _CPUS > 1 else 0.0)
        until = time.perf_counter() + 0.003
        while True:
            if self.watch.is_idle(line_taken=True):
                return True
            now = time.perf_counter()
            if now >= until:
                return False
            if now >= spin:
                time.sleep(0.0002)

    def _confirm_idle(self, fds: list[int]) -> bool:
        """Idle without a status: look again a little later, to be sure.
        Idle first, then ``fds`` (the pty, and the socket unless it hung
        up): a status sent before bash went idle is waiting there by then,
        and the loop reads it."""
        time.sleep(0.02)
        if not self.watch.is_idle(line_taken=False):
            return False
        return not _readable(fds, 0)

    def _wait_output_end(self, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        """bash is idle: read output until it ends with OUTPUT_END (the kernel
        may still be moving the last bytes). Output after the marker is a
        background job's: it gets 20 ms, then waits for the next call. With
        no marker at all (the agent changed PS1), 5 ms of quiet end it."""
        deadline = time.monotonic() + 0.5
        while not self._filter.ended:
            wait = deadline - time.monotonic()
            wait = min(wait, 0.02 if self._filter.markers else 0.005)
            if wait <= 0 or not _readable([self.fd], wait):
                break
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self._feed(chunk, out, decoder)
        self._emit(self._filter.flush(), out, decoder)

    def _exit_status(self) -> int | None:
        with contextlib.suppress(Exception):
            self.proc.close(force=True)
        status = self.proc.exitstatus
        if status is None and self.proc.signalstatus is not None:
            return 128 + int(self.proc.signalstatus)
        return status

    # -- internal commands ---------------------------------------------------

    def exports(self, timeout: float = 5.0) -> str | None:
        """``export -p`` as bash writes it, through the status socket (so no
        output and no other process can add a line to it)."""
        start = f"\\builtin printf '\\002' >&{STATUS_FD}"
        end = f"\\builtin printf '\\003' >&{STATUS_FD}"
        cmd = f"{start}; \\builtin export -p >&{STATUS_FD}; {end}"
        self._drain(BoundedOutput(spool_cap=0), None)
        self.watch.reports()
        self._filter.reset()
        try:
            self._send_line(cmd.encode())
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        inside = False
        done = ended = False
        sink = BoundedOutput(spool_cap=0)
        while time.monotonic() < deadline and not done:
            ready = _readable([self.fd, self.status.fileno()], TICK_S)
            if self.fd in ready:
                with contextlib.suppress(OSError):
                    self._feed(os.read(self.fd, 65536), sink, None)
            msgs, _ = self.watch.reports()
            for msg in msgs:
                if msg == b"\x02":
                    inside, chunks = True, []
                elif msg == b"\x03":
                    inside = False
                elif inside:
                    chunks.append(msg)
                elif self._status(msg) is not None:
                    ended = True
            # Asked again on the next round when bash is slow to be idle.
            done = ended and self._settle()
        self._wait_output_end(sink, None)
        return b"".join(chunks).decode("utf-8", "surrogateescape") if done else None

    def close(self) -> None:
        pgrp = self._foreground()
        if pgrp > 0 and pgrp != self.shell_pgrp:
            with contextlib.suppress(OSError):
                os.killpg(pgrp, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.close(force=True)
        self.watch.close()
