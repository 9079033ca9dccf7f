"""The TUI approver: the broker's blocking ``request`` meets the app's keys.

The broker calls ``request`` from its approver threads (several may wait at
once: a model can make parallel tool calls). Each request gets a
``concurrent.futures.Future`` keyed by its call id; the app completes it when
the person decides. Nothing can hang: the broker's timeout ``withdraw``s the
request, and ``close`` (the person quit the UI) denies everything pending and
every later request, so the agent's thread always gets an answer.

The approver never touches widgets. It tells whoever listens (the app, via
``post_message``, which is thread-safe) that a request arrived or went away.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future

from overseer.approval import ApprovalDecision, ApprovalRequest, who

Listener = Callable[[str, ApprovalRequest], None]
"""``listener(event, request)`` with event ``"queued"`` or ``"gone"``."""


def request_key(req: ApprovalRequest) -> str:
    """The queue key of a request. An ``ask_human`` call may first need an
    approval and then ask its question under the same call id, so the kind
    is part of the key."""
    return f"{req.kind}:{req.call_id}"


class TuiApprover:
    """An ``Approver`` whose answers come from the Textual app.

    ``complete(key, decision)`` answers a request, ``withdraw(call_id)`` drops
    one (the broker timed out), ``close(reason)`` denies all pending and
    future requests. ``pending()`` lists the waiting requests, oldest first.
    """

    name = "tui"

    def __init__(self, by: str | None = None) -> None:
        self.by = by or who()
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[ApprovalRequest, Future[ApprovalDecision]]] = {}
        self._closed: str | None = None
        self._listeners: list[Listener] = []

    # -- wiring --------------------------------------------------------------

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` for every request queued or gone (from any thread).
        Requests already waiting are replayed to the new listener."""
        with self._lock:
            self._listeners.append(listener)
            waiting = [req for req, _ in self._pending.values()]
        for req in waiting:
            listener("queued", req)

    def _tell(self, event: str, req: ApprovalRequest) -> None:
        for listener in list(self._listeners):
            # A dead UI must not break the broker's thread.
            with contextlib.suppress(Exception):
                listener(event, req)

    # -- the Approver protocol -------------------------------------------------

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        """Block until the person decides, the request is withdrawn, or the UI closes."""
        key = request_key(req)
        future: Future[ApprovalDecision] = Future()
        with self._lock:
            if self._closed is not None:
                return self._deny(req, self._closed)
            self._pending[key] = (req, future)
        self._tell("queued", req)
        # No timeout here: the broker owns the timeout and withdraws on expiry,
        # which completes this future, so this thread always ends.
        return future.result()

    def withdraw(self, call_id: str) -> None:
        """The broker gave up waiting (timeout): drop the request from the UI."""
        for kind in ("approval", "question"):
            with self._lock:
                entry = self._pending.pop(f"{kind}:{call_id}", None)
            if entry is not None:
                req, future = entry
                if not future.done():
                    future.set_result(self._deny(req, "withdrawn: no decision before the timeout"))
                self._tell("gone", req)

    # -- answers from the app --------------------------------------------------

    def complete(self, key: str, decision: ApprovalDecision) -> bool:
        """Answer the request ``key``; False if it is no longer waiting."""
        with self._lock:
            entry = self._pending.pop(key, None)
        if entry is None:
            return False
        req, future = entry
        if not decision.by:
            decision = decision.model_copy(update={"by": self.by})
        if not future.done():
            future.set_result(decision)
        self._tell("gone", req)
        return True

    def close(self, reason: str = "the person closed the UI") -> list[ApprovalRequest]:
        """Deny everything pending and every later request; returns what was denied."""
        with self._lock:
            self._closed = reason
            entries = list(self._pending.values())
            self._pending.clear()
        for req, future in entries:
            if not future.done():
                future.set_result(self._deny(req, reason))
            self._tell("gone", req)
        return [req for req, _ in entries]

    # -- reading ---------------------------------------------------------------

    def pending(self) -> list[ApprovalRequest]:
        with self._lock:
            return [req for req, _ in self._pending.values()]

    @property
    def closed(self) -> bool:
        return self._closed is not None

    def _deny(self, req: ApprovalRequest, reason: str) -> ApprovalDecision:
        return ApprovalDecision(
            decision="deny",
            by=self.by,
            reason=reason,
            args_hash=req.args_hash,
            answer=f"(no answer: {reason})" if req.kind == "question" else None,
        )
