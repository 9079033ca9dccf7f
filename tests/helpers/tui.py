"""Helpers for the TUI tests: sessions opened for real (the default policy,
the built-in tools, a git workspace, an audit log on a tmp file), the live
app around them, and a wait for a condition while the app runs."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.css.query import NoMatches

from overseer.agent.script import Plan, ScriptAgent, Step
from overseer.approval import Approver
from overseer.session import Agent, Session, SessionConfig


def open_session(
    workspace: Path,
    log_path: Path,
    approver: Approver | None = None,
    *,
    timeout: float = 600.0,
    task: str = "tidy the workspace",
    policy: str = "default",
) -> Session:
    """A real session: the default policy, the built-in tools (through their
    entry points), no sandbox, no watcher (the tests look at the log)."""
    config = SessionConfig(
        task=task,
        agent="script",
        workspace=workspace,
        policy=policy,
        sandbox="none",
        approval_timeout=timeout,
        log_path=log_path,
        watch=False,
        snapshot=False,
    )
    return Session.open(config, approver=approver)


def plan(*steps: tuple[str, dict[str, Any]], final: str = "done") -> ScriptAgent:
    return ScriptAgent(Plan(steps=[Step(tool=t, args=a) for t, a in steps], final=final))


def live_app(workspace: Path, log_path: Path, agent: Agent, **kwargs: Any) -> Any:
    """A ``LiveApp`` running ``agent`` in a new session, as ``run_live`` builds it."""
    from overseer.tui.approver import TuiApprover
    from overseer.tui.live import LiveApp, LocalRun

    approver = TuiApprover(by="tester@tui")
    session = open_session(workspace, log_path, approver, **kwargs)
    return LiveApp(LocalRun(session, agent, approver))


async def wait_for(
    pilot: Any, cond: Callable[[], Any], timeout: float = 15.0, what: str = ""
) -> Any:
    """Let the app run until ``cond()`` is truthy (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = cond()
        except NoMatches:  # the widget is not mounted yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.02)
        await asyncio.sleep(0)


def text_of(widget: Any, width: int = 110) -> str:
    """The plain text a Static shows (its Rich renderable rendered)."""
    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    console.print(content)
    return console.export_text()
