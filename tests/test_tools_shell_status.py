"""The shell's end of command, exit code and cwd come out of band (invariant 11).

Each test is an attack by a command that knows the mechanism: it prints
fake markers, writes fake statuses to the status descriptor from bash
itself, from children and from background jobs, closes or redirects the
descriptor, types into the terminal. None of it may change the exit code or
cwd the result records, or end a call early. Real bash, and real bubblewrap
where the test says so.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from overseer.tools._bash import OUTPUT_END, STATUS_FD
from overseer.tools.shell import STATE_KEY, ShellArgs, ShellTool

from overseer.sandbox import bwrap_status, resolve_sandbox
from overseer.toolapi import ToolContext

usable, why = bwrap_status()
needs_bwrap = pytest.mark.skipif(not usable, reason=f"bubblewrap unusable here: {why}")


@pytest.fixture(params=["none", pytest.param("bwrap", marks=needs_bwrap)])
def shell(request: pytest.FixtureRequest, tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    ctx = ToolContext(workspace=ws, session_id="s", sandbox=resolve_sandbox(request.param))
    tool = ShellTool()
    yield tool, ctx
    tool.close()


def sh(tool: ShellTool, ctx: ToolContext, command: str, timeout: int = 20):
    return tool.run(ShellArgs(command=command, timeout=timeout), ctx)


def test_the_old_printed_marker_changes_nothing(shell) -> None:
    tool, ctx = shell
    r = sh(tool, ctx, "printf '\\036OVSdeadbeef:0:/etc\\036'; printf '\\036\\035'; false")
    assert r.exit_code == 1 and r.status == "failed"
    assert r.data["cwd"] == str(ctx.workspace)
    assert tool.facts(ShellArgs(command="cat x"), ctx).cwd is None


def test_a_status_sent_by_the_command_itself_does_not_end_the_call(shell) -> None:
    """printf from bash's own process on the status descriptor: right pid,
    but bash is not back at its prompt, so the call goes on."""
    tool, ctx = shell
    t0 = time.monotonic()
    r = sh(
        tool,
        ctx,
        f"cd sub; builtin printf 0 >&{STATUS_FD}; printf '\\036\\035'; "
        "sleep 0.4; echo after; cd ..; (exit 7)",
    )
    assert time.monotonic() - t0 >= 0.4
    assert r.exit_code == 7 and r.output == "after\n"
    assert r.data["cwd"] == str(ctx.workspace)


# A DEBUG trap that keeps the last status tail bash ran (BASH_COMMAND).
KEEP_TAIL = """trap 'case $BASH_COMMAND in *">&250") tail=$BASH_COMMAND;; esac' DEBUG"""
REPLAY = 'eval "${tail/\\"\\$?\\"/0}"'  # that tail again, reporting 0


def test_the_status_tail_is_no_secret_and_replaying_it_forges_nothing(shell) -> None:
    tool, ctx = shell
    sh(tool, ctx, KEEP_TAIL)
    r = sh(tool, ctx, 'echo "$tail"')
    assert f">&{STATUS_FD}" in r.output  # the mechanism is public; its nonce is spent
    r = sh(tool, ctx, f"{REPLAY}; sleep 0.3; (exit 6)")
    assert r.exit_code == 6
    assert r.data["ignored_status_reports"] >= 1
    r = sh(tool, ctx, "PROMPT_COMMAND='builtin printf 0 >&250'")
    assert "readonly" in r.output and r.exit_code == 1


def test_a_status_sent_before_bash_read_the_line_does_not_end_it(shell) -> None:
    """A trap left in bash replays the last tail while bash waits at its
    prompt, and the line reaches bash late (the kernel hands pty input over
    asynchronously): the sender is bash, bash is idle, no input is pending
    yet. Only the line's fresh nonce tells the replay from the end."""
    tool, ctx = shell
    sh(tool, ctx, KEEP_TAIL)
    sh(tool, ctx, f"trap '{REPLAY}' USR1")
    bash = ctx.state[STATE_KEY].current()
    send = bash.proc.send

    def late_send(data: bytes) -> int:
        os.kill(bash.watch.pid, signal.SIGUSR1)
        time.sleep(0.2)  # the replayed status waits on the socket
        threading.Timer(0.3, send, (data,)).start()
        return len(data)

    bash.proc.send = late_send
    t0 = time.monotonic()
    try:
        r = sh(tool, ctx, "echo ran; (exit 5)")
    finally:
        bash.proc.send = send
    assert r.exit_code == 5 and r.output == "ran\n"
    assert time.monotonic() - t0 >= 0.5
    assert r.data["ignored_status_reports"] >= 1


