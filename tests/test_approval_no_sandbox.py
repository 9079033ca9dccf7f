"""When a call's commands would run with no sandbox (``--sandbox none``, or
``auto`` fell back), the approval screen warns — the console prompt and the
Textual dialog, and an attached UI rebuilding the request from the log —
not only a notice at start-up."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from overseer.tools.shell import ShellTool
from overseer.tools.tests_harness import RunTestsTool
from overseer.tui.approval import ApprovalScreen
from overseer.tui.attach import request_from_event
from textual.app import App
from textual.widgets import Static

from overseer import sandbox as sandbox_mod
from overseer.approval import ApprovalDecision, ApprovalRequest, ConsoleApprover
from overseer.broker import Broker
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.sandbox import resolve_sandbox
from overseer.toolapi import Sandbox, ToolCall
from tests.helpers.fakes import EchoTool, FixedPolicy, ScriptedApprover
from tests.helpers.records import payloads

FALLBACK = "bwrap is installed but does not work here: no user namespaces; commands run unsandboxed"


def ask_once(log: AuditLog, ws: Path, sandbox: Sandbox, tool: Any, args: dict[str, Any]):
    sid = log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(ws)))
    approver = ScriptedApprover("deny")
    broker = Broker(log, sid, {tool.name: tool}, FixedPolicy(), approver, ws, sandbox=sandbox)
    try:
        broker.submit(ToolCall(id="c1", name=tool.name, args=args))
    finally:
        tool.close()
    return approver.requests[0], payloads(log.path, sid, "approval_requested")[0]


def test_auto_falling_back_warns_on_every_ask_that_runs_commands(
    log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox_mod, "bwrap_status", lambda: (False, FALLBACK.split(";")[0]))
    sandbox = resolve_sandbox("auto")
    assert sandbox.name == "none"
    for tool, args in (
        (ShellTool(), {"command": "make"}),
        (RunTestsTool(), {"command": "pytest -q"}),
    ):
        req, event = ask_once(log, tmp_path, sandbox, tool, args)
        assert req.unsandboxed == sandbox.reason and "unsandboxed" in req.unsandboxed
        assert event["unsandboxed"] == sandbox.reason  # an attached UI sees it too


def test_no_warning_in_the_sandbox_or_for_a_tool_that_runs_nothing(
    log: AuditLog, tmp_path: Path
) -> None:
    req, _ = ask_once(log, tmp_path, Sandbox(name="none", reason="off"), EchoTool(), {"text": "x"})
    assert req.unsandboxed == ""
    if sandbox_mod.bwrap_status()[0]:
        req, event = ask_once(
            log, tmp_path, resolve_sandbox("bwrap"), ShellTool(), {"command": "make"}
        )
        assert req.unsandboxed == "" and event["unsandboxed"] == ""


def _request(unsandboxed: str) -> ApprovalRequest:
    return ApprovalRequest(
        session_id="s",
        call_id="c1",
        tool="shell",
        args={"command": "make test"},
        args_hash="h",
        sandbox="none",
        unsandboxed=unsandboxed,
    )


def test_the_console_prompt_warns() -> None:
    out = io.StringIO()
    approver = ConsoleApprover(stdin=io.StringIO("y\n"), stdout=out)
    approver.request(_request(FALLBACK))
    text = out.getvalue()
    assert "NO SANDBOX" in text and FALLBACK in text
    out = io.StringIO()
    ConsoleApprover(stdin=io.StringIO("y\n"), stdout=out).request(_request(""))
    assert "NO SANDBOX" not in out.getvalue()


class _Host(App[None]):
    def __init__(self, req: ApprovalRequest) -> None:
        super().__init__()
        self.req = req
        self.decision: ApprovalDecision | None = None

    def on_mount(self) -> None:
        self.push_screen(ApprovalScreen(self.req, by="me"), self._done)

    def _done(self, decision: ApprovalDecision | None) -> None:
        self.decision = decision


@pytest.mark.parametrize("why", [FALLBACK, ""])
async def test_the_dialog_warns_under_the_title(why: str) -> None:
    app = _Host(_request(why))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        found = app.screen.query("#nosandbox")
        if why:
            banner = found.first(Static)
            assert "NO SANDBOX" in str(banner.render()) and why in str(banner.render())
            assert banner.region.height >= 1  # on screen, not scrolled away
        else:
            assert not found
        await pilot.press("y")
        await pilot.pause()
    assert app.decision is not None and app.decision.decision == "approve"


def test_an_attached_ui_rebuilds_the_warning_from_the_log() -> None:
    p = {"call_id": "c1", "tool": "shell", "args": {"command": "make"}, "unsandboxed": FALLBACK}
    assert request_from_event("s", "approval_requested", p, 0, "none").unsandboxed == FALLBACK
    assert (
        request_from_event("s", "approval_requested", {"call_id": "c"}, 0, "none").unsandboxed == ""
    )
