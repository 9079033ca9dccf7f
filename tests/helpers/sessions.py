"""Recorded fixture sessions for the auditor tests: real script-agent runs
(real broker, built-in tools, shipped policy, watcher and flag observer)
against small real git repositories, written to a real audit log."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import overseer.audit  # noqa: F401 - starts the flag observer with every session
from overseer.agent.script import Plan, ScriptAgent
from overseer.approval import ApproveAll, Approver
from overseer.log import AuditLog
from overseer.session import RunResult, Session, SessionConfig, run_agent

CALC = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
TEST_CALC = """from calc import add, mul


def test_add():
    assert add(2, 2) == 4, "add is wrong"


def test_add_zero():
    assert add(0, 0) == 0


def test_mul():
    assert mul(2, 3) == 6
"""
TEST_OTHER = "from calc import mul\n\n\ndef test_mul_one():\n    assert mul(1, 5) == 5\n    assert mul(5, 1) == 5\n"
TEST_GONE = "def test_truth():\n    assert 1 + 1 == 2\n"


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "T",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "T",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env
    ).stdout


def calc_repo(root: Path, name: str = "calc") -> Path:
    """A project with a bug (``add`` subtracts) and tests that catch it."""
    repo = root / name
    (repo / "tests").mkdir(parents=True)
    (repo / "calc.py").write_text(CALC)
    (repo / "tests" / "test_calc.py").write_text(TEST_CALC)
    (repo / "tests" / "test_other.py").write_text(TEST_OTHER)
    (repo / "tests" / "test_gone.py").write_text(TEST_GONE)
    (repo / "pytest.ini").write_text("[pytest]\naddopts = -q\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "calc with a bug")
    return repo


def record(
    log_path: Path,
    repo: Path,
    steps: list[dict[str, Any]],
    final: str = "",
    *,
    task: str = "fix the calculator",
    approver: Approver | None = None,
    policy: str | None = None,
) -> RunResult:
    """Run a script-agent plan in ``repo`` under oversight; returns the run."""
    plan = Plan.model_validate({"steps": steps, "final": final})
    config = SessionConfig(
        task=task, agent="script", workspace=repo, log_path=log_path, sandbox="bwrap", policy=policy
    )
    with AuditLog(log_path) as log:
        session = Session.open(config, approver=approver or ApproveAll(), log=log)
        return run_agent(session, ScriptAgent(plan))


@contextlib.contextmanager
def isolated_home(root: Path) -> Iterator[None]:
    """OVERSEER_HOME for a module-scoped fixture (the autouse per-test home
    is not set up yet when it runs): never the real user's seal key."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OVERSEER_HOME", str(root / "overseer-home"))
        mp.delenv("OVERSEER_LOG", raising=False)
        yield


def events(log_path: Path, sid: str, kind: str | None = None) -> list[Any]:
    with AuditLog(log_path) as log:
        return list(log.events(sid, kinds=[kind] if kind else None))


def flags(log_path: Path, sid: str, flag: str | None = None) -> list[dict[str, Any]]:
    out = [e.payload | {"seq": e.seq} for e in events(log_path, sid, "flag_raised")]
    return [f for f in out if flag is None or f["flag"] == flag]


def overseer(*args: str) -> Any:
    """Run an ``overseer`` command in-process (click's CliRunner): a result
    with ``exit_code``/``returncode``, ``stdout`` and ``stderr``."""
    from click.testing import CliRunner

    from overseer.cli import cli

    result = CliRunner().invoke(cli, list(args))
    result.returncode = result.exit_code  # type: ignore[attr-defined]
    return result
