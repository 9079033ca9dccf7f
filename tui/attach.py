"""Attach to a session running elsewhere (``overseer run ... --approver remote``).

The same ``LiveApp``, with a backend that follows the log instead of owning
the session: every ~100 ms it reads the events after the last one it has
(``EventStore.events(sid, after=...)``), derives what is waiting for a decision
(``approval_requested`` / ``question_asked`` with no ``approval_decided`` /
``question_answered`` yet), and writes the person's decisions and steering
messages into the log's inbox, where the runner's ``RemoteApprover`` and
``Session.take_messages`` pick them up.
"""

from __future__ import annotations

from typing import Any

from overseer.approval import ApprovalDecision, ApprovalRequest, who
from overseer.events import PartDecision
from overseer.grants import propose
from overseer.log import EventStore
from overseer.policy.base import Verdict

from .approver import request_key
from .header import SessionHeader
from .live import EventTuple, LiveApp

BATCH = 2_000  # events per poll, so a long backlog does not freeze the UI


def request_from_event(
    session_id: str, kind: str, p: dict[str, Any], ts_ns: int, sandbox: str
) -> ApprovalRequest:
    """Rebuild what the runner's approver was shown from the logged event."""
    if kind == "question_asked":
        return ApprovalRequest(
            session_id=session_id,
            call_id=str(p.get("call_id")),
            tool="ask_human",
            kind="question",
            question=str(p.get("question") or ""),
            choices=[str(c) for c in p.get("choices") or []],
        )
    raw = p.get("args")
    args: dict[str, Any] = raw if isinstance(raw, dict) else {}
    parts = [PartDecision.model_validate(x) for x in p.get("parts") or []]
    # The runner records what "always" would add; logs from before that field
    # existed get the same pure function applied to the same logged facts.
    if "grant_preview" in p:
        grant_preview = p["grant_preview"]
    else:
        grant = propose(
            str(p.get("tool")), args, Verdict(decision="ask", rule=p.get("rule"), parts=parts)
        )
        grant_preview = grant.describe() if grant else None
    timeout = float(p.get("timeout_s") or 600)
    return ApprovalRequest(
        session_id=session_id,
        call_id=str(p.get("call_id")),
        tool=str(p.get("tool")),
        args=args,
        args_hash=str(p.get("args_hash") or ""),
        preview=p.get("preview"),
        decision="ask",
        rule=p.get("rule"),
        reason=str(p.get("reason") or ""),
        parts=parts,
        sandbox=str(p.get("sandbox") or sandbox),
        unsandboxed=str(p.get("unsandboxed") or ""),
        timeout_s=timeout,
        deadline=ts_ns / 1e9 + timeout,
        grant_preview=grant_preview,
    )


class Attached:
    """Follows a session in the log and decides through its inbox."""

    can_stop_agent = False  # quitting detaches; the runner goes on
    poll_interval = 0.1

    def __init__(self, log: EventStore, session_id: str, by: str | None = None) -> None:
        self.log = log
        self.session_id = log.resolve(session_id)
        self.by = by or who()
        self.sandbox = "none"
        self.sent: set[str] = set()  # decided here, not yet recorded by the runner
        self._ts: dict[int, int] = {}

    def start(self, app: LiveApp) -> None:
        app.query_one(SessionHeader).set_mode(f"attached as {self.by}")

    def fetch(self, after: int) -> list[EventTuple]:
        out: list[EventTuple] = []
        for e in self.log.events(self.session_id, after=after, limit=BATCH):
            if e.kind in ("approval_requested", "question_asked"):
                self._ts[e.seq] = e.ts
            out.append((e.seq, e.kind, e.payload))
        return out

    def observe(self, app: LiveApp, seq: int, kind: str, p: dict[str, Any]) -> None:
        """Keep the app's queue equal to what the log says is waiting."""
        if kind == "session_started":
            self.sandbox = str(p.get("sandbox") or "none")
        elif kind in ("approval_requested", "question_asked"):
            req = request_from_event(self.session_id, kind, p, self._ts.pop(seq, 0), self.sandbox)
            if request_key(req) not in self.sent:
                app.queue_request(req)
        elif kind in ("approval_decided", "question_answered"):
            key = f"{'approval' if kind == 'approval_decided' else 'question'}:{p.get('call_id')}"
            self.sent.discard(key)
            why = "" if p.get("by") == self.by else f"decided by {p.get('by')}"
            app.drop_request(key, why)

    def decide(self, key: str, req: ApprovalRequest, decision: ApprovalDecision) -> None:
        payload: dict[str, Any] = {
            "call_id": req.call_id,
            "decision": decision.decision,
            "reason": decision.reason,
            "args_hash": decision.args_hash or req.args_hash,
        }
        if decision.edited_args is not None:
            payload["edited_args"] = decision.edited_args
        if decision.answer is not None:
            payload["answer"] = decision.answer
        self.log.post(self.session_id, "decision", payload, by=decision.by or self.by)
        self.sent.add(key)

    def say(self, text: str) -> None:
        self.log.post(self.session_id, "message", {"text": text}, by=self.by)

    def quit(self) -> bool:
        return True

    def close(self) -> None:
        pass


def attach_app(log: EventStore, session_id: str) -> LiveApp:
    """The live app attached to ``session_id`` in ``log``."""
    return LiveApp(Attached(log, session_id))
