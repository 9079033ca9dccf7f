"""Search across sessions: full-text over what actions did and why.

``search(log, "git push", tool="shell")`` answers "which sessions ran git
push"; ``decision="deny"`` "where was something denied"; a path with
``decision="approve"`` "who approved a write to it". Matching events of the
same call are reported once, as one ``Hit`` carrying the call's context:
its tool, the policy's decision, who approved or denied it, and the outcome.

Query syntax: words are matched as words (every word must occur; punctuation
separates words, so ``src/app.py`` matches that path). A query containing a
double quote, ``*``, ``AND``, ``OR``, ``NOT`` or ``NEAR`` is passed to FTS5
as written, e.g. ``'"git push"'`` for an exact phrase. The store runs the
query (``EventStore.search_rows``): FTS5 in the local log, PostgreSQL's
full-text search in a team store.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import SessionNotFound, UsageError
from ..events import now_ns
from ..log import EventStore
from ..log import fts as index
from ..log.fts import fts_query  # noqa: F401 - re-exported: the query syntax is part of search
from .timeline import Action, group_actions

POLICY_DECISIONS = ("allow", "ask", "deny")
APPROVAL_DECISIONS = ("approve", "always", "edit", "terminate")
DECISIONS = (*POLICY_DECISIONS, *APPROVAL_DECISIONS)
_CALL_KINDS = [
    "action_proposed",
    "policy_decided",
    "approval_requested",
    "approval_decided",
    "action_started",
    "action_finished",
]


@dataclass
class Hit:
    """One matching call (or one matching event that belongs to no call)."""

    session_id: str
    seq: int  # the first matching event
    ts: int
    kind: str  # of the first matching event
    excerpt: str
    call_id: str | None = None
    tool: str | None = None
    args: Any = None
    decision: str | None = None  # the policy's
    rule: str | None = None
    approval: str | None = None  # approve, deny, always... by a person or approver
    approved_by: str | None = None
    approval_reason: str | None = None
    outcome: str | None = None  # ok, failed, denied...
    matched: list[int] = field(default_factory=list)  # seqs of every matching event of the call
    workspace: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_since(text: str) -> int:
    """``--since``: a date or time (ISO 8601, UTC unless an offset is given)
    or an age such as ``90m``, ``12h``, ``7d``, ``2w``; returns epoch ns."""
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        delta = {
            "m": timedelta(minutes=n),
            "h": timedelta(hours=n),
            "d": timedelta(days=n),
            "w": timedelta(weeks=n),
        }[unit]
        return now_ns() - int(delta.total_seconds() * 1e9)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a date (2025-01-31, 2025-01-31T12:00) or an age (90m, 12h, 7d, 2w)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return max(0, min(int(dt.timestamp() * 1e9), 2**63 - 1))  # SQLite integers are 64-bit


def _field(payload: Any, path: str) -> Any:
    cur = payload
    for part in path.removeprefix("$.").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def excerpt(kind: str, payload: dict[str, Any], query: str, width: int = 140) -> str:
    """A short piece of the event's indexed text around the first query word."""
    parts = []
    for path in index.INDEXED.get(kind, ()):
        value = _field(payload, path)
        if value in (None, "", [], {}):
            continue
        parts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    text = " ".join(" ".join(parts).split())
    words = [
        w.lower()
        for w in re.findall(r"\w+", query)
        if w.upper() not in ("AND", "OR", "NOT", "NEAR")
    ]
    low = text.lower()
    pos = min((p for p in (low.find(w) for w in words) if p >= 0), default=0)
    start = max(0, pos - width // 3)
    out = text[start : start + width]
    return ("…" if start else "") + out + ("…" if start + width < len(text) else "")


class _Calls:
    """Each session's calls, read once per search (not once per hit)."""

    def __init__(self, log: EventStore) -> None:
        self.log = log
        self._cache: dict[str, dict[str, Action]] = {}
        self._workspaces: dict[str, str] = {}

    def get(self, sid: str, call_id: str) -> Action | None:
        if sid not in self._cache:
            acts = group_actions(self.log.events(sid, kinds=_CALL_KINDS))
            self._cache[sid] = {a.call_id: a for a in acts}
        return self._cache[sid].get(call_id)

    def workspace(self, sid: str) -> str:
        if sid not in self._workspaces:
            try:
                workspace = self.log.session_row(sid).get("workspace")
            except SessionNotFound:  # events whose session row is gone
                workspace = None
            self._workspaces[sid] = workspace or ""
        return self._workspaces[sid]


def _matches_decision(hit: Hit, decision: str) -> bool:
    if decision in POLICY_DECISIONS and hit.decision == decision:
        return True
    if decision == "deny" and (hit.approval == "deny" or hit.outcome == "denied"):
        return True
    if decision == "approve":
        return hit.approval in ("approve", "always")
    return hit.approval == decision


def search(
    log: EventStore,
    query: str,
    *,
    kind: str | None = None,
    tool: str | None = None,
    decision: str | None = None,
    since: int | None = None,
    limit: int | None = 100,
) -> list[Hit]:
    """Calls and events matching ``query`` and the filters, newest first."""
    if decision is not None and decision not in DECISIONS:
        raise UsageError(f"unknown decision {decision!r}; choose one of {', '.join(DECISIONS)}")

    calls = _Calls(log)
    hits: dict[tuple[str, str], Hit] = {}
    order: list[Hit] = []
    for ev in log.search_rows(query if query.strip() else None, kind=kind, since=since):
        cid = ev.payload.get("call_id")
        key = (ev.session_id, str(cid) if cid is not None else f"#{ev.seq}")
        if key in hits:
            hits[key].matched.append(ev.seq)
            if ev.seq < hits[key].seq:  # report the call from its earliest matching event
                hits[key].seq, hits[key].ts, hits[key].kind = ev.seq, ev.ts, ev.kind
                hits[key].excerpt = excerpt(ev.kind, ev.payload, query)
            continue
        hit = Hit(
            ev.session_id,
            ev.seq,
            ev.ts,
            ev.kind,
            excerpt(ev.kind, ev.payload, query),
            matched=[ev.seq],
        )
        hit.workspace = calls.workspace(ev.session_id)
        if cid is not None:
            hit.call_id = str(cid)
            act = calls.get(ev.session_id, str(cid))
            if act is not None:
                hit.tool, hit.args = act.tool, act.canonical_args
                hit.decision, hit.rule, hit.outcome = act.decision, act.rule, act.status
                if act.approval is not None:
                    hit.approval = act.approval.payload.get("decision")
                    hit.approved_by = act.approval.payload.get("by")
                    hit.approval_reason = act.approval.payload.get("reason") or None
        if hit.tool is None and isinstance(ev.payload.get("tool"), str):
            hit.tool = ev.payload["tool"]
        hits[key] = hit
        order.append(hit)
    out = []
    for hit in order:
        if tool is not None and hit.tool != tool:
            continue
        if decision is not None and not _matches_decision(hit, decision):
            continue
        hit.matched.sort()
        out.append(hit)
        if limit is not None and len(out) >= limit:
            break
    return out
