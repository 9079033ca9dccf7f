"""``shell``: a persistent bash per session, like a terminal the agent types into.

One bash process lives for the whole session (in ``ctx.state``), so ``cd``,
exported variables and functions persist between calls. The pty, the line
protocol and how the end of a command, its exit code and the cwd are learnt
out of band live in ``overseer.tools._bash``; this module is the tool: one
session's shells, the facts the policy judges, the result the log records.

- The cwd in ``facts`` is where bash really is (``/proc/PID/cwd``), read when
  the call is judged; the call does not run if the shell has moved since
  (parallel calls). When that directory is outside the workspace the facts
  say so (relative paths are judged from there, i.e. as outside) and the
  result names it instead of recording it as the shell's cwd.
- Output is read in chunks into a ``BoundedOutput`` (head + tail + capped
  spool) and streamed through ``ctx.stream``; the full output (up to the spool
  cap) is stored with ``ctx.store_blob`` when it had to be cut.
- Timeout: Ctrl-C (SIGINT to the foreground job), then SIGKILL of the
  foreground process group, then killing and respawning the shell; the call
  returns within ``timeout + 2 s`` and the result says whether the shell
  survived or was respawned. A command waiting for terminal input (``read x``)
  is interrupted the same way. Nothing is ever retried.

Sandbox: with ``ctx.sandbox.name == "bwrap"`` the persistent bash itself runs
inside bubblewrap (see ``overseer.sandbox``), from an execute-only copy (so
it is non-dumpable: what it starts cannot ptrace it), with a scratch
directory as ``TMPDIR``. A call the policy allowed network for runs in a
second persistent sandboxed shell with network; the working directory and
exported variables are copied between the two shells when a call switches
(through the status socket, not the output), so the agent sees one terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer.sandbox import bwrap_prefix
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from ._bash import (
    PersistentShell,
    RunOutcome,
    ShellStartError,
    ansi_c_quote,
    execute_only_bash,
)
from ._env import command_env
from ._output import BoundedOutput
from ._proc import StreamDecoder

__all__ = ["STATE_KEY", "ShellArgs", "ShellTool", "ansi_c_quote", "close_session_state"]

STATE_KEY = "overseer.tools.shell"


class ShellArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(description="Bash source to run in the session's persistent shell.")
    timeout: int = Field(
        120, ge=1, le=24 * 3600, description="Seconds before the command is stopped."
    )


_EXPORT_NAME = re.compile(r"^declare -[-a-zA-Z]*x[a-zA-Z]* ([A-Za-z_][A-Za-z0-9_]*)", re.M)


class ShellSession:
    """A session's shells: one, or two when the sandbox separates network."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.lock = threading.Lock()
        # Runtime files (the execute-only bash), read-only inside the sandbox,
        # and the commands' writable scratch directory (TMPDIR).
        self.ctl_dir = Path(tempfile.mkdtemp(prefix="overseer-shell-"))
        self.scratch = Path(tempfile.mkdtemp(prefix="overseer-tmp-"))
        # The execute-only bash, or None: not made yet, or the kernel would
        # not let overseer watch a non-dumpable bash here (see shell_for).
        self._bash: Path | None = None
        self._plain_bash = False
        self.shells: dict[bool, PersistentShell] = {}
        self.last: bool | None = None
        self.started: set[bool] = set()  # which shells ever ran: "new" vs "respawned"
        self.closed = False
        self.judged_cwd: dict[str, str | None] = {}  # call id -> the cwd its facts gave
        self.root = os.path.realpath(workspace)  # what bash's cwd is compared with

    def current(self) -> PersistentShell | None:
        """The shell the next command runs in, if one is alive."""
        shell = self.shells.get(self.last) if self.last is not None else None
        return shell if shell is not None and shell.alive() else None

    def cwd(self) -> str | None:
        """Where the shell really is; None: a new shell starts in the
        workspace. Raises when a live shell's directory cannot be read (the
        call must not be judged from a guess)."""
        shell = self.current()
        if shell is None:
            return None
        cwd = shell.cwd()
        if cwd is None:
            raise RuntimeError("cannot read the shell's working directory")
        return cwd

    def shell_for(self, ctx: ToolContext, network: bool) -> tuple[PersistentShell, str]:
        """The shell to run in and how it came to be: existing | new | respawned."""
        sandboxed = ctx.sandbox.name == "bwrap"
        key = network if sandboxed else False
        shell = self.shells.get(key)
        how = "existing"
        if shell is None or not shell.alive():
            if shell is not None:
                shell.close()
            how = "respawned" if key in self.started else "new"
            shell = self._spawn_sandboxed(ctx, network) if sandboxed else self._spawn([], False)
            self.started.add(key)
            self.shells[key] = shell
        if self.last is not None and self.last != key and self.last in self.shells:
            self._sync(self.shells[self.last], shell)
        self.last = key
        return shell, how

    def _spawn_sandboxed(self, ctx: ToolContext, network: bool) -> PersistentShell:
        """A bash in the sandbox, its mounts listed just before it starts.

        What the sandbox masks is listed from the live file system (other
        programs' sockets under /tmp, for one); a path that vanishes between
        the listing and bwrap's mounts makes bwrap fail to create its mount
        point on the read-only root. Listed again, it is simply gone: one
        more try, never a fallback to an unsandboxed shell.
        """
        for attempt in range(2):
            prefix = bwrap_prefix(
                ctx.sandbox,
                self.workspace,
                network=network,
                readonly=[self.ctl_dir],
                scratch=self.scratch,
            )
            try:
                return self._spawn(prefix, True)
            except ShellStartError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self, prefix: list[str], sandboxed: bool) -> PersistentShell:
        """A new bash; in the sandbox from the execute-only copy (non-dumpable,
        so what it starts cannot ptrace it) — unless the kernel then hides
        bash's cwd or syscall from overseer too (a runtime that is not root,
        or has no CAP_SYS_PTRACE: the /proc files of a non-dumpable process
        belong to root), in which case the watchable plain bash it is."""
        if not sandboxed or self._plain_bash:
            return PersistentShell(self.workspace, prefix, command_env())
        if self._bash is None:
            self._bash = execute_only_bash(self.ctl_dir)
        shell = PersistentShell(self.workspace, prefix, command_env(), str(self._bash))
        if shell.cwd() is not None and shell.idle_check:
            return shell
        shell.close()
        self._plain_bash = True
        return PersistentShell(self.workspace, prefix, command_env())

    def _sync(self, src: PersistentShell, dst: PersistentShell) -> None:
        """Copy cwd and exported variables from the shell used last."""
        if not src.alive():
            return
        exports = src.exports()
        cwd = src.cwd()
        if exports is None or cwd is None:
            return
        sink = BoundedOutput(spool_cap=0)
        old = dst.exports() or ""
        gone = set(_EXPORT_NAME.findall(old)) - set(_EXPORT_NAME.findall(exports))
        script = exports + "\n"
        if gone:
            script += "unset " + " ".join(sorted(gone)) + " 2>/dev/null\n"
        script += f"cd -- {_sh_quote(cwd)}\ntrue"
        dst.run(script, 10.0, sink, None)
        sink.close()

    def close(self) -> None:
        self.closed = True
        for shell in self.shells.values():
            shell.close()
        self.shells.clear()
        shutil.rmtree(self.ctl_dir, ignore_errors=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class ShellTool(Tool):
    name = "shell"
    description = (
        "Run bash in the session's persistent shell (cwd, exported variables and functions "
        "persist between calls, like a terminal). Returns the exit code and combined "
        "stdout/stderr (long output is cut to head and tail). Commands that wait for input "
        "are stopped at the timeout. In the sandbox, everything outside the workspace and "
        "the repository's .git are read-only: use the git_* tools to commit, branch or "
        "check out, and $TMPDIR for temporary files."
    )
    Args = ShellArgs

    def __init__(self) -> None:
        self._sessions: weakref.WeakSet[ShellSession] = weakref.WeakSet()
        self._lock = threading.Lock()

    def facts(self, args: ShellArgs, ctx: ToolContext) -> Facts:
        # The policy resolves relative paths from where the command really
        # runs: after an earlier `cd sub`, `cat x` reads sub/x. Where bash is
        # comes from the kernel, not from anything the shell printed.
        session = self._session(ctx)
        cwd = session.cwd()
        if ctx.call_id:
            session.judged_cwd[ctx.call_id] = cwd
            while len(session.judged_cwd) > 256:  # judged, never run (denied): forget
                session.judged_cwd.pop(next(iter(session.judged_cwd)))
        if cwd is not None and cwd == session.root:
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
                before = session.cwd()
            except RuntimeError as exc:
                return ToolResult.fail(f"shell: {exc}; not run")
            if ctx.call_id in session.judged_cwd:
                judged = session.judged_cwd.pop(ctx.call_id)
                ws = session.root
                if (before or ws) != (judged or ws):
                    return ToolResult.fail(
                        f"shell: the shell moved from {judged or ws} to {before or ws} after this "
                        "command was judged (another call ran in between); not run, send it again"
                    )
            try:
                shell, how = session.shell_for(ctx, network)
            except (ShellStartError, OSError) as exc:
                return ToolResult.fail(f"shell: {exc}")
            out = BoundedOutput()
            decoder = StreamDecoder(ctx.stream)
            try:
                outcome = shell.run(args.command, timeout, out, decoder)
            finally:
                decoder.flush()
            idle_check = shell.idle_check
            if outcome.shell in ("respawned", "exited"):
                # Start the replacement now so the next call is quick and the
                # result can say the session has a working shell again.
                with contextlib.suppress(ShellStartError, OSError):
                    session.shell_for(ctx, network)
        was_inside = before is None or _inside(before, session.root)
        return self._result(args, ctx, out, outcome, how, session.root, idle_check, was_inside)

    def _result(
        self,
        args: ShellArgs,
        ctx: ToolContext,
        out: BoundedOutput,
        o: RunOutcome,
        how: str,
        root: str,
        idle_check: bool = True,
        was_inside: bool = True,
    ) -> ToolResult:
        text = out.text()
        notes: list[str] = []
        if how == "respawned":
            notes.append(
                "[a new shell was started: the previous one had exited; cwd and environment were reset]"
            )
        outside = o.cwd is not None and not _inside(o.cwd, root)
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
        elif o.shell == "respawned":
            notes.append(
                f"[{o.note}: its exit status is unknown; a new shell was started "
                "(cwd and environment were reset)]"
            )
        elif o.shell == "exited":
            notes.append(
                f"[the shell exited (status {o.exit_code}); the next command runs in a new shell "
                "with cwd and environment reset]"
            )
        if outside and was_inside and not o.timed_out:
            notes.append(
                f"[the shell's working directory is {o.cwd}, outside the workspace: "
                "relative paths there are judged as outside the workspace]"
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
            # The recorded cwd is inside the workspace; outside, the record says where.
            data["cwd" if not outside else "cwd_outside_workspace"] = o.cwd
        if o.ignored_reports:
            data["ignored_status_reports"] = o.ignored_reports
        if not idle_check:
            data["idle_check"] = False
        if blob:
            data["blob_complete"] = out.spool_complete
        out.close()
        if o.timed_out:
            status = "timeout"
        elif o.exit_code == 0 and o.shell == "survived":
            status = "ok"
        else:
            status = "failed"
        return ToolResult(
            status=status,  # type: ignore[arg-type]
            output=text,
            exit_code=o.exit_code,
            data=data,
            error=notes[-1] if o.timed_out or o.shell != "survived" else None,
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
