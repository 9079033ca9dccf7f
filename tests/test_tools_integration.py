"""The built-in tools through a real session: entry-point registration, the
broker, the watcher's attribution, the snapshot and undo."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from overseer.cli import cli
from overseer.session import Session, SessionConfig
from overseer.toolapi import ToolCall
from tests.helpers.records import wait_for
from tests.helpers.records import with_seq as events


@pytest.fixture
def session(make_repo, log_path: Path):
    ws = make_repo(
        {
            "app.py": "VALUE = 1\n",
            "test_app.py": "from app import VALUE\n\ndef test_v():\n    assert VALUE == 1\n",
        }
    )
    config = SessionConfig(
        task="integration",
        agent="test",
        workspace=ws,
        approver="approve-all",
        sandbox="none",
        log_path=log_path,
    )
    s = Session.open(config)
    yield s
    if not s.ended:
        s.end("completed")


def test_builtins_come_from_the_entry_point_group(session: Session) -> None:
    specs = session.registry.specs
    for name in (
        "shell",
        "read_file",
        "write_file",
        "edit_file",
        "list_dir",
        "search",
        "git_status",
        "git_diff",
        "git_log",
        "git_show",
        "git_commit",
        "git_checkout",
        "git_branch",
        "run_tests",
        "bisect",
        "ask_human",
    ):
        assert name in specs and specs[name].source == "builtin", name


def test_shell_write_through_the_broker_is_attributed(session: Session) -> None:
    r = session.broker.submit(
        ToolCall(id="w1", name="shell", args={"command": "echo hi > out.txt && pwd"})
    )
    assert r.status == "ok", r.output
    assert r.output.strip() == str(session.workspace)
    changed = wait_for(
        lambda: [
            e for e in events(session.log, session.id, "file_changed") if e["path"] == "out.txt"
        ]
    )
    assert changed[0]["call_id"] == "w1" and changed[0]["change"] == "created"
    [finished] = [
        e for e in events(session.log, session.id, "action_finished") if e["call_id"] == "w1"
    ]
    assert finished["status"] == "ok" and finished["exit_code"] == 0
    # State persists across mediated calls: the same shell.
    session.broker.submit(ToolCall(id="w2", name="shell", args={"command": "export MARK=kept"}))
    r = session.broker.submit(ToolCall(id="w3", name="shell", args={"command": "echo $MARK"}))
    assert r.output == "kept\n"


def test_background_write_through_the_broker_is_out_of_band(session: Session) -> None:
    r = session.broker.submit(
        ToolCall(id="bg", name="shell", args={"command": "(sleep 1; echo x > late.txt) &"})
    )
    assert r.status == "ok"
    flags = wait_for(lambda: events(session.log, session.id, "flag_raised"), timeout=6)
    assert flags and flags[0]["flag"] == "out_of_band"
    [late] = [e for e in events(session.log, session.id, "file_changed") if e["path"] == "late.txt"]
    assert late["call_id"] is None and flags[0]["evidence"] == [late["seq"]]


def test_file_tools_and_run_tests_through_the_broker(session: Session) -> None:
    r = session.broker.submit(
        ToolCall(
            id="e1",
            name="edit_file",
            args={"path": "app.py", "old": "VALUE = 1", "new": "VALUE = 2"},
        )
    )
    assert r.status == "ok", r.output
    r = session.broker.submit(
        ToolCall(
            id="t1",
            name="run_tests",
            args={
                "command": f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider"
            },
        )
    )
    assert r.data.get("outcome") == "failed", r.output
    assert r.data["failing"] == ["test_app.py::test_v"]
    changed = wait_for(
        lambda: [
            e for e in events(session.log, session.id, "file_changed") if e["path"] == "app.py"
        ]
    )
    assert changed[0]["call_id"] == "e1" and "+VALUE = 2" in changed[0]["diff"]


def test_session_snapshot_and_undo(session: Session, log_path: Path) -> None:
    [started] = events(session.log, session.id, "session_started")
    assert started["snapshot_ref"] == f"refs/overseer/{session.id}"
    session.broker.submit(
        ToolCall(
            id="x",
            name="shell",
            args={"command": "echo changed > app.py; echo n > new.txt; rm test_app.py"},
        )
    )
    session.end("completed")
    res = CliRunner().invoke(cli, ["--log", str(log_path), "undo", session.id, "--yes"])
    assert res.exit_code == 0, res.output
    ws = session.workspace
    assert (ws / "app.py").read_text() == "VALUE = 1\n"
    assert not (ws / "new.txt").exists() and (ws / "test_app.py").exists()
