"""What the record shows a person about model turns: token usage per turn and
in total (`overseer show`, headless lines, the replay UI, the md and html
reports), and a failed model call's error with the reason the session failed
(no blank "model turn 1:", no bare "session ended: failed").

The runs are real `overseer run` processes whose model is a scripted
LangChain chat model named by module:attr (the factories below)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from langchain_core.messages import AIMessage
from overseer.tui.detail import EventDetail
from overseer.tui.index import EventIndex
from overseer.tui.replay import ReplayApp, ReplayHeader
from overseer.tui.timeline import Timeline
from textual.geometry import Region

from tests.helpers.chat import ScriptedChatModel, call
from tests.helpers.tui import text_of, wait_for

ROOT = Path(__file__).resolve().parent.parent


def usage(i: int, o: int) -> dict[str, int]:
    return {"input_tokens": i, "output_tokens": o, "total_tokens": i + o}


def model_with_usage() -> ScriptedChatModel:
    """--model tests.test_shown_turns:model_with_usage"""
    return ScriptedChatModel(
        script=[
            AIMessage(
                content="Let me look around.",
                tool_calls=[call("list_dir", {"path": "."})],
                usage_metadata=usage(1200, 34),
            ),
            AIMessage(content="The repository has a README.", usage_metadata=usage(1301, 12)),
        ]
    )


def failing_model() -> ScriptedChatModel:
    """--model tests.test_shown_turns:failing_model — the first call fails."""

    def refuse(_messages: object) -> AIMessage:
        raise ConnectionError("the model server refused the connection")

    return ScriptedChatModel(script=[refuse])


def run(model: str, repo: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "overseer",
            "run",
            "look at the repository",
            "--model",
            f"tests.test_shown_turns:{model}",
            "--headless",
            "--approver",
            "approve-all",
            "--sandbox",
            "none",
            "--repo",
            str(repo),
            "--log",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        check=False,
    )


def overseer(*args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "overseer", *args], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def session_id(db: Path) -> str:
    [line] = overseer("sessions", "--log", str(db)).splitlines()
    return line.split()[0]


TURN1 = "model turn 1: Let me look around. -> calls list_dir [1,200 in, 34 out, 1,234 total tokens]"
TURN2 = "model turn 2: The repository has a README. [1,301 in, 12 out, 1,313 total tokens]"
TOTAL = "2,501 in, 46 out, 2,547 total tokens"


def test_token_usage_per_turn_and_in_total_everywhere(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "audit.db"
    res = run("model_with_usage", repo, db)
    assert res.returncode == 0, res.stderr[-3000:]
    # Headless lines, as the run goes.
    assert TURN1 in res.stderr and TURN2 in res.stderr
    assert f"session ended: completed; {TOTAL} in all" in res.stderr
    # The final report's evidence summary.
    assert f"- 2 model turns: {TOTAL}" in res.stdout
    sid = session_id(db)
    shown = overseer("show", sid, "--log", str(db))
    assert TURN1 in shown and TURN2 in shown and f"{TOTAL} in all" in shown
    md = overseer("export", sid, "--format", "md", "--log", str(db))
    for turn in ("1,200 in, 34 out, 1,234 total tokens", "1,301 in, 12 out, 1,313 total tokens"):
        assert turn in md  # (Markdown escapes the brackets around it)
    assert f"- 2 model turns: {TOTAL}" in md and f"{TOTAL} in all" in md
    html = overseer("export", sid, "--format", "html", "--log", str(db))
    assert "1,200 in, 34 out, 1,234 total tokens" in html
    assert f"- 2 model turns: {TOTAL}" in html


async def test_the_replay_ui_shows_the_total_and_each_turns_tokens(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "audit.db"
    assert run("model_with_usage", repo, db).returncode == 0
    app = ReplayApp(EventIndex.from_db(db, session_id(db)), detail_delay=0)
    async with app.run_test(size=(200, 40)) as pilot:
        header = text_of(app.query_one(ReplayHeader), width=200)
        assert "tokens 2,501 in, 46 out, 2,547 total" in header
        timeline = app.query_one(Timeline)
        await wait_for(pilot, lambda: timeline.row_count > 0)
        await pilot.pause()
        shown = timeline.render_lines(Region(0, 0, timeline.size.width, timeline.size.height))
        rows = "\n".join(strip.text for strip in shown)
        assert "[1,200 in, 34 out" in rows, rows  # the line is cut at the pane's width
        timeline.move_to(timeline.row_of_seq(3))
        detail = app.query_one(EventDetail)
        await wait_for(pilot, lambda: detail.seq == 3)
        assert "[1,200 in, 34 out, 1,234 total tokens]" in text_of(
            app.query_one("#details-body"), width=200
        )


def test_a_failed_model_call_shows_its_error_and_why_the_session_failed(make_repo, tmp_path):
    repo, db = make_repo(), tmp_path / "audit.db"
    res = run("failing_model", repo, db)
    assert res.returncode == 1, res.stderr[-3000:]
    # the fault is named the way the LLM agent names it (overseer/agent/faults.py)
    error = "cannot reach the model server (connection refused)"
    assert f"model turn 1 failed: {error}" in res.stderr
    shown = overseer("show", session_id(db), "--log", str(db))
    lines = shown.splitlines()
    assert any(f"model turn 1 failed: {error}" in ln for ln in lines), shown
    assert not any(ln.rstrip().endswith("model turn 1:") for ln in lines), shown
    [ended] = [ln for ln in lines if "session ended:" in ln]
    assert f"session ended: failed (the model call failed: {error}" in ended
    assert "- 1 model turn, 1 failed, no token usage reported" in res.stdout
