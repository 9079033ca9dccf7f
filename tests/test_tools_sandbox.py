"""The bubblewrap sandbox: what a sandboxed shell can and cannot do."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from overseer.tools.shell import ShellArgs, ShellTool

from overseer import sandbox as sandbox_mod
from overseer.errors import OverseerError
from overseer.sandbox import bwrap_status, resolve_sandbox, wrap_argv
from overseer.toolapi import Sandbox, ToolContext

usable, why = bwrap_status()
needs_bwrap = pytest.mark.skipif(not usable, reason=f"bubblewrap unusable here: {why}")


@pytest.fixture
def sandboxed(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    ctx = ToolContext(workspace=ws, session_id="s", sandbox=resolve_sandbox("bwrap"))
    tool = ShellTool()
    yield tool, ctx
    tool.close()


def sh(tool: ShellTool, ctx: ToolContext, command: str):
    return tool.run(ShellArgs(command=command, timeout=20), ctx)


def test_modes_resolve() -> None:
    assert resolve_sandbox("none").name == "none"
    with pytest.raises(OverseerError, match="unknown sandbox mode"):
        resolve_sandbox("chroot")


def test_unavailable_bwrap_auto_falls_back_and_bwrap_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_mod, "bwrap_status", lambda: (False, "bwrap is not installed"))
    sb = resolve_sandbox("auto")
    assert sb.name == "none" and "not installed" in sb.reason and "unsandboxed" in sb.reason
    with pytest.raises(OverseerError, match="--sandbox bwrap: bwrap is not installed"):
        resolve_sandbox("bwrap")


def test_wrap_argv_without_sandbox_is_identity(tmp_path: Path) -> None:
    assert wrap_argv(["echo", "x"], Sandbox(name="none"), tmp_path, network=False) == ["echo", "x"]


@needs_bwrap
def test_writing_inside_the_workspace_works(sandboxed) -> None:
    tool, ctx = sandboxed
    r = sh(tool, ctx, "echo inside > f.txt && cat f.txt")
    assert r.status == "ok" and r.output == "inside\n"
    assert (ctx.workspace / "f.txt").read_text() == "inside\n"
    assert r.data["sandbox"] == "bwrap"


@needs_bwrap
def test_writing_outside_the_workspace_fails(sandboxed) -> None:
    tool, ctx = sandboxed
    outside = ctx.workspace.parent / "outside.txt"
    home_file = Path.home() / f".overseer-sandbox-test-{ctx.workspace.parent.name}"
    r = sh(tool, ctx, f"echo x > {outside}; echo x > {home_file}; touch /usr/overseer-test")
    assert r.status == "failed"
    assert not outside.exists() and not home_file.exists()
    assert not Path("/usr/overseer-test").exists()
    assert "Read-only file system" in r.output or "No such file" in r.output


@needs_bwrap
def test_network_is_cut_unless_allowed(sandboxed) -> None:
    tool, ctx = sandboxed
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    probe = f"{sys.executable} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')\""
    try:
        r = sh(tool, ctx, "cd /; export FROM_MAIN=1; " + probe)
        assert r.status == "failed" and "connected" not in r.output
        assert "ConnectionRefusedError" in r.output or "Network is unreachable" in r.output, (
            r.output
        )
        # A call the policy allowed network for runs in the networked shell,
        # which sees the same cwd and exported variables.
        ctx.network_allowed = True
        r = sh(tool, ctx, probe + '; pwd; echo "$FROM_MAIN"')
        assert r.status == "ok", r.output
        assert r.output == "connected\n/\n1\n"
        ctx.network_allowed = False
        r = sh(tool, ctx, probe)
        assert r.status == "failed"
    finally:
        server.close()


@needs_bwrap
def test_overseer_files_are_masked(sandboxed, overseer_home: Path) -> None:
    tool, ctx = sandboxed
    # The sandbox was resolved with this test's OVERSEER_HOME: its data dir is hidden.
    data = overseer_home / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "audit.db").write_text("secret log")
    ctx.sandbox = resolve_sandbox("bwrap")
    tool.close()
    r = sh(tool, ctx, f"cat {data / 'audit.db'}")
    assert "secret log" not in r.output and r.status == "failed", r.output
    assert r.data["shell_started"] == "new"


@needs_bwrap
def test_timeout_inside_the_sandbox(sandboxed) -> None:
    import time

    tool, ctx = sandboxed
    sh(tool, ctx, "export KEEP=1")
    t0 = time.monotonic()
    r = tool.run(ShellArgs(command="sleep 100", timeout=1), ctx)
    assert time.monotonic() - t0 < 3
    assert r.status == "timeout" and r.data["shell"] == "survived"
    assert sh(tool, ctx, "echo $KEEP").output == "1\n"


def test_a_custom_log_is_masked_inside_the_sandbox(tmp_path, make_repo):
    """--log outside the default location: the session passes it to the sandbox."""
    from overseer.sandbox import bwrap_status
    from overseer.session import Session, SessionConfig

    if not bwrap_status()[0]:
        pytest.skip("bubblewrap is not usable here")
    repo = make_repo()
    db = tmp_path / "elsewhere" / "audit.db"
    db.parent.mkdir()
    s = Session.open(
        SessionConfig(
            task="t", agent="test", workspace=repo, log_path=db, sandbox="bwrap", watch=False
        )
    )
    try:
        assert str(db) in s.sandbox.protect  # type: ignore[attr-defined]
    finally:
        s.end("completed")