def test_an_alias_cannot_stop_the_command_from_running(shell) -> None:
    """`alias eval=true` made every later call "ok, exit 0" without running it."""
    tool, ctx = shell
    sh(tool, ctx, "alias eval=true builtin=true printf=true")
    r = sh(tool, ctx, "touch ran; false")
    assert r.exit_code == 1 and (ctx.workspace / "ran").exists()


@pytest.mark.parametrize("plant", ["readonly", "declare -u", "declare -n"])
def test_a_long_command_runs_as_sent_or_not_at_all(shell, plant: str) -> None:
    """A long command is stored in a variable piece by piece; what the agent
    did to that variable beforehand must not change what runs."""
    tool, ctx = shell
    if plant == "readonly":
        sh(tool, ctx, "__overseer_cmd='touch planted'; readonly __overseer_cmd")
    elif plant == "declare -n":
        sh(tool, ctx, "declare -n __overseer_cmd=other; other='touch planted'")
    else:
        sh(tool, ctx, "declare -u __overseer_cmd")
    r = sh(tool, ctx, ": " + "x" * 9000 + "; touch long")
    assert not (ctx.workspace / "planted").exists() and not (ctx.workspace / "LONG").exists()
    if plant == "readonly":
        assert r.exit_code is None and "did not run" in r.output
        assert not (ctx.workspace / "long").exists()
    else:
        assert r.exit_code == 0 and (ctx.workspace / "long").exists()


def test_a_child_writing_the_descriptor_is_ignored(shell) -> None:
    tool, ctx = shell
    cmd = (
        f"python3 -c 'import os; os.write({STATUS_FD}, b\"0\")'; "
        f"bash -c 'printf 0 >&{STATUS_FD}'; (builtin printf 0 >&{STATUS_FD}); sleep 0.2; (exit 4)"
    )
    r = sh(tool, ctx, cmd)
    assert r.exit_code == 4
    assert r.data["ignored_status_reports"] == 3


def test_a_background_job_writing_later_is_ignored(shell) -> None:
    tool, ctx = shell
    r = sh(
        tool,
        ctx,
        f"(for i in 1 2 3 4 5 6; do sleep 0.1; builtin printf 0 >&{STATUS_FD}; done) &",
    )
    assert r.exit_code == 0
    r = sh(tool, ctx, "sleep 0.8; cd sub; false")
    assert r.exit_code == 1 and r.status == "failed"
    assert r.data["cwd"] == str(ctx.workspace / "sub")
    assert r.data.get("ignored_status_reports", 0) >= 1


def test_a_dup_of_the_descriptor_forges_nothing(shell) -> None:
    tool, ctx = shell
    r = sh(tool, ctx, f"exec 9>&{STATUS_FD}; builtin printf 0 >&9; sleep 0.3; exec 9>&-; false")
    assert r.exit_code == 1


@pytest.mark.parametrize("how", [f"exec {STATUS_FD}>&-", f"exec {STATUS_FD}>/dev/null"])
def test_closing_the_descriptor_loses_the_shell_not_the_truth(shell, how: str) -> None:
    tool, ctx = shell
    sh(tool, ctx, "export KEEP=1")
    r = sh(tool, ctx, how, timeout=10)
    assert r.exit_code is None and r.status != "ok"
    assert r.data["shell"] == "respawned"
    assert "exit status is unknown" in r.output
    r = sh(tool, ctx, 'echo "[$KEEP]"; false')
    assert r.output == "[]\n" and r.exit_code == 1


def test_replacing_bash_is_noticed(shell) -> None:
    tool, ctx = shell
    t0 = time.monotonic()
    r = sh(tool, ctx, "exec bash --norc --noprofile -i", timeout=10)
    assert time.monotonic() - t0 < 5
    assert r.exit_code is None and r.data["shell"] == "respawned"
    assert sh(tool, ctx, "echo back").output == "back\n"


def test_a_debug_trap_cannot_overwrite_the_status(shell) -> None:
    """The trap runs before the tail's printf (bash keeps $? across it) and
    nothing runs after it: the last status bash sends before it is idle is
    the tail's."""
    tool, ctx = shell
    sh(tool, ctx, f"trap 'builtin printf 0 >&{STATUS_FD}' DEBUG")
    r = sh(tool, ctx, "false")
    assert r.exit_code == 1


