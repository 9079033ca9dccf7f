"""Counterfactual audit: what another policy would have decided.

Every recorded action that reached the policy is judged again, from the log
alone: the validated args and the facts the tool reported at the time (for
``shell``, ``facts.commands`` — the source the policy parses), against the
session's recorded workspace. Nothing is executed and no tool is asked
anything: a tool's ``facts`` may look at the file system, which has moved on
since, and the question is what the new policy says about *what happened*.

Decisions made by the broker itself, not by the policy (the guard that keeps
tools away from overseer's own files, and fail-closed denials when a tool
could not describe its effects), do not depend on the policy and are kept as
they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import PolicyError, UsageError
from ..log import EventStore
from ..policy.base import Policy, Verdict
from ..toolapi import Facts
from .timeline import Action, load_session

BROKER_RULES = ("builtin:protect-overseer", "builtin:fail-closed")


class Change(BaseModel):
    """One action whose decision would change. The first six keys are the
    documented ``--json`` contract; the rest help a reader."""

    seq: int
    tool: str
    args: Any
    recorded: str
    now: str
    rule: str | None
    call_id: str
    recorded_rule: str | None = None
    reason: str = ""
    outcome: str | None = None  # what actually happened: ok, denied...
    decided_by: str = ""


@dataclass
class AuditResult:
    session_id: str
    policy: str
    judged: int  # actions re-evaluated
    skipped: int  # actions that never reached the policy (invalid, unknown tool)
    changes: list[Change]


def load_policy_ref(ref: str) -> Policy:
    """A policy by shipped name (``default``, ``strict``) or file path."""
    try:
        from ..policy import load_policy  # type: ignore[attr-defined]
    except ImportError as exc:  # the policy engine is not installed in this build
        raise UsageError(f"cannot load policies in this installation: {exc}") from exc
    try:
        policy: Policy = load_policy(ref)
    except (PolicyError, UsageError):
        raise
    except FileNotFoundError as exc:
        raise UsageError(f"no policy named {ref!r} and no such file") from exc
    except OSError as exc:
        raise UsageError(f"cannot read policy {ref!r}: {exc}") from exc
    return policy


def recorded_facts(action: Action) -> Facts:
    raw = dict(action.decided.payload.get("facts") or {}) if action.decided else {}
    known = {k: v for k, v in raw.items() if k in Facts.model_fields}
    try:
        return Facts.model_validate(known)
    except ValidationError:
        return Facts()


def judge(policy: Policy, action: Action, workspace: Path) -> Verdict:
    """The new policy's verdict on one recorded action (never raises)."""
    if action.rule in BROKER_RULES:
        p = action.decided.payload if action.decided else {}
        return Verdict(
            decision=p.get("decision", "deny"), rule=action.rule, reason=p.get("reason", "")
        )
    args = action.canonical_args
    if not isinstance(args, dict):
        args = {}
    try:
        verdict = policy.decide(action.tool, args, recorded_facts(action), workspace)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"policy returned {type(verdict).__name__}, not a Verdict")
    except Exception as exc:  # noqa: BLE001 - the broker would deny: so does the audit
        return Verdict(decision="deny", rule="builtin:fail-closed", reason=f"policy error: {exc}")
    return verdict


def audit_session(log: EventStore, session_id: str, policy: Policy) -> AuditResult:
    """Re-judge a session's actions under ``policy``; list those that change."""
    rec = load_session(log, session_id)
    workspace = Path(rec.workspace or ".")
    changes: list[Change] = []
    judged = skipped = 0
    for action in rec.actions:
        if action.decided is None:
            skipped += 1
            continue
        judged += 1
        verdict = judge(policy, action, workspace)
        recorded = str(action.decision)
        if verdict.decision == recorded:
            continue
        changes.append(
            Change(
                seq=action.seq,
                tool=action.tool,
                args=action.canonical_args,
                recorded=recorded,
                now=verdict.decision,
                rule=verdict.rule,
                call_id=action.call_id,
                recorded_rule=action.rule,
                reason=verdict.reason,
                outcome=action.status,
                decided_by=action.decided_by,
            )
        )
    return AuditResult(rec.id, getattr(policy, "name", "?"), judged, skipped, changes)
