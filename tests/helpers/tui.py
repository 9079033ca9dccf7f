"""Helpers for the TUI tests: a deterministic policy that analyses shell
commands part by part, sessions opened on real logs and workspaces, and a
wait for a condition while the app runs."""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overseer.approval import Approver
from overseer.events import Decision, PartDecision
from overseer.policy.base import Verdict, strictest
from overseer.session import Session, SessionConfig
from overseer.toolapi import Facts

SAFE = {"echo", "ls", "cat", "true", "printf", "pwd", "sleep"}
DENIED = {"rm", "sudo"}


class PartsPolicy:
    """Shell: each ``&&``/``;`` part judged alone (safe programs allowed,
    ``rm``/``sudo`` denied, anything else asked); other tools by name."""

    name = "tui-test"
    text = "# the TUI tests' policy"
    hash = hashlib.sha256(text.encode()).hexdigest()

    def __init__(self, tools: dict[str, Decision] | None = None) -> None:
        self.tools = tools or {}

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        if tool != "shell":
            decision = self.tools.get(tool, "ask")
            return Verdict(
                decision=decision, rule=f"tools.{tool}", reason=f"{tool} is set to {decision}"
            )
        parts: list[PartDecision] = []
        for raw in str(args.get("command", "")).replace("&&", ";").split(";"):
            text = raw.strip()
            if not text:
                continue
            argv = shlex.split(text)
            prog = argv[0]
            decision: Decision = "allow" if prog in SAFE else "deny" if prog in DENIED else "ask"
            rule = {"allow": "shell.read-only", "deny": "shell.destructive", "ask": None}[decision]
            reason = {
                "allow": f"{prog} only reads",
                "deny": f"{prog} is never run by an agent",
                "ask": f"{prog} is not known to be safe",
            }[decision]
            parts.append(
                PartDecision(command=text, decision=decision, rule=rule, reason=reason, argv=argv)
            )
        overall = strictest([p.decision for p in parts], default="ask")
        first = next((p for p in parts if p.decision == overall), None)
        return Verdict(
            decision=overall,
            rule=first.rule if first else None,
            reason=first.reason if first else "empty command",
            parts=parts,
        )


def use_policy(monkeypatch: Any, policy: Any | None = None) -> Any:
    """Make ``Session.open`` load ``policy`` whatever the policy engine's state."""
    import overseer.policy as policy_pkg

    chosen = policy or PartsPolicy()
    monkeypatch.setattr(policy_pkg, "load_policy", lambda _ref=None, *a, **k: chosen, raising=False)
    return chosen


def open_session(
    workspace: Path,
    log_path: Path,
    approver: Approver | None = None,
    *,
    tools: list[str] | None = None,
    timeout: float = 600.0,
    task: str = "tidy the workspace",
) -> Session:
    config = SessionConfig(
        task=task,
        agent="script",
        workspace=workspace,
        policy="tui-test",
        sandbox="none",
        approval_timeout=timeout,
        tools=tools
        if tools is not None
        else ["overseer.tools.shell:ShellTool", "overseer.tools.files:WriteFileTool"],
        log_path=log_path,
        watch=False,
        snapshot=False,
    )
    return Session.open(config, approver=approver)


async def wait_for(
    pilot: Any, cond: Callable[[], Any], timeout: float = 10.0, what: str = ""
) -> Any:
    """Let the app run until ``cond()`` is truthy (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await pilot.pause(0.02)
        await asyncio.sleep(0)
