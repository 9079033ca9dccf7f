"""A bare program name runs what PATH finds first. When overseer's PATH (the
shell's) holds a directory inside the workspace — an activated .venv/bin,
or ``.`` — a file the agent put there runs instead of the system program:
such a name is judged as a program run by path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from overseer.policy import load_policy
from overseer.toolapi import Facts


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / ".venv" / "bin").mkdir(parents=True)
    (ws / "a.txt").write_text("a\n")
    for name in ("ls", "cat", "pytest"):
        exe = ws / ".venv" / "bin" / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    return ws


def decide(command: str, ws: Path) -> str:
    facts = Facts(commands=[command], sandbox="bwrap")
    return load_policy("default").decide("shell", {"command": command}, facts, ws).decision


def test_a_workspace_path_dir_shadows_bare_names(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert decide("ls", ws) == "allow"
    monkeypatch.setenv("PATH", f"{ws / '.venv' / 'bin'}:{os.environ['PATH']}")
    assert decide("ls", ws) == "ask"
    assert decide("cat a.txt", ws) == "ask"
    # what the venv is for: its pytest is named by path in the default policy
    assert decide("pytest -q", ws) == "allow"
    # builtins are not looked up on PATH; programs not in the venv are the system's
    assert decide("echo hi", ws) == "allow"
    assert decide("grep a a.txt", ws) == "allow"


def test_a_relative_path_entry_looks_in_the_cwd(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f".:{os.environ['PATH']}")
    assert decide("ls", ws) == "allow"  # no ./ls
    exe = ws / "ls"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert decide("ls", ws) == "ask"
    assert decide("cd .venv/bin && cat x", ws) == "ask"
