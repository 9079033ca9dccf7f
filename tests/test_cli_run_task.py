"""`overseer run` without TASK: the offline agents know their job (a script
plan's own task, or a default, is recorded); an LLM agent still needs one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from overseer.log import AuditLog
from tests.conftest import git

OVERSEER = [sys.executable, "-m", "overseer"]


def overseer(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OVERSEER, *args], capture_output=True, text=True, timeout=180, cwd=cwd, check=False
    )


def recorded_task(db: Path) -> tuple[str, str]:
    with AuditLog(db, create=False) as log:
        [session] = log.sessions()
        started = next(log.events(session["id"], kinds=["session_started"]))
    assert started.payload["task"] == session["task"]
    return session["task"], session["status"]


def plan_file(tmp_path: Path, **extra: object) -> Path:
    plan = tmp_path / "plan.json"
    steps = [{"tool": "write_file", "args": {"path": "notes.txt", "content": "hello\n"}}]
    plan.write_text(json.dumps({"steps": steps, "final": "wrote notes", **extra}))
    return plan


def run_plan(repo: Path, db: Path, plan: Path) -> subprocess.CompletedProcess[str]:
    return overseer(
        "run",
        "--agent",
        f"script:{plan}",
        "--headless",
        "--approver",
        "approve-all",
        "--sandbox",
        "none",
        "--repo",
        str(repo),
        "--log",
        str(db),
    )


def test_a_script_plan_runs_without_task_and_records_a_default(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "a.db"
    res = run_plan(repo, db, plan_file(tmp_path))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (repo / "notes.txt").read_text() == "hello\n"
    assert recorded_task(db) == ("play the plan plan.json (1 step)", "completed")


def test_a_script_plan_records_its_own_task(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "a.db"
    res = run_plan(repo, db, plan_file(tmp_path, task="leave a note for the reviewer"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert recorded_task(db) == ("leave a note for the reviewer", "completed")


def test_a_task_on_the_command_line_wins_over_the_plans(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "a.db"
    plan = plan_file(tmp_path, task="the plan's task")
    res = overseer(
        "run",
        "the person's task",
        "--agent",
        f"script:{plan}",
        "--headless",
        "--approver",
        "approve-all",
        "--sandbox",
        "none",
        "--repo",
        str(repo),
        "--log",
        str(db),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert recorded_task(db)[0] == "the person's task"


def test_a_plan_task_that_is_not_text_is_a_usage_error(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "a.db"
    res = run_plan(repo, db, plan_file(tmp_path, task=["not", "text"]))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f'overseer: error: {tmp_path / "plan.json"}: "task" must be a non-empty string'
    ]
    assert not db.exists()


def test_the_bisect_agent_runs_without_task(make_repo, tmp_path):
    repo, db = make_repo({"app.txt": "ok\n"}), tmp_path / "a.db"
    good = git(repo, "rev-parse", "HEAD").strip()
    for i, text in enumerate(["ok\n", "bad\n", "bad\n"]):
        (repo / "app.txt").write_text(text)
        (repo / f"c{i}.txt").write_text(str(i))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {i}")
    res = overseer(
        "run",
        "--agent",
        "bisect",
        "--test",
        "grep -q ok app.txt",
        "--good",
        good,
        "--headless",
        "--approver",
        "approve-all",
        "--sandbox",
        "none",
        "--repo",
        str(repo),
        "--log",
        str(db),
        "--json",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert git(repo, "log", "-1", "--format=%s", out["first_bad"]).strip() == "change 1"
    assert recorded_task(db) == ("find the commit that broke `grep -q ok app.txt`", "completed")


def test_an_llm_agent_still_needs_a_task(tmp_path):
    db = tmp_path / "a.db"
    res = overseer("run", "--model", "tests.helpers.chat:ScriptedChatModel", "--log", str(db))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        'overseer: error: an LLM agent needs a TASK: overseer run "what to do" --model PROVIDER:MODEL'
    ]
    assert not db.exists()
    res = overseer("run", "  ", "--model", "tests.helpers.chat:ScriptedChatModel", "--log", str(db))
    assert res.returncode == 2 and "TASK is empty" in res.stderr
    assert not db.exists()
