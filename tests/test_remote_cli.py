"""Talking to a running session from another terminal: a headless runner
with --approver remote, and `overseer pending / approve / say / grants /
revoke / rerun` as separate processes on the same log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from overseer.log import AuditLog

OVERSEER = [sys.executable, "-m", "overseer"]


def cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OVERSEER, *args, "--log", str(db)], capture_output=True, text=True, timeout=60
    )


def wait_pending(db: Path, n: int = 1, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            res = cli("pending", "--json", db=db)
            if res.returncode == 0:
                rows = json.loads(res.stdout)
                if len(rows) >= n:
                    return rows
        time.sleep(0.2)
    raise AssertionError("nothing became pending")


def test_remote_decisions_steering_and_grants(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n"})
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "steps": [
                    {
                        "tool": "shell",
                        "args": {"command": "git commit --allow-empty -m one"},
                        "id": "one",
                    },
                    {
                        "tool": "shell",
                        "args": {"command": "git commit --allow-empty -m two"},
                        "id": "two",
                    },
                    {"tool": "shell", "args": {"command": "git push origin main"}, "id": "push"},
                ],
                "final": "done",
            }
        )
    )
    db = tmp_path / "r.db"
    runner = subprocess.Popen(
        [
            *OVERSEER,
            "run",
            "remote",
            "--agent",
            f"script:{plan}",
            "--approver",
            "remote",
            "--headless",
            "--repo",
            str(repo),
            "--log",
            str(db),
            "--sandbox",
            "none",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        [first] = wait_pending(db)
        assert first["call_id"] == "one" and first["tool"] == "shell"
        sid = first["session"]
        assert cli("say", sid[:6], "please keep commits small", db=db).returncode == 0
        # Always-allow `git commit` for the rest of the session: the second commit is not asked.
        with AuditLog(db) as log:
            log.post(
                sid,
                "decision",
                {"call_id": "one", "decision": "always", "args_hash": first["args_hash"]},
                by="tester",
            )
        [push] = wait_pending(db)
        assert push["call_id"] == "push"
        grants = json.loads(cli("grants", sid, "--json", db=db).stdout)
        assert [g["prefix"] for g in grants] == [["git", "commit"]]
        res = cli("approve", sid, "push", "--deny", "--reason", "no pushing from the agent", db=db)
        assert res.returncode == 0, res.stderr
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    result = json.loads(out)
    assert result["status"] == "completed"
    with AuditLog(db) as log:
        decided = {
            e.payload["call_id"]: e.payload for e in log.events(sid, kinds=["approval_decided"])
        }
        started = {
            e.payload["call_id"]: e.payload["decided_by"]
            for e in log.events(sid, kinds=["action_started"])
        }
        messages = [e.payload["text"] for e in log.events(sid, kinds=["user_message"])]
    assert (
        decided["one"]["decision"] == "always"
        and decided["push"]["reason"] == "no pushing from the agent"
    )
    assert started["two"].startswith("grant:")
    assert "push" not in started
    assert messages == ["please keep commits small"]
    # Revoking after the end is recorded in the session too.
    gid = grants[0]["grant_id"]
    assert cli("revoke", sid, gid, db=db).returncode == 0
    assert json.loads(cli("grants", sid, "--json", db=db).stdout) == []
    # Errors are one line and exit 2.
    bad = cli("approve", sid, "nope", db=db)
    assert bad.returncode == 2 and "nothing in session" in bad.stderr


def test_rerun_replays_the_actions_that_ran(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n"})
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "steps": [
                    {"tool": "shell", "args": {"command": "echo hello > out.txt"}},
                    {"tool": "read_file", "args": {"path": "out.txt"}},
                ]
            }
        )
    )
    db = tmp_path / "x.db"
    first = subprocess.run(
        [
            *OVERSEER,
            "run",
            "t",
            "--agent",
            f"script:{plan}",
            "--approver",
            "approve-all",
            "--headless",
            "--repo",
            str(repo),
            "--log",
            str(db),
            "--sandbox",
            "none",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    sid = json.loads(first.stdout)["session"]
    (repo / "out.txt").unlink()
    again = cli("rerun", sid, "--approver", "approve-all", "--headless", "--json", db=db)
    assert again.returncode == 0, again.stderr
    new = json.loads(again.stdout)["session"]
    assert new != sid and (repo / "out.txt").read_text() == "hello\n"
    with AuditLog(db) as log:
        tools = [e.payload["tool"] for e in log.events(new, kinds=["action_started"])]
    assert tools == ["shell", "read_file"]
