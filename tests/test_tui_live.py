"""The live app, driven through Textual's pilot over real sessions: the default
policy, the built-in tools, a git workspace, an audit log on disk. Every path
of the approval dialog, questions, quitting with requests pending, the queue,
streamed output, steering and the final report."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from overseer.tui.approval import ApprovalScreen
from overseer.tui.live import QUIT_REASON, LiveApp
from overseer.tui.question import QuestionScreen
from overseer.tui.sidepanel import SidePanel
from overseer.tui.transcript import Transcript
from overseer.tui.viewer import ViewerScreen
from textual.widgets import Input

from overseer.session import AgentOutcome, Session
from overseer.toolapi import ToolCall
from tests.helpers.records import payloads as events
from tests.helpers.tui import live_app, plan, text_of, wait_for

SIZE = (120, 40)


@pytest.fixture
def repo(make_repo: Any) -> Path:
    return make_repo({"README.md": "# shop\n", "src/cart.py": "rate = 1\n"})


def by_call(payloads: list[dict[str, Any]], call_id: str) -> dict[str, Any]:
    return next(p for p in payloads if p.get("call_id") == call_id)


async def approval(pilot: Any, app: LiveApp, call_id: str | None = None) -> ApprovalScreen:
    def ready() -> Any:
        screen = app.screen
        if isinstance(screen, ApprovalScreen) and (
            call_id is None or screen.request.call_id == call_id
        ):
            return screen
        return None

    return await wait_for(pilot, ready, what=f"the approval dialog for {call_id}")


async def finished(pilot: Any, app: LiveApp) -> None:
    await wait_for(
        pilot, lambda: app.result is not None and app.ended is not None, what="the end of the run"
    )


async def test_approve_runs_the_exact_command(repo: Path, log_path: Path) -> None:
    app = live_app(
        repo, log_path, plan(("shell", {"command": "git commit --allow-empty -m approved"}))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await approval(pilot, app, "s1")
        assert screen.request.args["command"] == "git commit --allow-empty -m approved"
        assert screen.request.grant_preview and "git commit" in screen.request.grant_preview
        await pilot.press("y")
        await finished(pilot, app)
        sid = app.backend.session_id
        decided = by_call(events(log_path, sid, "approval_decided"), "s1")
        assert decided["decision"] == "approve" and decided["by"] == "tester@tui"
        done = by_call(events(log_path, sid, "action_finished"), "s1")
        assert done["status"] == "ok"
        assert app.query_one(Transcript).calls["s1"].status == "ok"
        app.exit()
    assert app.result is not None and app.result.status == "completed"


async def test_deny_sends_the_reason_to_the_agent(repo: Path, log_path: Path) -> None:
    app = live_app(repo, log_path, plan(("shell", {"command": "git commit --allow-empty -m nope"})))
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        await pilot.press("n")
        await wait_for(
            pilot, lambda: app.screen.query_one("#reason").has_focus, what="the reason input"
        )
        await pilot.press(*"not on main")
        await pilot.press("enter")
        await finished(pilot, app)
        sid = app.backend.session_id
        assert by_call(events(log_path, sid, "approval_decided"), "s1")["reason"] == "not on main"
        # What the agent got back: the ToolResult the broker recorded.
        done = by_call(events(log_path, sid, "action_finished"), "s1")
        assert done["status"] == "denied"
        assert done["error"] == "denied by tester@tui: not on main"
        assert app.result is not None and app.result.data["steps"][0]["status"] == "denied"
        app.exit()


async def test_edit_runs_the_edited_command_after_the_policy_rechecks_it(
    repo: Path, log_path: Path
) -> None:
    app = live_app(
        repo, log_path, plan(("shell", {"command": "git commit --allow-empty -m wrong"}))
    )
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        await pilot.press("e")
        line = await wait_for(
            pilot,
            lambda: (
                app.screen.query_one("#edit-line").has_focus and app.screen.query_one("#edit-line")
            ),
        )
        assert line.value == "git commit --allow-empty -m wrong"
        line.value = "echo edited-ok"
        await pilot.press("enter")
        await finished(pilot, app)
        sid = app.backend.session_id
        assert (
            by_call(events(log_path, sid, "approval_decided"), "s1")["edited_args"]["command"]
            == "echo edited-ok"
        )
        # The edit is a new proposal: the policy judged it again (read-only: allowed).
        policy = by_call(events(log_path, sid, "policy_decided"), "s1-e1")
        assert policy["decision"] == "allow"
        started = by_call(events(log_path, sid, "action_started"), "s1-e1")
        assert started["args"]["command"] == "echo edited-ok"
        assert "edited-ok" in by_call(events(log_path, sid, "action_finished"), "s1-e1")["output"]
        assert not [p for p in events(log_path, sid, "action_started") if p["call_id"] == "s1"]
        app.exit()


async def test_edit_rejects_invalid_json_and_keeps_the_dialog(repo: Path, log_path: Path) -> None:
    content = "one\n"
    app = live_app(
        repo, log_path, plan(("write_file", {"path": "tests/test_x.py", "content": content}))
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await approval(pilot, app, "s1")
        await pilot.press("e")
        area = await wait_for(
            pilot,
            lambda: screen.query_one("#edit-area").has_focus and screen.query_one("#edit-area"),
        )
        area.text = "{not json"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and "Not valid JSON" in text_of(screen.query_one("#error"))
        area.text = '{"path": "tests/test_x.py", "content": "two\\n"}'
        await pilot.press("ctrl+s")
        # Still a test file: the policy asks again about the edited call.
        again = await approval(pilot, app, "s1-e1")
        assert again.request.args["content"] == "two\n"
        await pilot.press("y")
        await finished(pilot, app)
        assert (repo / "tests/test_x.py").read_text() == "two\n"
        app.exit()


async def test_always_adds_a_listed_grant_and_the_next_similar_call_is_not_asked(
    repo: Path, log_path: Path
) -> None:
    app = live_app(
        repo,
        log_path,
        plan(
            ("shell", {"command": "git commit --allow-empty -m one"}),
            ("shell", {"command": "git commit --allow-empty -m two"}),
        ),
    )
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        await pilot.press("a")
        await finished(pilot, app)
        sid = app.backend.session_id
        [grant] = events(log_path, sid, "grant_added")
        assert grant["prefix"] == ["git", "commit"]
        assert [p["call_id"] for p in events(log_path, sid, "approval_requested")] == ["s1"]
        assert (
            by_call(events(log_path, sid, "action_started"), "s2")["decided_by"]
            == f"grant:{grant['grant_id']}"
        )
        assert grant["grant_id"] in app.query_one(SidePanel).grants
        assert "git commit" in text_of(app.query_one("#grants-list"))
        app.exit()


async def test_terminate_stops_the_session(repo: Path, log_path: Path) -> None:
    app = live_app(
        repo,
        log_path,
        plan(
            ("shell", {"command": "git commit --allow-empty -m x"}),
            ("shell", {"command": "echo never"}),
        ),
    )
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        await pilot.press("t")
        await finished(pilot, app)
        sid = app.backend.session_id
        assert by_call(events(log_path, sid, "approval_decided"), "s1")["decision"] == "terminate"
        assert [p["call_id"] for p in events(log_path, sid, "action_started")] == []
        assert events(log_path, sid, "session_ended")[0]["status"] == "terminated"
        app.exit()
    assert app.result is not None and app.result.status == "terminated"


async def test_questions_are_answered_by_choosing_or_typing(repo: Path, log_path: Path) -> None:
    app = live_app(
        repo,
        log_path,
        plan(
            ("ask_human", {"question": "Round prices up or down?", "choices": ["up", "down"]}),
            ("ask_human", {"question": "Anything else?"}),
        ),
    )
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_for(pilot, lambda: isinstance(app.screen, QuestionScreen) and app.screen)
        assert first.request.choices == ["up", "down"]
        await pilot.press("2")
        second = await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, QuestionScreen) and app.screen is not first and app.screen
            ),
        )
        await wait_for(pilot, lambda: second.query_one("#answer").has_focus)
        await pilot.press(*"keep the tests green", "enter")
        await finished(pilot, app)
        answers = events(log_path, app.backend.session_id, "question_answered")
        assert [a["answer"] for a in answers] == ["down", "keep the tests green"]
        assert {a["by"] for a in answers} == {"tester@tui"}
        outputs = events(log_path, app.backend.session_id, "action_finished")
        assert "down" in outputs[0]["output"]
        app.exit()


async def test_typing_on_the_choices_starts_a_free_answer(repo: Path, log_path: Path) -> None:
    # The choice list has focus; a person who starts typing means a free
    # answer, and enter must send what they typed, not the highlighted choice.
    app = live_app(
        repo,
        log_path,
        plan(("ask_human", {"question": "Push where?", "choices": ["main", "dev"]})),
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, QuestionScreen) and app.screen
        )
        await wait_for(pilot, lambda: screen.query_one("#choices").has_focus)
        await pilot.press(*"a feature branch", "enter")
        await finished(pilot, app)
        answers = events(log_path, app.backend.session_id, "question_answered")
        assert [a["answer"] for a in answers] == ["a feature branch"]
        app.exit()


async def test_quitting_with_a_request_pending_denies_it_and_stops_the_agent(
    repo: Path, log_path: Path
) -> None:
    app = live_app(
        repo,
        log_path,
        plan(
            ("shell", {"command": "git commit --allow-empty -m x"}),
            ("shell", {"command": "echo after"}),
        ),
    )
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        await pilot.press("ctrl+q")  # the dialog's letters are its own; ctrl+q quits from anywhere
        await wait_for(pilot, lambda: app.backend.done.is_set(), what="the agent to stop")
    sid = app.backend.session_id
    decided = by_call(events(log_path, sid, "approval_decided"), "s1")
    assert decided["decision"] == "deny" and decided["reason"] == QUIT_REASON
    assert by_call(events(log_path, sid, "action_finished"), "s1")["status"] == "denied"
    [note] = [n for n in events(log_path, sid, "notice") if n["topic"] == "ui"]
    assert "quit the UI" in note["message"] and note["data"]["denied"] == ["s1"]
    assert [p["call_id"] for p in events(log_path, sid, "action_proposed")] == [
        "s1"
    ]  # s2 never proposed
    ended = events(log_path, sid, "session_ended")[0]
    assert ended["status"] == "terminated"
    assert app.result is not None and app.result.status == "terminated"


class TwoAtOnce:
    """Two tool calls in parallel, like a model's parallel tool calls."""

    name = "parallel"
    model = None

    def run(self, session: Session) -> AgentOutcome:
        results: dict[str, str] = {}

        def call(cid: str, command: str) -> None:
            results[cid] = session.broker.submit(
                ToolCall(id=cid, name="shell", args={"command": command})
            ).status

        threads = [
            threading.Thread(target=call, args=("p1", "git commit --allow-empty -m p1")),
            threading.Thread(target=call, args=("p2", "git tag v-p2")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return AgentOutcome(final="both done", data={"results": results})


async def test_several_requests_queue_visibly(repo: Path, log_path: Path) -> None:
    app = live_app(repo, log_path, TwoAtOnce())
    async with app.run_test(size=SIZE) as pilot:
        first = await wait_for(
            pilot,
            lambda: len(app.queue) == 2 and isinstance(app.screen, ApprovalScreen) and app.screen,
        )
        assert "1 more waiting" in text_of(first.query_one("#queue"))
        assert len(app.query_one(SidePanel).waiting) == 2
        await pilot.press("escape")  # look at the session first: both stay queued
        await wait_for(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        assert len(app.queue) == 2
        await pilot.press("p")
        await approval(pilot, app, first.request.call_id)
        await pilot.press("y")
        second = await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ApprovalScreen) and app.screen is not first and app.screen
            ),
        )
        assert text_of(second.query_one("#queue")).strip() == ""
        await pilot.press("n", "enter")
        await finished(pilot, app)
        results = app.result.data["results"] if app.result else {}
        assert sorted(results.values()) == ["denied", "ok"]
        app.exit()


