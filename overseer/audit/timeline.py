"""A session's events regrouped for auditors: one ``Action`` per tool call.

The log is a flat list of events; most audit questions are about calls
("what ran, who allowed it, what did it change"). ``load_session`` reads a
session once and ties each call's proposal, policy decision, approval,
start, finish, file changes and flags together by ``call_id``, so the
exports, the counterfactual audit and search all read calls the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..log import EventStore, StoredEvent
from ..log.verify import VerifyResult

# Statuses of an action that never ran.
NOT_RUN = ("denied", "edited", "invalid", "terminated")


@dataclass
class Action:
    """Everything the log says about one tool call."""

    call_id: str
    tool: str
    args: Any = None
    proposed: StoredEvent | None = None
    decided: StoredEvent | None = None  # policy_decided
    requested: StoredEvent | None = None  # approval_requested
    approval: StoredEvent | None = None  # approval_decided
    started: StoredEvent | None = None
    finished: StoredEvent | None = None
    files: list[StoredEvent] = field(default_factory=list)
    flags: list[StoredEvent] = field(default_factory=list)
    questions: list[StoredEvent] = field(default_factory=list)

    @property
    def seq(self) -> int:
        first = self.proposed or self.decided or self.started or self.finished
        return first.seq if first else 0

    @property
    def canonical_args(self) -> Any:
        """The validated args (what the policy judged) when recorded, else the raw proposal."""
        for ev in (self.started, self.requested):
            if ev is not None and ev.payload.get("args") is not None:
                return ev.payload["args"]
        return parse_args(self.args)

    @property
    def decision(self) -> str | None:
        return self.decided.payload.get("decision") if self.decided else None

    @property
    def rule(self) -> str | None:
        return self.decided.payload.get("rule") if self.decided else None

    @property
    def status(self) -> str | None:
        """The outcome: ok, failed, denied... or None when it never finished."""
        return self.finished.payload.get("status") if self.finished else None

    @property
    def approved_by(self) -> str | None:
        return self.approval.payload.get("by") if self.approval else None

    @property
    def decided_by(self) -> str:
        """Who let it run (or stopped it), in words."""
        if self.started is not None:
            return str(self.started.payload.get("decided_by", "policy"))
        if self.approval is not None:
            return f"approver:{self.approval.payload.get('by')}"
        if self.decided is not None:
            return "policy"
        return "broker"

    def seqs(self) -> list[int]:
        evs = [
            self.proposed,
            self.decided,
            self.requested,
            self.approval,
            self.started,
            self.finished,
        ]
        return sorted({e.seq for e in [*evs, *self.files] if e is not None})


@dataclass
class SessionRecord:
    """One session read for auditing."""

    id: str
    row: dict[str, Any]
    events: list[StoredEvent]
    actions: list[Action]
    started: dict[str, Any] = field(default_factory=dict)  # session_started payload
    ended: dict[str, Any] | None = None  # session_ended payload
    verify: VerifyResult | None = None

    @property
    def workspace(self) -> str:
        return str(self.started.get("workspace") or self.row.get("workspace") or "")

    def by_call(self) -> dict[str, Action]:
        return {a.call_id: a for a in self.actions}


def parse_args(args: Any) -> Any:
    """Raw proposed args may be a JSON string (as a model sent them)."""
    if isinstance(args, str):
        try:
            return json.loads(args) if args.strip() else {}
        except ValueError:
            return args
    return {} if args is None else args


def group_actions(events: Iterable[StoredEvent]) -> list[Action]:
    """Tie each call's events together by ``call_id`` (in proposal order)."""
    actions: list[Action] = []
    current: dict[str, Action] = {}
    for ev in events:
        p = ev.payload
        cid = p.get("call_id")
        if ev.kind == "action_proposed":
            # A repeated call id starts a new action: ids are unique in practice,
            # but a model may reuse one, and the later call must not hide the first.
            act = Action(
                call_id=str(cid), tool=str(p.get("tool", "")), args=p.get("args"), proposed=ev
            )
            current[str(cid)] = act
            actions.append(act)
            continue
        if cid is None:
            continue
        found = current.get(str(cid))
        if found is not None:
            act = found
        else:
            if ev.kind not in ("policy_decided", "action_started", "action_finished"):
                continue
            # A decision without a proposal (a partial or hand-built log): keep it visible.
            act = Action(call_id=str(cid), tool=str(p.get("tool", "")))
            current[str(cid)] = act
            actions.append(act)
        if ev.kind == "policy_decided":
            act.decided = ev
        elif ev.kind == "approval_requested":
            act.requested = ev
        elif ev.kind == "approval_decided":
            act.approval = ev
        elif ev.kind == "action_started":
            act.started = ev
        elif ev.kind == "action_finished":
            act.finished = ev
            if not act.tool:
                act.tool = str(p.get("tool", ""))
        elif ev.kind == "file_changed":
            act.files.append(ev)
        elif ev.kind == "flag_raised":
            act.flags.append(ev)
        elif ev.kind in ("question_asked", "question_answered"):
            act.questions.append(ev)
    return actions


def load_session(log: EventStore, session_id: str, *, verify: bool = False) -> SessionRecord:
    """Read a session (id or unique prefix) and group its calls."""
    sid = log.resolve(session_id)
    row = log.session(sid)
    events = list(log.events(sid))
    started: dict[str, Any] = {}
    ended: dict[str, Any] | None = None
    for ev in events:
        if ev.kind == "session_started" and not started:
            started = ev.payload
        elif ev.kind == "session_ended":
            ended = ev.payload
    rec = SessionRecord(sid, row, events, group_actions(events), started, ended)
    if verify:
        rec.verify = log.verify(sid)[0]
    return rec
