"""Snapshots of the screens whose look matters: the approval dialog for a
compound shell command and for a file edit, and the replay screen.

Deterministic by construction: fixed requests and session ids, a frozen
clock for the countdown, a generated session with fixed timestamps.
Update with ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overseer.tui.approval import ApprovalScreen
from overseer.tui.index import EventIndex
from overseer.tui.replay import ReplayApp
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static

from overseer.approval import ApprovalRequest
from overseer.events import PartDecision
from tests.bench.replay import generate_session
from tests.helpers.tui import wait_for

NOW = 1_767_225_600.0  # frozen: the countdown always reads 9:05
SIZE = (120, 40)


class DialogHost(App[None]):
    """A bare app showing one approval dialog over a placeholder screen."""

    def __init__(self, request: ApprovalRequest, waiting: list[str]) -> None:
        super().__init__()
        self.request = request
        self.waiting = waiting

    def compose(self) -> ComposeResult:
        yield Static("the live session is behind this dialog")
        yield Footer()

    def on_mount(self) -> None:
        self.push_screen(
            ApprovalScreen(self.request, by="alice@host", waiting=self.waiting, clock=lambda: NOW)
        )


def shell_request() -> ApprovalRequest:
    return ApprovalRequest(
        session_id="5e55102c0de1",
        call_id="c7",
        tool="shell",
        args={"command": "git status && git push origin main", "timeout": 120},
        args_hash="0" * 64,
        preview="git status && git push origin main",
        decision="ask",
        rule="git-push",
        reason="git push: publishes commits to a remote",
        parts=[
            PartDecision(
                command="git status",
                decision="allow",
                rule="git-read",
                reason="read-only git inspection",
                argv=["git", "status"],
            ),
            PartDecision(
                command="git push origin main",
                decision="ask",
                rule="git-push",
                reason="git push: publishes commits to a remote",
                argv=["git", "push", "origin", "main"],
            ),
        ],  # fmt: skip
        sandbox="bwrap",
        timeout_s=600,
        deadline=NOW + 545,
        grant_preview="allow shell commands starting with `git push` for this session",
    )


def edit_request() -> ApprovalRequest:
    return ApprovalRequest(
        session_id="5e55102c0de1",
        call_id="c9",
        tool="edit_file",
        args={
            "path": "tests/test_pricing.py",
            "old": "assert total == 90",
            "new": "assert total == 91",
        },
        args_hash="1" * 64,
        preview=(
            "--- a/tests/test_pricing.py\n+++ b/tests/test_pricing.py\n@@ -10,7 +10,7 @@ def test_discount():\n"
            "     cart = Cart()\n     cart.add(Item('book', 100))\n     total = cart.total(discount=0.1)\n"
            "-    assert total == 90\n+    assert total == 91\n"
        ),
        decision="ask",
        rule="test-writes",
        reason="editing tests or test configuration can hide a failure instead of fixing it",
        sandbox="none",
        timeout_s=600,
        deadline=NOW + 545,
        grant_preview="allow edit_file under tests/ for this session",
    )


def test_approval_dialog_for_a_shell_command(snap_compare: Any) -> None:
    app = DialogHost(
        shell_request(), waiting=["write_file: src/cart.py", "question: Round prices up or down?"]
    )
    assert snap_compare(app, terminal_size=SIZE)


def test_approval_dialog_for_a_file_edit(snap_compare: Any) -> None:
    assert snap_compare(DialogHost(edit_request(), waiting=[]), terminal_size=SIZE)


def test_approval_dialog_deny_asks_for_a_reason(snap_compare: Any) -> None:
    app = DialogHost(shell_request(), waiting=[])
    assert snap_compare(app, press=["n", *"not on main"], terminal_size=SIZE)


def test_replay_screen(snap_compare: Any, tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    generate_session(
        db, 400, session_id="5e55102c0de1", task="find the commit that broke the cart tests"
    )
    app = ReplayApp(EventIndex.from_db(db, "5e55102c0de1"), detail_delay=0)

    async def settle(pilot: Any) -> None:
        await wait_for(pilot, lambda: app.verify_result is not None, what="the verify badge")
        await pilot.press("right_square_bracket", "right_square_bracket")  # to the first decision
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