async def test_the_broker_timeout_withdraws_the_dialog(repo: Path, log_path: Path) -> None:
    app = live_app(
        repo,
        log_path,
        plan(("shell", {"command": "git commit --allow-empty -m late"})),
        timeout=1.0,
    )
    shown: list[str] = []
    push = app.push_screen

    def record_push(screen: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(screen, ApprovalScreen):
            shown.append(screen.request.call_id)
        return push(screen, *args, **kw)

    app.push_screen = record_push  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        # On a loaded machine the 1 s timeout can withdraw the dialog before a
        # poll sees it on screen: what counts is that it was shown, then gone.
        await wait_for(pilot, lambda: "s1" in shown, what="the approval dialog for s1")
        await wait_for(
            pilot, lambda: not isinstance(app.screen, ApprovalScreen), what="the withdrawal"
        )
        await finished(pilot, app)
        assert (
            by_call(events(log_path, app.backend.session_id, "approval_decided"), "s1")["by"]
            == "timeout"
        )
        app.exit()


async def test_streamed_output_steering_and_the_final_report(repo: Path, log_path: Path) -> None:
    # Streams a few lines, then waits for the test to say go: deterministic.
    command = (
        "for i in 1 2 3; do echo tick$i; done; until [ -f go ]; do sleep 0.05; done; echo tick6"
    )
    app = live_app(repo, log_path, plan(("shell", {"command": command}), final="All tidy."))
    async with app.run_test(size=SIZE) as pilot:
        transcript = app.query_one(Transcript)  # read-only loop: the policy allows it
        await wait_for(
            pilot,
            lambda: "s1" in transcript.calls and "tick2" in transcript.calls["s1"].streamed,
            what="streamed output",
        )
        assert transcript.calls["s1"].status == "running"
        # Steering while the tool runs: the UI stays responsive.
        await pilot.press("m", *"use the new api", "enter")
        await wait_for(
            pilot,
            lambda: any(
                m["text"] == "use the new api"
                for m in events(log_path, app.backend.session_id, "user_message")
            ),
            what="the steering message in the log",
        )
        (repo / "go").touch()
        report = await wait_for(
            pilot, lambda: isinstance(app.screen, ViewerScreen) and app.screen.query("#body")
        )
        text = text_of(report.first())
        assert "All tidy." in text and "Evidence from the audit log" in text
        await pilot.press("escape")
        await pilot.press("o")  # the output expands
        await pilot.pause()
        assert "tick6" in text_of(transcript.entries["s1"].query_one(".output"))
        assert app.is_running  # stays open until the person quits
        message = app.query_one("#message", Input)
        assert message.disabled and "session has ended" in message.placeholder
        await pilot.press("q")
    assert app.result is not None and app.result.status == "completed"


def test_run_live_reports_a_session_that_cannot_open_before_touching_the_terminal(
    tmp_path: Path,
) -> None:
    from overseer.tui.live import run_live

    from overseer.errors import PolicyError

    def broken(_approver: Any) -> Any:
        raise PolicyError("policy.toml:3: unknown decision 'mayb'")

    with pytest.raises(PolicyError, match="unknown decision"):
        run_live(broken, plan(("shell", {"command": "true"})))


async def test_changed_files_are_listed_with_their_diffs(repo: Path, log_path: Path) -> None:
    app = live_app(repo, log_path, plan(("shell", {"command": "git commit --allow-empty -m x"})))
    async with app.run_test(size=SIZE) as pilot:
        await approval(pilot, app, "s1")
        # What the workspace watcher records, appended to the same log.
        diff = "--- a/src/cart.py\n+++ b/src/cart.py\n@@ -1 +1 @@\n-rate = 1\n+rate = 2\n"
        app.backend.session.log.append(
            app.backend.session_id,
            "file_changed",
            {"path": "src/cart.py", "change": "modified", "diff": diff, "call_id": None},
        )
        await pilot.press("escape")
        side = app.query_one(SidePanel)
        await wait_for(
            pilot, lambda: "src/cart.py" in side.files, what="the file in the side panel"
        )
        await pilot.press("f", "enter")
        viewer = await wait_for(
            pilot, lambda: isinstance(app.screen, ViewerScreen) and app.screen.query("#body")
        )
        assert "+rate = 2" in text_of(viewer.first())
        await pilot.press("escape", "p")
        await approval(pilot, app, "s1")
        await pilot.press("y")
        await finished(pilot, app)
        app.exit()
