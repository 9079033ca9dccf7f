"""The judging stage: what a call touches (the tool's facts), the hard guard,
then the policy — and the ``policy_decided`` record of the outcome.

Fail closed (invariant 2): a tool that cannot say what it touches, a guard
that cannot work out the paths, a policy that raises or answers with
something other than a ``Verdict`` — each is a recorded deny, never an allow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..policy.base import Policy, Verdict
from ..toolapi import Facts, Tool, ToolContext
from .guard import GUARD_RULE, Guard

FAIL_CLOSED_RULE = "builtin:fail-closed"


def judge(
    tool: Tool,
    name: str,
    args: dict[str, Any],
    ctx: ToolContext,
    *,
    policy: Policy,
    guard: Guard,
    workspace: Path,
) -> tuple[Verdict, Facts | None]:
    """The verdict on a validated call, and the facts it was judged on."""
    try:
        facts = tool.facts(tool.Args.model_validate(args), ctx)
        if not isinstance(facts, Facts):
            facts = Facts.model_validate(facts)
    except Exception as exc:  # noqa: BLE001 - a tool that cannot say what it touches does not run
        return Verdict(
            decision="deny",
            rule=FAIL_CLOSED_RULE,
            reason=f"tool could not describe its effects: {exc}",
        ), None
    refused = guard.check(args, facts)
    if refused:
        return Verdict(decision="deny", rule=GUARD_RULE, reason=refused), facts
    try:
        verdict = policy.decide(name, args, facts, workspace)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"policy returned {type(verdict).__name__}, not a Verdict")
    except Exception as exc:  # noqa: BLE001 - fail closed
        return Verdict(decision="deny", rule=FAIL_CLOSED_RULE, reason=f"policy error: {exc}"), facts
    return verdict, facts


def decision_record(
    call_id: str, verdict: Verdict, ahash: str, facts: Facts | None
) -> dict[str, Any]:
    """The ``policy_decided`` payload, bound to the hash of the args judged."""
    return {
        "call_id": call_id,
        "decision": verdict.decision,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "parts": list(verdict.parts),  # the event's own model: not converted twice
        "args_hash": ahash,
        "facts": facts.model_dump() if facts else {},
    }