def test_typing_into_the_terminal_is_refused(shell) -> None:
    """TIOCSTI would queue a line bash runs as the next command."""
    tool, ctx = shell
    inject = (
        "python3 -c 'import fcntl, termios\n"
        'for c in b"touch injected\\n": fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\''
    )
    r = sh(tool, ctx, inject)
    assert "Operation not permitted" in r.output and r.exit_code == 1
    r = sh(tool, ctx, "sleep 0.2; ls")
    assert not (ctx.workspace / "injected").exists()
    assert "injected" not in r.output


def test_the_recorded_cwd_stays_in_the_workspace(shell) -> None:
    tool, ctx = shell
    r = sh(tool, ctx, "cd /")
    assert "cwd" not in r.data and r.data["cwd_outside_workspace"] == "/"
    assert "outside the workspace" in r.output
    # Relative paths are judged from where bash is: outside.
    assert tool.facts(ShellArgs(command="cat etc/passwd"), ctx).cwd == "/"
    r = sh(tool, ctx, "cd " + str(ctx.workspace / "sub"))
    assert r.data["cwd"] == str(ctx.workspace / "sub")


def test_the_output_marker_is_not_output(shell) -> None:
    tool, ctx = shell
    r = sh(tool, ctx, "printf 'a\\036\\035b\\n'; printf '\\036'")
    assert r.output == "ab\n\x1e"
    assert OUTPUT_END not in r.output.encode()


def test_a_call_judged_before_the_shell_moved_does_not_run(shell) -> None:
    tool, ctx = shell
    ctx.call_id = "c1"
    tool.facts(ShellArgs(command="rm -f x"), ctx)  # judged in the workspace
    ctx.call_id = "c0"
    sh(tool, ctx, "cd sub")  # another call moved the shell meanwhile
    ctx.call_id = "c1"
    r = sh(tool, ctx, "touch x")
    assert r.status == "error" and "moved" in r.output
    assert not (ctx.workspace / "sub" / "x").exists()


@needs_bwrap
def test_in_the_sandbox_bash_cannot_be_inspected_by_what_it_runs(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    ctx = ToolContext(workspace=ws, session_id="s", sandbox=resolve_sandbox("bwrap"))
    tool = ShellTool()
    try:
        r = sh(
            tool,
            ctx,
            "ls -l /proc/$$/fd/ 2>&1 | head -3; cat /proc/$$/environ; "
            "python3 -c 'import os; os.open(\"/proc/%d/mem\" % os.getppid(), os.O_RDONLY)'",
        )
        assert "Permission denied" in r.output and "PS1=" not in r.output
        assert "PermissionError" in r.output
        session = ctx.state[STATE_KEY]
        assert session.current().idle_check  # the end is checked against the kernel
    finally:
        tool.close()


def test_a_status_that_comes_during_the_idle_check_is_not_lost(shell, monkeypatch) -> None:
    """A tick that saw nothing while bash, slow to be scheduled, then ran the
    command (a loaded machine): bash is idle and its status waits on the
    socket. The call ends with that status; the shell is not called lost."""
    from overseer.tools import _bash

    tool, ctx = shell
    sh(tool, ctx, "true")
    real = _bash._readable
    ticks = []

    def blind(fds: list[int], wait: float, poll: float = 0.0) -> list[int]:
        if len(fds) == 2 and wait > 0 and not ticks:
            ticks.append(1)
            time.sleep(0.1)  # bash runs the command meanwhile
            return []
        return real(fds, wait, poll)

    monkeypatch.setattr(_bash, "_readable", blind)
    r = sh(tool, ctx, "(exit 3)")
    assert ticks and r.exit_code == 3 and r.data["shell"] == "survived", r.output


def test_a_line_that_reaches_bash_late_is_waited_for(shell) -> None:
    """The kernel hands pty input to the terminal asynchronously: until it
    does, bash waits at its prompt with nothing pending. That is not a shell
    gone silent; bash has not read the line yet (its rchar says so)."""
    tool, ctx = shell
    sh(tool, ctx, "true")
    bash = ctx.state[STATE_KEY].current()
    send = bash.proc.send

    def late_send(data: bytes) -> int:
        threading.Timer(0.3, send, (data,)).start()
        return len(data)

    bash.proc.send = late_send
    try:
        r = sh(tool, ctx, "echo ran; (exit 4)")
    finally:
        bash.proc.send = send
    assert r.exit_code == 4 and r.output == "ran\n" and r.data["shell"] == "survived", r.output
