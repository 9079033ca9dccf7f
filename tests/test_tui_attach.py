"""Attach: a headless runner (`overseer run --approver remote --headless`, a
real subprocess) and the live app attached to its session in this process.
Decisions made in the app unblock the runner through the log's inbox, within
the 0.5 s latency budget; questions and steering messages go the same way."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from overseer.tui.approval import ApprovalScreen
from overseer.tui.attach import attach_app
from overseer.tui.question import QuestionScreen
from overseer.tui.viewer import ViewerScreen

from overseer.log import AuditLog
from tests.helpers.records import payloads as events
from tests.helpers.tui import text_of, wait_for

LATENCY_BUDGET_S = 0.5


def start_runner(
    repo: Path, log_path: Path, steps: list[dict[str, Any]]
) -> tuple[subprocess.Popen[str], str]:
    plan = repo.parent / "plan.json"
    plan.write_text(json.dumps({"steps": steps, "final": "attached run done"}))
    stderr = repo.parent / "runner.err"
    proc = subprocess.Popen(
        [sys.executable, "-m", "overseer", "run", "attach test", "--agent", f"script:{plan}",
         "--approver", "remote", "--headless", "--sandbox", "none", "--repo", str(repo), "--log", str(log_path)],
        stdout=subprocess.DEVNULL, stderr=stderr.open("w"), text=True, env=os.environ.copy(),
    )  # fmt: skip
    # The runner names its session on stderr; the log is not opened before
    # that, so this process never races the runner creating the schema.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"session (\w+) waits for decisions", stderr.read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"the runner exited early: {stderr.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the runner never started a session: {stderr.read_text()}")


@pytest.fixture
def runner(make_repo: Any, log_path: Path) -> Any:
    procs: list[subprocess.Popen[str]] = []

    def start(steps: list[dict[str, Any]]) -> str:
        proc, sid = start_runner(make_repo(), log_path, steps)
        procs.append(proc)
        return sid

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


async def test_decisions_in_the_attached_app_unblock_the_headless_runner(
    runner: Any, log_path: Path
) -> None:
    sid = runner(
        [
            {"tool": "shell", "args": {"command": "git commit --allow-empty -m from-attach"}},
            {"tool": "ask_human", "args": {"question": "Keep going?", "choices": ["yes", "no"]}},
            {"tool": "shell", "args": {"command": "git tag v1"}},
        ]
    )
    log = AuditLog(log_path, create=False)
    app = attach_app(log, sid)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen, timeout=30
        )
        assert screen.request.call_id == "s1"
        assert screen.request.grant_preview and "git commit" in screen.request.grant_preview
        decided_at = time.time_ns()
        await pilot.press("y")
        started = await wait_for(
            pilot,
            lambda: [p for p in events(log_path, sid, "action_started") if p["call_id"] == "s1"],
            what="s1 to run",
        )
        with AuditLog(log_path, create=False) as other:
            ts = next(e.ts for e in other.events(sid, kinds=["action_started"]))
        assert (ts - decided_at) / 1e9 <= LATENCY_BUDGET_S, (
            f"decision -> execution took {(ts - decided_at) / 1e9:.3f} s"
        )
        assert started[0]["decided_by"].startswith("approver:")

        question = await wait_for(
            pilot, lambda: isinstance(app.screen, QuestionScreen) and app.screen, timeout=30
        )
        assert question.request.choices == ["yes", "no"]
        await pilot.press("1")

        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ApprovalScreen)
                and app.screen.request.call_id == "s3"
                and app.screen
            ),
            timeout=30,
        )
        await pilot.press("n", *"no tags today", "enter")

        report = await wait_for(
            pilot,
            lambda: isinstance(app.screen, ViewerScreen) and app.screen.query("#body"),
            timeout=30,
        )
        assert "attached run done" in text_of(report.first())
        app.exit()
    log.close()
    decided = {p["call_id"]: p for p in events(log_path, sid, "approval_decided")}
    assert decided["s1"]["decision"] == "approve"
    assert decided["s3"]["decision"] == "deny" and decided["s3"]["reason"] == "no tags today"
    assert events(log_path, sid, "question_answered")[0]["answer"] == "yes"
    assert events(log_path, sid, "session_ended")[0]["status"] == "completed"


async def test_steering_from_the_attached_app_reaches_the_agent(
    runner: Any, log_path: Path
) -> None:
    sid = runner(
        [
            {"tool": "shell", "args": {"command": "git commit --allow-empty -m wait-for-me"}},
            {"tool": "shell", "args": {"command": "echo next"}},
        ]
    )
    log = AuditLog(log_path, create=False)
    app = attach_app(log, sid)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=30)
        await pilot.press("escape")  # decide later; steer first
        await wait_for(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        await pilot.press("m", *"prefer small commits", "enter")
        await pilot.press("escape", "p")  # leave the message line, open what waits
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: app.ended is not None, timeout=30)
        app.exit()
    log.close()
    # The runner took the message from the inbox and recorded it before its next step.
    [message] = events(log_path, sid, "user_message")
    assert message["text"] == "prefer small commits" and message["by"]
