"""``shell``: a persistent bash per session, like a terminal the agent types into.

One bash process lives for the whole session (in ``ctx.state``), so ``cd``,
exported variables and functions persist between calls. It is driven through
a pty with pexpect:

- The command is sent as one line, ``eval $'...'`` with every control byte
  escaped: no echo, multi-line commands and heredocs work, an incomplete
  command is a syntax error (not a shell waiting for more), and what runs is
  byte for byte what was approved. Commands longer than the pty's line limit
  go through a private file (``eval "$(< FILE)"``), read-only in the sandbox.
- The end of a command is found through ``PROMPT_COMMAND``, which prints a
  sentinel holding a per-shell random token, ``$?`` and ``$PWD``. ``PS1`` and
  ``PS2`` are empty, echo is off, ``ONLCR`` is off (no ``\\r`` in output) and
  readline is off (``--noediting``).
- ``delaybeforesend`` is None: pexpect's default sleeps 50 ms before every
  send, which would cost more than the whole mediated call.
- Output is read in chunks into a ``BoundedOutput`` (head + tail + capped
  spool) and streamed through ``ctx.stream``; the full output (up to the spool
  cap) is stored with ``ctx.store_blob`` when it had to be cut.
- Timeout: Ctrl-C (SIGINT to the foreground job), then SIGKILL of the
  foreground process group, then killing and respawning the shell; the call
  returns within ``timeout + 2 s`` and the result says whether the shell
  survived or was respawned. A command waiting for terminal input (``read x``)
  is interrupted the same way. Nothing is ever retried.

Sandbox: with ``ctx.sandbox.name == "bwrap"`` the persistent bash itself runs
inside bubblewrap (see ``overseer.sandbox``). A call the policy allowed
network for runs in a second persistent sandboxed shell with network; the
working directory and exported variables are copied between the two shells
when a call switches, so the agent sees one terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import shutil
import signal
import tempfile
import termios
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
from pydantic import BaseModel, ConfigDict, Field

from overseer.sandbox import bwrap_prefix
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from ._env import command_env
from ._output import BoundedOutput
from ._proc import StreamDecoder

STATE_KEY = "overseer.tools.shell"
STARTUP_TIMEOUT_S = 15.0
# After a timeout: how long each escalation step waits for the prompt.
INTERRUPT_GRACE_S = 0.6
# A pty in canonical mode cuts input lines at 4095 bytes; longer commands go through a file.
MAX_LINE = 3800
# How long to poll for bash's answer before sleeping on it. A builtin (cd,
# export, test, true) answers in tens of microseconds, and on a VM waking a
# sleeping thread costs about as much again; a short poll keeps fast commands
# fast and costs a slow one at most this much CPU. Only with a second CPU for
# bash to answer on: on one, polling would delay the answer it waits for.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
POLL_BEFORE_SLEEP_S = 0.0003 if _CPUS > 1 else 0.0


def _readable(fd: int, wait: float, poll: float = 0.0) -> bool:
    """Whether ``fd`` has data (or hung up) within ``wait`` seconds, polling
    ``poll`` seconds first. poll(2), not select(2): a process with many files
    open (a UI, many sessions) may hand the pty a descriptor above 1023."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if poll:
        until = time.perf_counter() + min(poll, wait)
        while True:
            if poller.poll(0):
                return True
            if time.perf_counter() >= until:
                break
        wait = max(wait - poll, 0.0)
    return bool(poller.poll(wait * 1000))


class ShellArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(description="Bash source to run in the session's persistent shell.")
    timeout: int = Field(
        120, ge=1, le=24 * 3600, description="Seconds before the command is stopped."
    )


@dataclass
class RunOutcome:
    exit_code: int | None
    timed_out: bool
    shell: str  # survived | respawned | exited
    cwd: str | None
    duration_ms: int
    note: str = ""


class ShellStartError(RuntimeError):
    pass


class PersistentShell:
    """One bash process on a pty, possibly inside bwrap."""

    def __init__(
        self, workspace: Path, prefix: list[str], env: dict[str, str], ctl_dir: Path
    ) -> None:
        self.workspace = workspace
        self.ctl_dir = ctl_dir
        self.token = secrets.token_hex(8)
        self.cmd_file = ctl_dir / f"cmd-{self.token}"
        marker = b"\x1eOVS" + self.token.encode()
        self._prefix = marker + b":"
        self._sentinel = re.compile(re.escape(self._prefix) + rb"(\d+):([^\x1e]*)\x1e")
        self._leftover = b""
        env = dict(env)
        env.update(
            PS1="",
            PS2="",
            PS4="+ ",
            HISTFILE="",
            # printf's \036 is the record-separator byte; $? is read before
            # printf runs, so it is the command's status.
            PROMPT_COMMAND=f'printf \'\\036OVS{self.token}:%s:%s\\036\' "$?" "$PWD"',
        )
        argv = [*prefix, "--"] if prefix else []
        argv += ["bash", "--noprofile", "--norc", "--noediting", "-i"]
        try:
            self.proc = pexpect.spawn(
                argv[0],
                argv[1:],
                cwd=str(workspace),
                env=env,
                echo=False,
                encoding=None,
                dimensions=(50, 200),
                use_poll=True,
            )
        except (pexpect.ExceptionPexpect, OSError) as exc:
            raise ShellStartError(f"cannot start bash: {exc}") from exc
        self.proc.delaybeforesend = None
        self.proc.delayafterclose = 0.01  # pexpect sleeps 0.1 s by default when closing
        self.fd = self.proc.child_fd
        self._quiet_tty()
        sink = BoundedOutput(spool_cap=0)
        rc, _cwd, eof = self._read_until_prompt(time.monotonic() + STARTUP_TIMEOUT_S, sink, None)
        if rc is None:
            text = sink.text().strip()
            self.close()
            why = "exited" if eof else f"did not answer within {STARTUP_TIMEOUT_S:.0f} s"
            raise ShellStartError(f"bash {why} at start" + (f": {text}" if text else ""))
        # The foreground process group while bash waits for input is its own:
        # anything else in the foreground later is a command we may kill.
        try:
            self.shell_pgrp = os.tcgetpgrp(self.fd)
        except OSError:
            self.shell_pgrp = -1
        # Not exported: a child `bash -i` must not print our sentinel; readonly:
        # a command cannot silence the end-of-command marker by accident.
        init = (
            "export -n PROMPT_COMMAND PS1 PS2 HISTFILE; set +o history; readonly PROMPT_COMMAND\n"
        )
        sink = BoundedOutput(spool_cap=0)
        if self.run(init, 10.0, sink, None).exit_code is None:
            self.close()
            raise ShellStartError("bash did not accept its setup: " + sink.text())

    # -- running -------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.isalive()

    def run(
        self,
        command: str,
        timeout: float,
        out: BoundedOutput,
        decoder: StreamDecoder | None,
    ) -> RunOutcome:
        start = time.monotonic()
        self._drain(out, decoder)
        line = b"eval " + ansi_c_quote(command) + b"\n"
        if len(line) > MAX_LINE:
            # Past the pty's line limit the text goes through a private file
            # (read-only inside the sandbox, so a command cannot swap it).
            self.cmd_file.write_text(command, encoding="utf-8", errors="surrogateescape")
            line = f'eval "$(< {self.cmd_file})"\n'.encode()
        try:
            self.proc.send(line)
        except OSError as exc:
            return RunOutcome(None, False, "exited", None, 0, f"the shell is gone: {exc}")
        rc, cwd, eof = self._read_until_prompt(start + timeout, out, decoder)
        if rc is not None:
            return RunOutcome(rc, False, "survived", cwd, _ms(start))
        if eof:
            status = self._exit_status()
            return RunOutcome(status, False, "exited", None, _ms(start), "the shell exited")
        # Timed out: escalate, each step waiting briefly for the prompt.
        steps: list[str] = []
        with contextlib.suppress(OSError):
            self.proc.send(b"\x03")  # what Ctrl-C does: SIGINT to the foreground job
            steps.append("SIGINT")
        rc, cwd, eof = self._read_until_prompt(time.monotonic() + INTERRUPT_GRACE_S, out, decoder)
        if rc is None and not eof:
            pgrp = self._foreground()
            if pgrp > 0 and pgrp != self.shell_pgrp:
                with contextlib.suppress(OSError):
                    os.killpg(pgrp, signal.SIGKILL)
                    steps.append("SIGKILL to the foreground job")
                rc, cwd, eof = self._read_until_prompt(
                    time.monotonic() + INTERRUPT_GRACE_S, out, decoder
                )
        if rc is not None:
            # bash restores the terminal modes it saved when a job dies of a
            # signal, which may bring ONLCR ("\r\n") and echo back.
            self._quiet_tty()
            return RunOutcome(rc, True, "survived", cwd, _ms(start), ", then ".join(steps))
        steps.append("killed the shell")
        self.close()
        return RunOutcome(None, True, "respawned", None, _ms(start), ", then ".join(steps))

    def _foreground(self) -> int:
        try:
            return os.tcgetpgrp(self.fd)
        except OSError:
            return -1

    def _drain(self, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        """Output that arrived between calls (a background job) belongs to the
        terminal: the agent sees it at the top of the next call's output."""
        self._emit(self._leftover, out, decoder)
        self._leftover = b""
        drained = 0
        # Bounded: a background job printing without end must not stall the call.
        while drained < (1 << 20):
            try:
                if not _readable(self.fd, 0):
                    break
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            drained += len(chunk)
            self._emit(chunk, out, decoder)

    def _emit(self, data: bytes, out: BoundedOutput, decoder: StreamDecoder | None) -> None:
        if data:
            out.feed(data)
            if decoder is not None:
                decoder.feed(data)

    def _quiet_tty(self) -> None:
        """No echo, and "\n" kept as is: the output is data, not a screen."""
        with contextlib.suppress(termios.error):
            attrs = termios.tcgetattr(self.fd)
            attrs[1] &= ~termios.ONLCR
            attrs[3] &= ~termios.ECHO
            termios.tcsetattr(self.fd, termios.TCSANOW, attrs)

    def _read_until_prompt(
        self, deadline: float, out: BoundedOutput, decoder: StreamDecoder | None
    ) -> tuple[int | None, str | None, bool]:
        """Read output until the sentinel: (exit code, cwd, eof). None code = deadline."""
        pending = b""
        keep = len(self._prefix) + 32  # a sentinel cut across two reads
        poll = POLL_BEFORE_SLEEP_S  # only for the first answer: later reads stream output
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                self._emit(pending, out, decoder)
                return None, None, False
            try:
                ready = _readable(self.fd, wait, poll)
            except InterruptedError:
                continue
            poll = 0.0
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the other side of the pty is closed
                chunk = b""
            if not chunk:
                self._emit(pending, out, decoder)
                return None, None, True
            data = pending + chunk
            m = self._sentinel.search(data)
            if m:
                self._emit(data[: m.start()], out, decoder)
                self._leftover = data[m.end() :]
                return int(m.group(1)), m.group(2).decode("utf-8", "replace"), False
            cut = data.rfind(b"\x1e", max(0, len(data) - keep))
            if cut != -1 and (
                self._prefix.startswith(data[cut:]) or data[cut:].startswith(self._prefix)
            ):
                self._emit(data[:cut], out, decoder)
                pending = data[cut:]
            else:
                self._emit(data, out, decoder)
                pending = b""

    def _exit_status(self) -> int | None:
        with contextlib.suppress(Exception):
            self.proc.close(force=True)
        status = self.proc.exitstatus
        if status is None and self.proc.signalstatus is not None:
            return 128 + int(self.proc.signalstatus)
        return status

    # -- internal commands ---------------------------------------------------

    def capture(self, command: str, timeout: float = 5.0) -> str | None:
        """Run an internal command and return its output (None if it failed)."""
        out = BoundedOutput(head=1 << 20, tail=1 << 20, spool_cap=0)
        outcome = self.run(command, timeout, out, None)
        return out.text() if outcome.exit_code == 0 else None

    def close(self) -> None:
        pgrp = self._foreground()
        if pgrp > 0 and pgrp != getattr(self, "shell_pgrp", -1):
            with contextlib.suppress(OSError):
                os.killpg(pgrp, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.proc.close(force=True)
        with contextlib.suppress(OSError):
            self.cmd_file.unlink()


def ansi_c_quote(text: str) -> bytes:
    """``text`` as one bash ``$'...'`` word on one line: newlines and every
    control byte escaped (a raw ^C or ^D would act on the pty), the rest as is."""
    out = bytearray(b"$'")
    for b in text.encode("utf-8", errors="surrogateescape"):
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x27:
            out += b"\\'"
        elif b < 0x20 or b == 0x7F:
            out += b"\\x%02x" % b
        else:
            out.append(b)
    out += b"'"
    return bytes(out)


def _ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)


_EXPORT_NAME = re.compile(r"^declare -[-a-zA-Z]*x[a-zA-Z]* ([A-Za-z_][A-Za-z0-9_]*)", re.M)


class ShellSession:
    """A session's shells: one, or two when the sandbox separates network."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        self.ctl_dir = Path(tempfile.mkdtemp(prefix="overseer-shell-"))
        self.scratch = Path(tempfile.mkdtemp(prefix="overseer-tmp-"))  # TMPDIR in the sandbox
        self.shells: dict[bool, PersistentShell] = {}
        self.last: bool | None = None
        self.started: set[bool] = set()  # which shells ever ran: "new" vs "respawned"
        self.closed = False
        self.cwd: str | None = None  # the shell's directory after the last command

    def shell_for(self, ctx: ToolContext, network: bool) -> tuple[PersistentShell, str]:
        """The shell to run in and how it came to be: existing | new | respawned."""
        sandboxed = ctx.sandbox.name == "bwrap"
        key = network if sandboxed else False
        shell = self.shells.get(key)
        how = "existing"
        if shell is None or not shell.alive():
            if shell is not None:
                shell.close()
            prefix = (
                bwrap_prefix(
                    ctx.sandbox,
                    self.workspace,
                    network=network,
                    readonly=[self.ctl_dir],
                    scratch=self.scratch,
                )
                if sandboxed
                else []
            )
            how = "respawned" if key in self.started else "new"
            shell = PersistentShell(self.workspace, prefix, command_env(), self.ctl_dir)
            self.started.add(key)
            self.shells[key] = shell
        if self.last is not None and self.last != key and self.last in self.shells:
            self._sync(self.shells[self.last], shell)
        self.last = key
        return shell, how

    def _sync(self, src: PersistentShell, dst: PersistentShell) -> None:
        """Copy cwd and exported variables from the shell used last."""
        if not src.alive():
            return
        state = src.capture('export -p; printf "\\036%s" "$PWD"')
        if state is None or "\x1e" not in state:
            return
        exports, cwd = state.rsplit("\x1e", 1)
        old = dst.capture("export -p") or ""
        gone = set(_EXPORT_NAME.findall(old)) - set(_EXPORT_NAME.findall(exports))
        script = exports + "\n"
        if gone:
            script += "unset " + " ".join(sorted(gone)) + " 2>/dev/null\n"
        script += f"cd -- {_sh_quote(cwd)}\n"
        dst.capture(script + "true")

    def close(self) -> None:
        self.closed = True
        for shell in self.shells.values():
            shell.close()
        self.shells.clear()
        shutil.rmtree(self.ctl_dir, ignore_errors=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class ShellTool(Tool):
    name = "shell"
    description = (
        "Run bash in the session's persistent shell (cwd, exported variables and functions "
        "persist between calls, like a terminal). Returns the exit code and combined "
        "stdout/stderr (long output is cut to head and tail). Commands that wait for input "
        "are stopped at the timeout."
    )
    Args = ShellArgs

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[ShellSession] = weakref.WeakSet()
        self._lock = threading.Lock()

    def facts(self, args: ShellArgs, ctx: ToolContext) -> Facts:
        # The policy resolves relative paths from where the command really
        # runs: after an earlier `cd sub`, `cat x` reads sub/x.
        session = ctx.state.get(STATE_KEY)
        cwd = session.cwd if isinstance(session, ShellSession) and not session.closed else None
        # The broker's workspace is resolved, and so is the cwd bash reports.
        if cwd is not None and (cwd == str(ctx.workspace) or Path(cwd) == Path(ctx.workspace)):
            cwd = None
        return Facts(commands=[args.command], cwd=cwd, sandbox=ctx.sandbox.name)

    def preview(self, args: ShellArgs, ctx: ToolContext) -> str | None:
        return args.command

    def _session(self, ctx: ToolContext) -> ShellSession:
        with self._lock:
            session = ctx.state.get(STATE_KEY)
            if not isinstance(session, ShellSession) or session.closed:
                session = ShellSession(Path(ctx.workspace))
                ctx.state[STATE_KEY] = session
                self._sessions.add(session)
            return session

    def run(self, args: ShellArgs, ctx: ToolContext) -> ToolResult:
        timeout = float(args.timeout)
        if ctx.timeout_s:
            timeout = min(timeout, float(ctx.timeout_s))
        session = self._session(ctx)
        network = bool(ctx.network_allowed)
        with session.lock:
            try:
                shell, how = session.shell_for(ctx, network)
            except ShellStartError as exc:
                return ToolResult.fail(f"shell: {exc}")
            out = BoundedOutput()
            decoder = StreamDecoder(ctx.stream)
            try:
                outcome = shell.run(args.command, timeout, out, decoder)
            finally:
                decoder.flush()
            # A new shell starts in the workspace.
            session.cwd = (
                outcome.cwd if outcome.cwd is not None else str(Path(ctx.workspace).resolve())
            )
            if outcome.shell in ("respawned", "exited"):
                # Start the replacement now so the next call is quick and the
                # result can say the session has a working shell again.
                with contextlib.suppress(ShellStartError):
                    session.shell_for(ctx, network)
        return self._result(args, ctx, out, outcome, how)

    def _result(
        self, args: ShellArgs, ctx: ToolContext, out: BoundedOutput, o: RunOutcome, how: str
    ) -> ToolResult:
        text = out.text()
        notes: list[str] = []
        if how == "respawned":
            notes.append(
                "[a new shell was started: the previous one had exited; cwd and environment were reset]"
            )
        if o.timed_out:
            if o.shell == "survived":
                notes.append(
                    f"[timed out after {args.timeout} s; stopped with {o.note}; the shell survived]"
                )
            else:
                notes.append(
                    f"[timed out after {args.timeout} s; {o.note}; a new shell was started "
                    "(cwd and environment were reset)]"
                )
        elif o.shell == "exited":
            notes.append(
                f"[the shell exited (status {o.exit_code}); the next command runs in a new shell "
                "with cwd and environment reset]"
            )
        if notes:
            text = (
                text + ("\n" if text and not text.endswith("\n") else "") + "\n".join(notes)
            ).strip("\n")
        blob: str | None = None
        if out.truncated and ctx.store_blob is not None:
            full = out.full()
            if full is not None:
                with contextlib.suppress(Exception):  # the bounded text is still there
                    blob = ctx.store_blob(full)
        data: dict[str, Any] = {
            "duration_ms": o.duration_ms,
            "shell": "respawned" if o.timed_out and o.shell != "survived" else o.shell,
            "sandbox": ctx.sandbox.name,
            "network": bool(ctx.network_allowed),
            "truncated": out.truncated,
        }
        if how != "existing":
            data["shell_started"] = how
        if o.cwd is not None:
            data["cwd"] = o.cwd
        if blob:
            data["blob_complete"] = out.spool_complete
        out.close()
        if o.timed_out:
            status = "timeout"
        elif o.exit_code == 0 and o.shell != "exited":
            status = "ok"
        else:
            status = "failed"
        return ToolResult(
            status=status,  # type: ignore[arg-type]
            output=text,
            exit_code=o.exit_code,
            data=data,
            error=notes[-1] if o.timed_out or o.shell == "exited" else None,
            output_size=out.total,
            output_blob=blob,
        )

    def close(self) -> None:
        for session in list(self._sessions):
            session.close()
        self._sessions = weakref.WeakSet()


def close_session_state(state: dict[str, Any]) -> None:
    """Close the shells kept in a session's ``ctx.state`` (for the session's teardown)."""
    session = state.pop(STATE_KEY, None)
    if isinstance(session, ShellSession):
        session.close()
