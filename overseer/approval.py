"""Approvers: who says yes or no when the policy says ``ask``.

An approver is anything with ``name`` and ``request(req) -> ApprovalDecision``
(the ``Approver`` protocol). ``request`` may block; the broker enforces the
timeout and treats an exception, a timeout or a malformed answer as deny.
The same channel carries the agent's questions (``kind="question"``), whose
answer travels in ``ApprovalDecision.answer``.

Built-ins: ``approve-all`` and ``deny-all`` (explicit, recorded as such on
every decision), ``console`` (a prompt in this terminal) and ``remote`` (waits
for a decision written into the log by another process). The TUI approver
lives in ``overseer.tui``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, Literal, Protocol, TextIO, runtime_checkable

from pydantic import BaseModel, Field

from .events import ApprovalChoice, PartDecision, who


class ApprovalRequest(BaseModel):
    """What the approver is shown: exactly the args that will run."""

    session_id: str
    call_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    args_hash: str = ""
    preview: str | None = None
    decision: str = "ask"
    rule: str | None = None
    reason: str = ""
    parts: list[PartDecision] = Field(default_factory=list)
    sandbox: str = "none"
    # Why the call's commands or code would run with no sandbox (auto fell
    # back, or --sandbox none); "" when they run in one or the call runs none.
    unsandboxed: str = ""
    timeout_s: float = 600.0
    deadline: float = 0.0  # time.time() after which the broker denies
    grant_preview: str | None = None  # the narrow rule "always" would add; None: not offered
    kind: Literal["approval", "question"] = "approval"
    question: str = ""
    choices: list[str] = Field(default_factory=list)


def no_sandbox_warning(why: str) -> str:
    """The line an approver shows when the command would run unsandboxed."""
    return (
        "!! NO SANDBOX: this runs with your full user rights, outside any wall "
        f"(it can read and change anything you can) — {why}"
    )


class ApprovalDecision(BaseModel):
    decision: ApprovalChoice
    reason: str = ""
    by: str = ""
    edited_args: dict[str, Any] | None = None
    args_hash: str = ""  # the hash of the args the person saw
    answer: str | None = None  # for questions


@runtime_checkable
class Approver(Protocol):
    name: str

    def request(self, req: ApprovalRequest) -> ApprovalDecision: ...


class ApproveAll:
    """Approves everything, and says so on every decision. Questions get
    "no one is available" since no person is there to answer."""

    name = "approve-all"

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        if req.kind == "question":
            return ApprovalDecision(
                decision="deny", by=self.name, answer=NO_ONE, reason="no person is available"
            )
        return ApprovalDecision(
            decision="approve", by=self.name, args_hash=req.args_hash, reason="approve-all approver"
        )


class DenyAll:
    name = "deny-all"

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(
            decision="deny",
            by=self.name,
            args_hash=req.args_hash,
            reason="no person is available to approve (deny-all approver)",
            answer=NO_ONE if req.kind == "question" else None,
        )


NO_ONE = (
    "No one is available to answer; proceed with the most conservative choice or stop and report."
)


class ConsoleApprover:
    """Prompts in the terminal. One prompt at a time (a lock), since parallel
    tool calls would otherwise interleave their questions."""

    name = "console"

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stderr
        self._lock = threading.Lock()
        self.by = who()

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def _read(self, prompt: str) -> str:
        self._say(prompt)
        line = self.stdin.readline()
        if not line:
            raise EOFError("the terminal closed")
        return line.strip()

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        with self._lock:
            if req.kind == "question":
                return self._question(req)
            return self._approval(req)

    def _question(self, req: ApprovalRequest) -> ApprovalDecision:
        self._say(f"\n? The agent asks: {req.question}\n")
        for i, c in enumerate(req.choices, 1):
            self._say(f"  {i}) {c}\n")
        answer = self._read("answer> ")
        if req.choices and answer.isdigit() and 1 <= int(answer) <= len(req.choices):
            answer = req.choices[int(answer) - 1]
        return ApprovalDecision(decision="approve", by=self.by, answer=answer)

    def _approval(self, req: ApprovalRequest) -> ApprovalDecision:
        self._say(f"\n== approval needed: {req.tool} [{req.call_id}] ==\n")
        if req.tool == "shell" and "command" in req.args:
            self._say(f"  command: {req.args['command']}\n")
        else:
            self._say(f"  args: {json.dumps(req.args, indent=2, sort_keys=True)}\n")
        for part in req.parts:
            self._say(
                f"    - {part.command}: {part.decision} ({part.rule or 'default'}: {part.reason})\n"
            )
        self._say(f"  policy: {req.decision} by {req.rule or 'default'}: {req.reason}\n")
        self._say(f"  sandbox: {req.sandbox}\n")
        if req.unsandboxed:
            self._say(f"  {no_sandbox_warning(req.unsandboxed)}\n")
        if req.preview:
            self._say(
                "  preview:\n" + "".join(f"    {ln}\n" for ln in req.preview.splitlines()[:60])
            )
        keys = "[y]es / [n]o / [e]dit / [t]erminate" + (" / [a]lways" if req.grant_preview else "")
        if req.grant_preview:
            self._say(f"  always would add: {req.grant_preview}\n")
        while True:
            choice = self._read(f"approve? {keys}> ").lower()[:1]
            if choice == "y":
                return ApprovalDecision(decision="approve", by=self.by, args_hash=req.args_hash)
            if choice == "n":
                reason = self._read("reason (sent to the agent)> ")
                return ApprovalDecision(
                    decision="deny", by=self.by, reason=reason, args_hash=req.args_hash
                )
            if choice == "t":
                return ApprovalDecision(decision="terminate", by=self.by, args_hash=req.args_hash)
            if choice == "a" and req.grant_preview:
                return ApprovalDecision(decision="always", by=self.by, args_hash=req.args_hash)
            if choice == "e":
                text = self._read("new args as JSON> ")
                try:
                    edited = json.loads(text)
                    if not isinstance(edited, dict):
                        raise ValueError("args must be a JSON object")
                except ValueError as exc:
                    self._say(f"  not valid: {exc}\n")
                    continue
                return ApprovalDecision(
                    decision="edit", by=self.by, edited_args=edited, args_hash=req.args_hash
                )
            self._say("  please answer y, n, e, t" + (" or a" if req.grant_preview else "") + "\n")


class RemoteApprover:
    """Waits for a decision posted into the log's inbox by another process:
    `overseer approve SESSION CALL_ID [--deny --reason ...]`, or an attached UI."""

    name = "remote"
    POLL_S = 0.05

    def __init__(self, log: Any, session_id: str) -> None:
        self.log = log
        self.session_id = session_id
        self._lock = threading.Lock()
        self._mailbox: dict[str, dict[str, Any]] = {}

    def _collect(self) -> None:
        with self._lock:
            for row in self.log.take(self.session_id, "decision"):
                p = row["payload"]
                p.setdefault("by", row["by"])
                self._mailbox[str(p.get("call_id"))] = p

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        deadline = req.deadline or (time.time() + req.timeout_s)
        while time.time() < deadline:
            self._collect()
            with self._lock:
                p = self._mailbox.pop(req.call_id, None)
            if p is not None:
                return ApprovalDecision(
                    decision=p.get("decision", "deny"),
                    reason=p.get("reason", ""),
                    by=p.get("by") or "remote",
                    edited_args=p.get("edited_args"),
                    args_hash=p.get("args_hash") or req.args_hash,
                    answer=p.get("answer"),
                )
            time.sleep(self.POLL_S)
        raise TimeoutError(f"no remote decision within {req.timeout_s:.0f} s")


APPROVERS = ("console", "approve-all", "deny-all", "remote", "tui")
