"""The persistent shell: state, timeouts, bounded output, terminal input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from overseer.tools.shell import ShellArgs, ShellTool

from overseer.toolapi import ToolContext


@pytest.fixture
def shell_ctx(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    blobs: dict[str, bytes] = {}

    def store(data: bytes) -> str:
        key = f"blob{len(blobs)}"
        blobs[key] = data
        return key

    streamed: list[str] = []
    ctx = ToolContext(workspace=ws, session_id="s", store_blob=store, stream=streamed.append)
    tool = ShellTool()
    yield tool, ctx, blobs, streamed
    tool.close()


def run(tool: ShellTool, ctx: ToolContext, command: str, timeout: int = 20):
    return tool.run(ShellArgs(command=command, timeout=timeout), ctx)


def test_cwd_and_env_persist_between_calls(shell_ctx) -> None:
    tool, ctx, _, streamed = shell_ctx
    r1 = run(
        tool, ctx, "mkdir -p sub && cd sub && export GREETING=hello && greet() { echo hi $1; }"
    )
    assert r1.status == "ok" and r1.exit_code == 0
    assert r1.data["cwd"] == str(ctx.workspace / "sub")
    r2 = run(tool, ctx, 'pwd; echo "$GREETING"; greet you')
    assert r2.output == f"{ctx.workspace / 'sub'}\nhello\nhi you\n"
    assert "hello" in "".join(streamed)


def test_exit_code_stderr_and_multiline(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    r = run(tool, ctx, "echo out; echo err >&2; exit_code() { return 7; }; exit_code")
    assert r.status == "failed" and r.exit_code == 7
    assert r.output == "out\nerr\n"
    r = run(tool, ctx, "cat <<'EOF'\nline $1\n  two\nEOF\necho $((2 * 21))")
    assert r.output == "line $1\n  two\n42\n"
    # A long command (beyond a pty's 4 KB line limit) runs intact.
    long = "echo " + "x" * 20000
    assert run(tool, ctx, long).output == "x" * 20000 + "\n"


def test_timeout_returns_quickly_and_shell_survives(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    run(tool, ctx, "export KEEP=1")
    t0 = time.monotonic()
    r = run(tool, ctx, "sleep 100", timeout=2)
    elapsed = time.monotonic() - t0
    assert elapsed < 4.0
    assert r.status == "timeout"
    assert r.data["shell"] == "survived"
    assert "timed out after 2 s" in r.output
    r = run(tool, ctx, "echo $KEEP")
    assert r.status == "ok" and r.output == "1\n"


def test_read_from_terminal_times_out_cleanly(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    t0 = time.monotonic()
    r = run(tool, ctx, "read x; echo got $x", timeout=1)
    assert time.monotonic() - t0 < 3.0
    assert r.status == "timeout"
    assert "got" not in r.output
    assert run(tool, ctx, "echo ok").output == "ok\n"


def test_unkillable_shell_is_respawned(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    run(tool, ctx, "export GONE=1")
    t0 = time.monotonic()
    r = run(tool, ctx, "trap '' INT; while :; do :; done", timeout=1)
    assert time.monotonic() - t0 < 3.0
    assert r.status == "timeout" and r.data["shell"] == "respawned"
    assert "new shell" in r.output
    r = run(tool, ctx, 'echo "[$GONE]"; pwd')
    assert r.output == f"[]\n{ctx.workspace}\n"


def test_exit_is_reported_and_next_call_gets_a_new_shell(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    r = run(tool, ctx, "exit 3")
    assert r.exit_code == 3 and r.status == "failed" and r.data["shell"] == "exited"
    assert run(tool, ctx, "echo again").output == "again\n"


def test_output_is_bounded_head_tail_and_blob(shell_ctx) -> None:
    tool, ctx, blobs, _ = shell_ctx
    r = run(tool, ctx, "echo START; head -c 300000 /dev/zero | tr '\\0' 'a'; echo; echo END")
    assert r.status == "ok"
    assert r.output_size == 6 + 300000 + 1 + 4
    assert r.output.startswith("START\naaa")
    assert r.output.endswith("aaa\nEND\n")
    assert "bytes omitted" in r.output
    assert len(r.output) < 40_000
    assert r.output_blob in blobs and len(blobs[r.output_blob]) == r.output_size


def test_facts_and_preview() -> None:
    tool = ShellTool()
    ctx = ToolContext(workspace=Path("."), session_id="s")
    args = ShellArgs(command="ls -la")
    assert tool.facts(args, ctx).commands == ["ls -la"]
    assert tool.preview(args, ctx) == "ls -la"
    assert ShellArgs(command="x").timeout == 120


def test_secrets_are_not_passed_to_the_shell(shell_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    tool, ctx, _, _ = shell_ctx
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("OVERSEER_LOG", "/somewhere/audit.db")
    monkeypatch.setenv("HARMLESS", "yes")
    r = run(tool, ctx, 'echo "[$ANTHROPIC_API_KEY][$OVERSEER_LOG][$HARMLESS]"')
    assert r.output == "[][][yes]\n"


def test_100mb_of_output_stays_under_200mb_rss(tmp_path: Path) -> None:
    # A fresh interpreter, so the high-water mark is this run's alone.
    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from overseer.toolapi import ToolContext
        from overseer.tools.shell import ShellArgs, ShellTool
        blobs = {}
        def store(data):
            blobs["h"] = len(data)
            return "h"
        ctx = ToolContext(workspace=Path(sys.argv[1]), session_id="s", store_blob=store)
        tool = ShellTool()
        cmd = "head -c 100000000 /dev/zero | tr '\\\\0' 'a'; echo; echo END"
        r = tool.run(ShellArgs(command=cmd, timeout=60), ctx)
        tool.close()
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
        print(json.dumps({"status": r.status, "size": r.output_size, "head": r.output[:20],
                          "tail": r.output[-10:], "len": len(r.output), "blob": blobs.get("h"),
                          "hwm_kb": int(hwm)}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    import json

    res = json.loads(proc.stdout)
    assert res["status"] == "ok"
    assert res["size"] == 100_000_000 + 1 + 4
    assert res["head"] == "a" * 20
    assert res["tail"] == "aaaaa\nEND\n"
    assert res["len"] < 40_000
    assert res["blob"] == 8 * 1024 * 1024  # the spool keeps the first 8 MB
    assert res["hwm_kb"] < 200 * 1024


def test_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.bench.shell import main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "ratio mediated / spawn" in out and "delaybeforesend" in out


def test_control_bytes_and_long_commands_run_exactly(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    # Quotes, backslashes, control bytes and non-ASCII text reach bash intact.
    r = run(tool, ctx, "printf '%s|' 'it'\"'\"'s' 'a\\b' $'tab\\there' 'héllo'")
    assert r.output == "it's|a\\b|tab\there|héllo|"
    # An incomplete command is a syntax error, not a shell waiting for more input.
    # (A shell waiting for more would hit the 5 s timeout: status "timeout".)
    r = run(tool, ctx, 'echo "unterminated', timeout=5)
    assert r.status == "failed", r
    script = "\n".join(f"echo line{i}" for i in range(600))  # > the pty line limit
    r = run(tool, ctx, script)
    assert r.output.splitlines()[-1] == "line599" and len(r.output.splitlines()) == 600


def test_facts_carry_the_shells_directory(shell_ctx) -> None:
    tool, ctx, _, _ = shell_ctx
    args = ShellArgs(command="cat x")
    assert tool.facts(args, ctx).cwd is None  # no shell yet: it starts in the workspace
    run(tool, ctx, "mkdir -p sub && cd sub")
    assert tool.facts(args, ctx).cwd == str((ctx.workspace / "sub").resolve())
    run(tool, ctx, "cd ..")
    assert tool.facts(args, ctx).cwd is None
    run(tool, ctx, "cd sub; exit 1")  # a new shell starts in the workspace again
    assert tool.facts(args, ctx).cwd is None


def test_waiting_for_the_shell_polls_briefly_then_sleeps_until_the_deadline():
    import os
    import threading

    from overseer.tools._bash import _readable

    r, w = os.pipe()
    try:
        # Nothing comes: the wait ends at its deadline, polling included.
        t0 = time.monotonic()
        assert _readable([r], 0.2, poll=0.05) == []
        assert 0.15 <= time.monotonic() - t0 < 2.0
        # An answer within the poll, and one only after it: both are seen.
        os.write(w, b"x")
        assert _readable([r], 1.0, poll=0.05) == [r]
        os.read(r, 1)
        later = threading.Timer(0.1, lambda: os.write(w, b"y"))
        later.start()
        assert _readable([r], 5.0, poll=0.01) == [r]
        later.join()
    finally:
        os.close(r)
        os.close(w)


def test_the_shell_works_when_its_pty_gets_a_descriptor_above_1023(tmp_path: Path) -> None:
    """A long-lived process (the UI, many sessions) can have a thousand files
    open; select(2) cannot watch a descriptor past 1023, poll(2) can."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1400
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    fillers = []
    tool = ShellTool()
    try:
        while len(fillers) < 1100:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        ws = tmp_path / "ws"
        ws.mkdir()
        ctx = ToolContext(workspace=ws, session_id="s")
        r = run(tool, ctx, "echo high; cd /; pwd")
        assert r.status == "ok" and r.output.startswith("high\n/\n"), r.output
        shell = next(iter(ctx.state["overseer.tools.shell"].shells.values()))
        assert shell.fd > 1023
    finally:
        tool.close()
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
