"""The offline agents and the run commands end to end: the bisect agent on
generated repositories, the demo headless, the script agent under a console
approver in a real pseudo-terminal, and a run killed mid-action."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from overseer.examples.demo_repo import REGRESSION_SUBJECT, build

from overseer.agent.bisect import BisectAgent
from overseer.approval import ApprovalDecision
from overseer.log import AuditLog
from overseer.session import Session, SessionConfig, run_agent
from tests.helpers.fakes import ScriptedApprover

OVERSEER = [sys.executable, "-m", "overseer"]


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo = tmp_path / "shopcart"
    return repo, build(repo)


def open_session(repo: Path, log_path: Path, approver: object, **kw: object) -> Session:
    cfg = SessionConfig(
        task="bisect", agent="bisect", workspace=repo, log_path=log_path, sandbox="bwrap", **kw
    )  # type: ignore[arg-type]
    return Session.open(cfg, approver=approver)  # type: ignore[arg-type]


@pytest.mark.parametrize("with_good", [True, False], ids=["with-good", "walk-back"])
def test_bisect_agent_finds_the_planted_commit(demo, log_path, with_good):
    repo, facts = demo
    status_before = git_out(repo, "status", "--porcelain")
    answers = ScriptedApprover(
        lambda req: ApprovalDecision(decision="approve", by="dev", answer="no")
    )
    session = open_session(repo, log_path, answers)
    agent = BisectAgent(test=facts["test"], good=facts["good"] if with_good else None)
    result = run_agent(session, agent)
    assert result.status == "completed", result.final
    assert result.data["first_bad"] == facts["regression"]
    assert f"first bad commit {facts['regression']}" in result.final
    assert git_out(repo, "rev-parse", "HEAD") == facts["head"]
    assert git_out(repo, "status", "--porcelain") == status_before
    with AuditLog(log_path) as log:
        tools = [e.payload["tool"] for e in log.events(result.session, kinds=["action_started"])]
        assert "bisect" in tools and "git_show" in tools and "ask_human" in tools
        assert log.verify(result.session)[0].ok


def test_bisect_agent_drafts_a_revert_when_asked(demo, log_path):
    repo, facts = demo

    def decide(req):
        return ApprovalDecision(decision="approve", by="dev", args_hash=req.args_hash, answer="yes")

    session = open_session(repo, log_path, ScriptedApprover(*([decide] * 10)))
    result = run_agent(session, BisectAgent(test=facts["test"], good=facts["good"]))
    assert result.status == "completed", result.final
    branch = f"overseer/revert-{facts['regression'][:12]}"
    assert result.data["revert_branch"] == branch
    assert result.data["revert_tests"] == "passed"
    assert git_out(repo, "log", "-1", "--format=%s", branch).startswith("Revert")


def test_bisect_agent_reports_when_tests_pass_at_bad(demo, log_path):
    repo, facts = demo
    session = open_session(repo, log_path, ScriptedApprover())
    result = run_agent(session, BisectAgent(test=facts["test"], bad=facts["good"]))
    assert result.status == "failed" and "no regression" in result.final


def test_demo_headless_json(tmp_path):
    target = tmp_path / "demo"
    res = subprocess.run(
        [
            *OVERSEER,
            "demo",
            "--dir",
            str(target),
            "--headless",
            "--approver",
            "approve-all",
            "--json",
            "--log",
            str(tmp_path / "a.db"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["status"] == "completed"
    assert git_out(target, "log", "-1", "--format=%s", out["first_bad"]) == REGRESSION_SUBJECT
    assert out["tested"] and isinstance(out["skipped"], list)
    assert "first bad commit" in out["final"]


def test_demo_names_the_first_bad_commit_once(tmp_path):
    """The report already opens with the first bad commit: the demo used to
    print a line of its own after it saying the same thing again."""
    res = subprocess.run(
        [*OVERSEER, "demo", "--dir", str(tmp_path / "demo"), "--headless"]
        + ["--approver", "approve-all", "--log", str(tmp_path / "a.db")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = re.findall(r"^first bad commit:? ([0-9a-f]{40})$", res.stdout, re.M)
    assert len(lines) == 1, res.stdout
    assert git_out(tmp_path / "demo", "log", "-1", "--format=%s", lines[0]) == REGRESSION_SUBJECT


@pytest.mark.parametrize(
    "args",
    [["bisect", "--test", "pytest"], ["run", "find it", "--agent", "bisect", "--test", "pytest"]],
)
def test_bisect_outside_a_git_repository_is_a_usage_error(tmp_path, args):
    plain = tmp_path / "plain"
    plain.mkdir()
    log = tmp_path / "a.db"
    res = subprocess.run(
        [*OVERSEER, *args, "--repo", str(plain), "--headless", "--log", str(log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"overseer: error: {plain} is not a git repository; "
        + ("bisect" if args[0] == "bisect" else "the bisect agent")
        + " needs one (run it inside a repository, or pass --repo PATH)"
    ]
    assert not log.exists()  # no session was recorded for a usage error


def test_console_approver_in_a_real_terminal(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n", "tests/test_app.py": "def test_x():\n    assert True\n"})
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "steps": [
                    {
                        "tool": "write_file",
                        "args": {
                            "path": "tests/test_app.py",
                            "content": "def test_x():\n    pass\n",
                        },
                    },
                    {"tool": "shell", "args": {"command": "git push origin main"}},
                ],
                "final": "done",
            }
        )
    )
    db = tmp_path / "c.db"
    child = pexpect.spawn(
        OVERSEER[0],
        [
            *OVERSEER[1:],
            "run",
            "edit tests",
            "--agent",
            f"script:{plan}",
            "--approver",
            "console",
            "--headless",
            "--repo",
            str(repo),
            "--log",
            str(db),
            "--sandbox",
            "none",
        ],
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    child.expect("approve\\? ")
    child.sendline("y")
    child.expect("approve\\? ")
    child.sendline("n")
    child.expect("reason")
    child.sendline("pushing is not part of this task")
    child.expect(pexpect.EOF)
    child.close()
    with AuditLog(db) as log:
        [sid] = [s["id"] for s in log.sessions()]
        decided = [e.payload for e in log.events(sid, kinds=["approval_decided"])]
    assert [d["decision"] for d in decided] == ["approve", "deny"]
    assert decided[1]["reason"] == "pushing is not part of this task"
    assert "tests/test_app.py" in (repo / "tests/test_app.py").as_posix()
    assert (repo / "tests/test_app.py").read_text() == "def test_x():\n    pass\n"


def test_killed_run_is_interrupted_with_outcome_unknown(make_repo, tmp_path):
    """kill -9 mid-action: the running action is shown unfinished, and the
    finished one before it (whose finish record was committed without its own
    fsync, riding on the next call's) is all there."""
    repo = make_repo()
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "steps": [
                    {"tool": "shell", "args": {"command": "echo finished-first"}},
                    {"tool": "shell", "args": {"command": "sleep 60", "timeout": 120}},
                ]
            }
        )
    )
    db = tmp_path / "k.db"
    err = (tmp_path / "err.txt").open("w")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(
        [
            *OVERSEER,
            "run",
            "sleep",
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
        ],
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        started = False
        while time.monotonic() < deadline and not started:
            time.sleep(0.2)
            if db.exists():
                with AuditLog(db) as log:
                    started = (
                        sum(
                            1
                            for s in log.sessions()
                            for _ in log.events(s["id"], kinds=["action_started"])
                        )
                        == 2
                    )
        assert started, (tmp_path / "err.txt").read_text()[-3000:]
        proc.kill()
        proc.wait()
    finally:
        # The persistent bash and its `sleep` are in the run's process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    sessions = json.loads(
        subprocess.run(
            [*OVERSEER, "sessions", "--json", "--log", str(db)], capture_output=True, text=True
        ).stdout
    )
    assert sessions[0]["status"] == "interrupted"
    shown = subprocess.run(
        [*OVERSEER, "show", sessions[0]["id"], "--log", str(db)], capture_output=True, text=True
    ).stdout
    assert "outcome unknown" in shown
    with AuditLog(db) as log:
        finished = [e.payload for e in log.events(sessions[0]["id"], kinds=["action_finished"])]
    assert len(finished) == 1 and finished[0]["status"] == "ok"
    assert "finished-first" in finished[0]["output"]
    verified = subprocess.run(
        [*OVERSEER, "verify", "--all", "--log", str(db)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout
