"""A sandboxed shell whose bwrap start fails once (a masked path vanished
between the listing and the mounts) is started again with its mounts listed
afresh; twice is an error, never an unsandboxed shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from overseer.tools import shell as shell_mod
from overseer.tools._bash import ShellStartError
from overseer.tools.shell import ShellSession

from overseer.toolapi import Sandbox, ToolContext


def test_a_failed_sandbox_start_is_listed_again_once(tmp_path: Path, monkeypatch):
    session = ShellSession(tmp_path)
    ctx = ToolContext(workspace=tmp_path, session_id="s", sandbox=Sandbox(name="bwrap"))
    listed: list[int] = []
    real_prefix = shell_mod.bwrap_prefix

    def prefix(*args, **kwargs):
        listed.append(1)
        return real_prefix(*args, **kwargs)

    monkeypatch.setattr(shell_mod, "bwrap_prefix", prefix)
    fails = iter([True])

    def spawn(prefix, sandboxed):
        assert sandboxed and prefix, "never an unsandboxed shell"
        if next(fails, False):
            raise ShellStartError("bash exited at start: bwrap: Can't mkdir parents for /tmp/x/s")
        return "shell"

    monkeypatch.setattr(session, "_spawn", spawn)
    assert session._spawn_sandboxed(ctx, network=False) == "shell"
    assert len(listed) == 2

    def always(prefix, sandboxed):
        raise ShellStartError("bwrap: still failing")

    monkeypatch.setattr(session, "_spawn", always)
    with pytest.raises(ShellStartError, match="still failing"):
        session._spawn_sandboxed(ctx, network=False)
