"""The ``Broker``: the one road from an agent's proposal to an effect, and
the order of its stages. Each stage lives in its own module and can be read
and tested alone; this class only sequences them and holds the session's
broker state (tools, grants, whether a person terminated the session).

``Broker.submit(call)`` does, in this order, and nothing can skip a step:

1. record ``action_proposed`` (``intake.propose``);
2. validate -> canonical args (``intake.validate``), hashed;
3. judge: facts, hard guard, policy (``judge.judge``) -> ``policy_decided``;
4. ``ask`` -> a covering session grant, or the approver (``ask.Approvals``);
5. record ``action_started``, durable and bound to the args' hash;
6. run the tool once (``run.run_once``);
7. record ``action_finished`` (``run.record_result``), return the result.

Every failure inside the broker ends in a recorded deny or error, never an
exception in the agent's loop and never an allow.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..approval import Approver
from ..canonical import args_hash
from ..errors import LogWriteError
from ..grants import Grant, GrantSet
from ..log import AuditLog
from ..paths import protected_paths
from ..policy.base import Policy, Verdict
from ..toolapi import Facts, Sandbox, Tool, ToolCall, ToolContext, ToolResult
from .ask import Answer, Approvals
from .guard import Guard
from .intake import propose, validate
from .judge import decision_record, judge
from .record import Held, Recorder
from .run import record_result, run_once

MAX_EDITS = 5  # an edit is a new proposal; a chain of them ends here


class Broker:
    """Mediates every tool call of one session. Thread-safe: a model may make
    several tool calls in parallel, each gets its own decision and record."""

    def __init__(
        self,
        log: AuditLog,
        session_id: str,
        tools: Mapping[str, Tool],
        policy: Policy,
        approver: Approver,
        workspace: Path,
        *,
        sandbox: Sandbox | None = None,
        approval_timeout: float = 600.0,
        grants: GrantSet | None = None,
        on_stream: Callable[[str, str], None] | None = None,
    ) -> None:
        self.log = log
        self.session_id = session_id
        self.tools = dict(tools)
        self.policy = policy
        self.workspace = Path(workspace).resolve()
        self.sandbox = sandbox or Sandbox()
        self.grants = grants or GrantSet()
        self.on_stream = on_stream
        self.terminated = False
        # Per-session state the tools keep between calls (the persistent shell).
        self.tool_state: dict[str, Any] = {}
        self.recorder = Recorder(log, session_id)
        self.guard = Guard(protected_paths(log.path), self.workspace)
        self.approvals = Approvals(
            approver,
            self.recorder,
            timeout=approval_timeout,
            sandbox=self.sandbox.name,
            sandbox_reason=self.sandbox.reason,
        )

    @property
    def approver(self) -> Approver:
        return self.approvals.approver

    @property
    def approval_timeout(self) -> float:
        return self.approvals.timeout

    @property
    def failure(self) -> str | None:
        """Why the log broke, once it has: everything after is denied."""
        return self.recorder.failure

    # -- public -----------------------------------------------------------

    def submit(self, call: ToolCall) -> ToolResult:
        """Mediate one call. Never raises."""
        try:
            return self._submit(call, depth=0)
        except Exception as exc:  # noqa: BLE001 - the last line of fail-closed
            return ToolResult.fail(
                f"overseer could not mediate this call ({exc}); it was not run", "denied"
            )

    def ask_human(self, call_id: str, question: str, choices: list[str] | None = None) -> str:
        """A question from the agent to the person, through the approver channel."""
        answer, terminated = self.approvals.question(call_id, question, choices)
        if terminated:
            self.terminated = True
        return answer

    def add_grant(self, grant: Grant) -> None:
        self.recorder.record(
            "grant_added",
            {
                "grant_id": grant.id,
                "tool": grant.tool,
                "prefix": grant.prefix,
                "options": grant.options,
                "dirs": grant.dirs,
                "hosts": grant.hosts,
                "description": grant.describe(),
                "by": grant.by,
                "call_id": grant.call_id,
            },
        )
        self.grants.add(grant)

    def revoke_grant(self, grant_id: str, by: str, reason: str = "") -> Grant | None:
        grant = self.grants.revoke(grant_id)
        if grant is not None:
            self.recorder.record(
                "grant_revoked", {"grant_id": grant_id, "by": by, "reason": reason}
            )
        return grant

    def close(self) -> None:
        self.approvals.close()
        for tool in self.tools.values():
            try:
                tool.close()
            except Exception:  # noqa: BLE001, S110 - closing must not stop closing the rest
                pass

    # -- the road ---------------------------------------------------------

    def _submit(self, call: ToolCall, depth: int) -> ToolResult:
        held: Held = []
        try:
            return self._mediate(call, depth, held)
        finally:
            if held:  # an exit nobody planned: what was proposed still reaches the log
                with contextlib.suppress(LogWriteError):
                    self.recorder.flush(held, durable=True)

    def _mediate(self, call: ToolCall, depth: int, held: Held) -> ToolResult:
        finish = self.recorder.finish
        # 1. the proposal, held until the call's next record
        proposal = propose(call)
        call, call_id = proposal.call, proposal.call_id
        held.append(("action_proposed", proposal.record))
        if proposal.refusal is not None:
            return finish(
                call_id, call.name, proposal.refusal.status, proposal.refusal.message, held
            )
        if self.failure:
            return finish(
                call_id,
                call.name,
                "denied",
                f"the audit log failed earlier ({self.failure}); nothing more runs",
                held,
            )
        if self.terminated:
            return finish(
                call_id, call.name, "terminated", "the session was terminated by a person", held
            )

        # 2. canonical arguments
        valid = validate(self.tools, call, plain=proposal.plain)
        if not isinstance(valid, tuple):
            return finish(call_id, call.name, valid.status, valid.message, held)
        tool, canonical = valid
        ahash = args_hash(call.name, canonical)

        # 3. the verdict
        ctx = self._context(call_id, timeout=canonical.get("timeout"))
        verdict, facts = judge(
            tool,
            call.name,
            canonical,
            ctx,
            policy=self.policy,
            guard=self.guard,
            workspace=self.workspace,
        )
        held.append(("policy_decided", decision_record(call_id, verdict, ahash, facts)))
        if verdict.decision == "deny":
            return finish(
                call_id,
                call.name,
                "denied",
                f"denied by policy ({verdict.rule or 'default'}): {verdict.reason}",
                held,
            )

        # 4. a person, when the policy asks
        decided_by = "policy"
        if verdict.decision == "ask":
            outcome = self._ask(
                call, call_id, tool, canonical, ahash, verdict, ctx, depth, held, facts
            )
            if isinstance(outcome, ToolResult):
                return outcome
            decided_by = outcome

        # 5. the decision is durable before anything runs, bound to the args' hash
        if args_hash(call.name, canonical) != ahash:
            return finish(
                call_id, call.name, "denied", "arguments changed after the decision; not run", held
            )
        try:
            self.recorder.record(
                "action_started",
                {
                    "call_id": call_id,
                    "tool": call.name,
                    "args": canonical,
                    "args_hash": ahash,
                    "decided_by": decided_by,
                    "rule": verdict.rule,
                    "sandbox": self.sandbox.name,
                },
                held,
            )
        except LogWriteError as exc:
            return ToolResult.fail(f"audit log cannot be written, nothing was run: {exc}", "denied")
        ctx.network_allowed = verdict.network

        # 6. run once, 7. record how it ended
        started = time.monotonic()
        try:
            result = run_once(tool, call.name, canonical, ctx)
        except KeyboardInterrupt:
            # Ctrl-C while a tool runs: record how the action ended before the
            # interrupt stops the agent, rather than leave its outcome unknown.
            self.terminated = True
            result = ToolResult.fail(
                f"{call.name} was interrupted by the person (Ctrl-C)", "terminated"
            )
            record_result(self.recorder, result, call.name, call_id, started)
            raise
        return record_result(self.recorder, result, call.name, call_id, started)

    def _context(self, call_id: str, timeout: Any = None) -> ToolContext:
        on_stream = self.on_stream
        return ToolContext(
            workspace=self.workspace,
            session_id=self.session_id,
            call_id=call_id,
            sandbox=self.sandbox,
            timeout_s=float(timeout) if isinstance(timeout, int | float) else None,
            stream=(lambda text: on_stream(call_id, text)) if on_stream else (lambda _t: None),
            store_blob=self.recorder.store_blob,
            ask=lambda q, choices: self.ask_human(call_id, q, choices),
            state=self.tool_state,
        )

    def _ask(
        self,
        call: ToolCall,
        call_id: str,
        tool: Tool,
        canonical: dict[str, Any],
        ahash: str,
        verdict: Verdict,
        ctx: ToolContext,
        depth: int,
        held: Held,
        facts: Facts | None = None,
    ) -> ToolResult | str:
        """Who allowed the call to run (a grant, a person), or how it ended."""
        # Recorded before anything else of the ask (revocations, the
        # request): the log keeps the order things happened in.
        try:
            self.recorder.flush(held, durable=False)
        except LogWriteError as exc:
            return ToolResult.fail(f"audit log cannot be written, nothing was run: {exc}", "denied")
        self._sync_revocations()
        grant = self.grants.covering(call.name, canonical, verdict, facts, self.workspace)
        if grant is not None:
            return f"grant:{grant.id}"
        answer = self.approvals.ask(
            call, call_id, tool, canonical, ahash, verdict, ctx, facts, self.workspace
        )
        return self._act_on(answer, call, call_id, depth)

    def _act_on(self, answer: Answer, call: ToolCall, call_id: str, depth: int) -> ToolResult | str:
        """Run (returns who decided), add the grant, re-propose an edit, or stop."""
        finish = self.recorder.finish
        decision = answer.decision
        by = f"approver:{answer.by}"
        if decision.decision == "approve":
            return by
        if decision.decision == "always":
            assert answer.grant is not None  # settle() turns a grantless "always" into approve
            self.add_grant(answer.grant)
            return f"{by}+grant:{answer.grant.id}"
        if decision.decision == "terminate":
            self.terminated = True
            return finish(
                call_id, call.name, "terminated", "a person terminated the session; stop now"
            )
        if decision.decision == "edit":
            if decision.edited_args is None or depth >= MAX_EDITS:
                return finish(
                    call_id, call.name, "denied", "edit without usable arguments; not run"
                )
            edited = ToolCall(
                id=f"{call_id}-e{depth + 1}",
                name=call.name,
                args=decision.edited_args,
                source="edit",
                parent_call_id=call_id,
            )
            finish(
                call_id,
                call.name,
                "edited",
                f"edited by {decision.by} into call {edited.id}",
                edited_into=edited.id,
            )
            return self._submit(edited, depth + 1)  # the edit takes the whole road again
        reason = decision.reason or "no reason given"
        return finish(call_id, call.name, "denied", f"denied by {answer.by}: {reason}")

    def _sync_revocations(self) -> None:
        """Apply revocations sent by `overseer revoke` from another process."""
        if not self.grants.list():
            return
        for row in self.log.take(self.session_id, "revoke"):
            p = row["payload"]
            self.revoke_grant(str(p.get("grant_id")), by=row["by"], reason=str(p.get("reason", "")))
