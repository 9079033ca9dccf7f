"""The asking stage: a person's decision on a call the policy asks about, and
the agent's questions to the person — both through the session's approver.

``Approvals.ask`` shows the approver the exact canonical arguments and their
hash, waits at most the approval timeout, and records the request and the
settled answer. Settling is where fail-closed lives (invariant 2): a timeout,
an approver that raises or answers garbage, or an approval for arguments
other than the ones shown (invariant 3) is a deny; "always" with no narrow
grant to offer is an approval of this one call. What the broker does with the
answer (run, add the grant, re-propose an edit, stop) is the broker's.
"""

from __future__ import annotations

import concurrent.futures
import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..approval import ApprovalDecision, ApprovalRequest, Approver
from ..grants import Grant, propose
from ..policy.base import Verdict
from ..toolapi import Facts, Tool, ToolCall, ToolContext
from .record import Recorder


@dataclass(slots=True)
class Answer:
    """A settled approval decision, as recorded in ``approval_decided``."""

    decision: ApprovalDecision
    by: str  # who decided: the approver's answer, else the approver's name
    grant: Grant | None = None  # the grant to add when the decision is "always"


class Approvals:
    """The session's approver behind a deadline, with the records of asking."""

    def __init__(
        self,
        approver: Approver,
        recorder: Recorder,
        *,
        timeout: float = 600.0,
        sandbox: str = "none",
        sandbox_reason: str = "",
    ) -> None:
        self.approver = approver
        self.recorder = recorder
        self.session_id = recorder.session_id
        self.timeout = timeout
        self.sandbox = sandbox  # named on every request: the person sees where it runs
        self.sandbox_reason = sandbox_reason
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="approver"
        )

    def ask(
        self,
        call: ToolCall,
        call_id: str,
        tool: Tool,
        args: dict[str, Any],
        ahash: str,
        verdict: Verdict,
        ctx: ToolContext,
        facts: Facts | None = None,
        workspace: Path | None = None,
    ) -> Answer:
        """Ask about one validated call; record the request and the answer."""
        try:
            preview = tool.preview(tool.Args.model_validate(args), ctx)
        except Exception as exc:  # noqa: BLE001 - show the failure rather than nothing
            preview = f"(preview unavailable: {exc})"
        grant = propose(call.name, args, verdict, facts, workspace)
        timeout = self.timeout
        # The tool says where its commands run; with none, the person is told.
        unsandboxed = ""
        if facts is not None and facts.sandbox == "none":
            unsandboxed = self.sandbox_reason or "no sandbox"
        req = ApprovalRequest(
            session_id=self.session_id,
            call_id=call_id,
            tool=call.name,
            args=copy.deepcopy(args),
            args_hash=ahash,
            preview=preview,
            decision=verdict.decision,
            rule=verdict.rule,
            reason=verdict.reason,
            parts=verdict.parts,
            sandbox=self.sandbox,
            unsandboxed=unsandboxed,
            timeout_s=timeout,
            deadline=time.time() + timeout,
            grant_preview=grant.describe() if grant else None,
        )
        self.recorder.record(
            "approval_requested",
            {
                "call_id": call_id,
                "tool": call.name,
                "args": args,
                "args_hash": ahash,
                "preview": preview,
                "rule": verdict.rule,
                "reason": verdict.reason,
                "parts": [p.model_dump() for p in verdict.parts],
                "approver": self.approver.name,
                "timeout_s": int(timeout),
                "sandbox": self.sandbox,
                "unsandboxed": unsandboxed,
                "grant_preview": req.grant_preview,
            },
        )
        started = time.monotonic()
        decision = self.request(req)
        latency = int((time.monotonic() - started) * 1000)
        answer = self.settle(decision, ahash, grant, call_id)
        record: dict[str, Any] = {
            "call_id": call_id,
            "decision": answer.decision.decision,
            "by": answer.by,
            "reason": answer.decision.reason,
            "args_hash": ahash,
            "latency_ms": latency,
        }
        if answer.decision.decision == "edit":
            record["edited_args"] = answer.decision.edited_args
        if answer.grant is not None:
            record["grant_id"] = answer.grant.id
        self.recorder.record("approval_decided", record)
        return answer

    def settle(
        self, decision: ApprovalDecision, ahash: str, grant: Grant | None, call_id: str
    ) -> Answer:
        """What an approver's answer means for this call (fail closed)."""
        # An answer about other args than the ones shown is no answer.
        if (
            decision.decision in ("approve", "always")
            and decision.args_hash
            and decision.args_hash != ahash
        ):
            decision = ApprovalDecision(
                decision="deny",
                by=decision.by,
                reason="the approval was for different arguments than the ones shown",
            )
        by = decision.by or self.approver.name
        if decision.decision != "always":
            return Answer(decision, by)
        if grant is None:
            return Answer(
                ApprovalDecision(
                    decision="approve",
                    by=decision.by,
                    reason="approved once: no narrow grant exists for this call",
                ),
                by,
            )
        grant.by, grant.call_id = by, call_id
        return Answer(decision, by, grant)

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        """The approver's answer, or a deny on timeout/exception/garbage."""
        future = self._pool.submit(self.approver.request, req)
        try:
            decision = future.result(timeout=req.timeout_s)
            if not isinstance(decision, ApprovalDecision):
                decision = ApprovalDecision.model_validate(decision)
            return decision
        except concurrent.futures.TimeoutError:
            withdraw = getattr(self.approver, "withdraw", None)
            if callable(withdraw):
                try:
                    withdraw(req.call_id)
                except Exception:  # noqa: BLE001, S110
                    pass
            return ApprovalDecision(
                decision="deny", by="timeout", reason=f"no decision within {req.timeout_s:.0f} s"
            )
        except Exception as exc:  # noqa: BLE001 - an approver crash is a deny
            return ApprovalDecision(
                decision="deny", by="fail-closed", reason=f"approver failed: {exc}"
            )

    def question(
        self, call_id: str, question: str, choices: list[str] | None = None
    ) -> tuple[str, bool]:
        """The person's answer to the agent's question, and whether they
        terminated the session instead."""
        choices = list(choices or [])
        self.recorder.record(
            "question_asked", {"call_id": call_id, "question": question, "choices": choices}
        )
        req = ApprovalRequest(
            session_id=self.session_id,
            call_id=call_id,
            tool="ask_human",
            kind="question",
            question=question,
            choices=choices,
            timeout_s=self.timeout,
            deadline=time.time() + self.timeout,
        )
        decision = self.request(req)
        answer = decision.answer
        if answer is None:
            answer = f"(no answer: {decision.reason or decision.decision})"
        terminated = decision.decision == "terminate"
        if terminated:
            answer = "(the person terminated the session)"
        self.recorder.record(
            "question_answered",
            {"call_id": call_id, "answer": answer, "by": decision.by or self.approver.name},
        )
        return answer, terminated

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
