"""The replay app through the pilot: stepping, jumping to approvals, denials and
flags, play, filtering by kind, searching, the verify badge on an intact and
on a tampered log, JSONL exports, and who approved what."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from overseer.tui.detail import EventDetail
from overseer.tui.filter import FilterScreen
from overseer.tui.index import EventIndex
from overseer.tui.replay import ReplayApp, ReplayHeader
from overseer.tui.timeline import Timeline
from textual.widgets import DataTable, SelectionList

from overseer.log import AuditLog
from overseer.log.jsonl import export_session
from tests.bench.replay import generate_session
from tests.helpers.tui import plan, text_of, wait_for

SIZE = (120, 40)
MARK_KINDS = {"approval_requested", "approval_decided", "flag_raised", "question_asked"}


@pytest.fixture
def recorded(log_path: Path) -> str:
    return generate_session(log_path, 400, session_id="replay000001")


def app_for(log_path: Path, sid: str, **kwargs: Any) -> ReplayApp:
    return ReplayApp(EventIndex.from_db(log_path, sid), detail_delay=0, **kwargs)


async def verified(pilot: Any, app: ReplayApp) -> str:
    await wait_for(pilot, lambda: app.verify_result is not None, what="the verify badge")
    return text_of(app.query_one(ReplayHeader))


async def test_stepping_moves_one_event_and_shows_its_details(
    log_path: Path, recorded: str
) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        assert timeline.current_seq == 1 and timeline.row_count == 400
        await pilot.press("right", "right", "right")
        assert timeline.current_seq == 4
        await pilot.press("left")
        assert timeline.current_seq == 3
        detail = app.query_one(EventDetail)
        await wait_for(pilot, lambda: detail.seq == 3)
        assert "seq 3" in text_of(app.query_one("#details-body"))
        await pilot.press("end")
        assert timeline.current_seq == 400
        await pilot.press("right")  # stays at the end
        assert timeline.current_seq == 400
        await pilot.press("home")
        assert timeline.current_seq == 1


async def test_brackets_jump_between_approvals_denials_and_flags(
    log_path: Path, recorded: str
) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        index = app.index
        seen = []
        for _ in range(6):
            await pilot.press("right_square_bracket")
            seq = timeline.current_seq
            assert seq is not None
            seen.append(seq)
            kind = index.kinds[index.position(seq)]
            if kind == "action_finished":
                assert index.payload(seq)["status"] == "denied"
            else:
                assert kind in MARK_KINDS
        assert seen == sorted(seen) and len(set(seen)) == 6
        assert seen == index.marks()[:6]
        await pilot.press("left_square_bracket")
        assert timeline.current_seq == seen[-2]
        # A denial is among the stops: the 12th call of the generator is denied.
        assert any(index.payload(s).get("status") == "denied" for s in index.marks())


async def test_play_advances_and_pauses(log_path: Path, recorded: str) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        await pilot.press("plus", "plus", "plus")  # 10 -> 100 events/s
        await pilot.press("space")
        await wait_for(pilot, lambda: (timeline.current_seq or 0) > 10, what="play to advance")
        await pilot.press("space")
        paused_at = timeline.current_seq
        await pilot.pause(0.2)
        assert timeline.current_seq == paused_at and not app.playing
        assert "paused (100/s)" in text_of(app.query_one("#replay-bar"))


async def test_filter_by_kind(log_path: Path, recorded: str) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        await pilot.press("f")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, FilterScreen) and app.screen)
        kinds = screen.query_one(SelectionList)
        await pilot.press("a")  # everything was shown: "a" clears it
        assert kinds.selected == []
        kinds.select("approval_decided")
        kinds.select("flag_raised")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, FilterScreen))
        expected = sum(1 for k in app.index.kinds if k in ("approval_decided", "flag_raised"))
        assert timeline.row_count == expected > 0
        shown = {app.index.kinds[timeline.position(r)] for r in range(timeline.row_count)}
        assert shown == {"approval_decided", "flag_raised"}
        await pilot.press("right")
        assert app.index.kinds[app.index.position(timeline.current_seq or 0)] in shown
        assert "filter: 2 kinds" in text_of(app.query_one("#replay-bar"))
        app.apply_filter(None)
        assert timeline.row_count == 400


async def test_search_finds_commands_args_and_output(log_path: Path, recorded: str) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        timeline = app.query_one(Timeline)
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.query_one("#search").has_focus)
        await pilot.press(*"PIP LIST", "enter")
        matches = app.matches
        assert matches and all(
            "pip list" in app.index.payload(s).__repr__().lower() for s in matches
        )
        assert timeline.current_seq == matches[0]
        await pilot.press("n")
        assert timeline.current_seq == matches[1]
        await pilot.press("N")
        assert timeline.current_seq == matches[0]
        assert f"search 'PIP LIST': 1/{len(matches)} matches" in text_of(
            app.query_one("#replay-bar")
        )
        # Output is searched too: only action_finished payloads hold "line 3 of output".
        found = app.search("line 3 of output")
        assert found and {app.index.kinds[app.index.position(s)] for s in found} == {
            "action_finished"
        }


async def test_intact_log_shows_chain_ok(log_path: Path, recorded: str) -> None:
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        assert "chain ok" in await verified(pilot, app)


async def test_tampered_log_shows_where_the_chain_breaks(log_path: Path, recorded: str) -> None:
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute(
        "UPDATE events SET payload = replace(payload, 'alice@host', 'mallory@host')"
        " WHERE session_id=? AND seq=10",
        (recorded,),
    )
    conn.close()
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        header = await verified(pilot, app)
        assert "BROKEN at seq 10: hash_mismatch" in header
        assert "approval_decided event content does not match" in header
        assert app.query_one(Timeline).broken_seq == 10


async def test_next_mark_stops_where_the_chain_breaks(log_path: Path, recorded: str) -> None:
    conn = sqlite3.connect(log_path, isolation_level=None)
    seq = conn.execute(
        "SELECT min(seq) FROM events WHERE session_id=? AND kind='action_proposed' AND seq > 20",
        (recorded,),
    ).fetchone()[0]
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute(
        "UPDATE events SET payload = replace(payload, '\"tool\"', '\"tool \"')"
        " WHERE session_id=? AND seq=?",
        (recorded, seq),
    )
    conn.close()
    app = app_for(log_path, recorded)
    async with app.run_test(size=SIZE) as pilot:
        await verified(pilot, app)
        assert app.query_one(Timeline).broken_seq == seq
        assert seq not in app.index.marks()  # an ordinary event, not an approval
        timeline = app.query_one(Timeline)
        timeline.move_to(timeline.row_of_seq(seq - 1), force=True)
        await pilot.press("right_square_bracket")
        assert timeline.current_seq == seq
        await pilot.press("left_square_bracket", "right_square_bracket")
        assert timeline.current_seq == seq


async def test_jsonl_export_replays_with_its_approvals(
    tmp_path: Path, log_path: Path, make_repo: Any
) -> None:
    from overseer.approval import ApproveAll
    from overseer.session import run_agent
    from tests.helpers.tui import open_session

    repo = make_repo()
    session = open_session(repo, log_path, ApproveAll())
    run_agent(
        session,
        plan(
            ("shell", {"command": "git commit --allow-empty -m one"}),
            ("shell", {"command": "echo hello"}),
        ),
    )
    out = tmp_path / "session.jsonl"
    with AuditLog(log_path) as log, out.open("w") as fh:
        export_session(log, session.id, fh)
    app = ReplayApp(EventIndex.from_jsonl(out), detail_delay=0)
    async with app.run_test(size=SIZE) as pilot:
        assert "chain ok" in await verified(pilot, app)
        await pilot.press("a")  # who approved what
        table = app.query_one("#approvals-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[2] == "approve" and row[3] == "approve-all" and "git commit" in row[4]
        await pilot.press("enter")  # jumps the timeline to that decision
        seq = int(row[0])
        await wait_for(pilot, lambda: app.query_one(Timeline).current_seq == seq)
        await pilot.press("o")
        output = text_of(app.query_one("#output-body"))
        assert "shell: ok" in output


def test_replay_and_attach_commands_fail_with_one_line(
    tmp_path: Path, log_path: Path, recorded: str
) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "overseer", *args], capture_output=True, text=True, timeout=60
        )

    bad = tmp_path / "bad.jsonl"
    bad.write_text("garbage\n")
    for args, message in (
        (["replay", "nope", "--log", str(log_path)], "no session matches 'nope'"),
        (["replay", str(tmp_path / "missing.jsonl")], "no such file"),
        (["replay", str(bad)], "not JSON"),
        (["attach", "nope", "--log", str(log_path)], "no session matches 'nope'"),
    ):
        res = run(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
