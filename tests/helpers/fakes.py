"""Small real implementations used by tests: a fixed policy, recording
tools and approvers. They implement the same protocols as production code."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.events import Decision
from overseer.policy.base import Verdict
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult


class FixedPolicy:
    """Decides by tool name; ``raises`` makes decide() blow up."""

    name = "fixed"
    text = "# fixed test policy"
    hash = hashlib.sha256(text.encode()).hexdigest()

    def __init__(
        self,
        decisions: dict[str, Decision] | None = None,
        default: Decision = "ask",
        raises: bool = False,
    ):
        self.decisions = decisions or {}
        self.default = default
        self.raises = raises
        self.seen: list[tuple[str, dict[str, Any], Facts]] = []

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        self.seen.append((tool, args, facts))
        if self.raises:
            raise RuntimeError("policy exploded")
        decision = self.decisions.get(tool, self.default)
        if isinstance(args.get("text"), str) and "forbidden" in args["text"]:
            decision = "deny"
        return Verdict(decision=decision, rule=f"test:{tool}", reason=f"fixed {decision}")


class EchoArgs(BaseModel):
    text: str
    times: int = 1


class EchoTool(Tool):
    """Records every run with the args it received."""

    name = "echo"
    description = "echo text"
    Args = EchoArgs

    def __init__(self) -> None:
        self.runs: list[EchoArgs] = []
        self.paths: list[str] = []

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return Facts(reads=list(self.paths))

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.runs.append(args)
        return ToolResult(output=args.text * args.times)


class ScriptedApprover:
    """Answers from a list of decisions (or a callable); records the requests."""

    name = "scripted"

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []
        self.lock = threading.Lock()

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        with self.lock:
            self.requests.append(req)
            answer = self.answers.pop(0) if self.answers else "deny"
        if callable(answer):
            return answer(req)
        if isinstance(answer, ApprovalDecision):
            return answer
        if isinstance(answer, tuple):
            decision, extra = answer
            return ApprovalDecision(
                decision=decision, by="tester", args_hash=req.args_hash, **extra
            )
        return ApprovalDecision(
            decision=answer, by="tester", args_hash=req.args_hash, reason="scripted"
        )
