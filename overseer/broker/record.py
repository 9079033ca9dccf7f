"""The broker's writes to the log: one call's records, held and committed
together, and the failure that stops the broker once the log breaks.

A call's proposal and policy decision are *held* (a list the call owns) for
the few microseconds until its next record, and committed with it in one
transaction, all or none and in order: an allowed call costs one fsync
before it runs, not three, and a refused one still has its whole story on
disk. The first write that fails marks the recorder failed; the broker then
denies everything after it (invariant 1: if the log cannot be written,
nothing runs).
"""

from __future__ import annotations

from typing import Any

from ..errors import LogWriteError
from ..events import ActionStatus
from ..log import AuditLog
from ..toolapi import ToolResult

# Held records: a call's proposal and policy decision are written in one
# transaction with the call's next record (its start, its refusal, or its
# approval request), so the commit that must precede execution is one fsync.
Held = list[tuple[str, dict[str, Any]]]
BLOB_CAP = 8 * 1024 * 1024
# Records whose commit does not fsync: the next durable commit carries them
# to disk (see Recorder.record).
_RIDES_NEXT = frozenset({"approval_requested", "action_finished"})


class Recorder:
    """Appends one session's broker records. Thread-safe as the log is."""

    def __init__(self, log: AuditLog, session_id: str) -> None:
        self.log = log
        self.session_id = session_id
        self.failure: str | None = None  # set when the log broke: everything after is denied

    def record(self, kind: str, payload: dict[str, Any], held: Held | None = None) -> int:
        """Append one event, after the call's held records and in the same
        transaction; a failure marks the recorder failed and propagates.

        Two kinds are committed without their own fsync (``durable=False``:
        written to the WAL at once, so they survive the process being killed,
        and on disk with the next durable commit, which syncs the whole WAL):

        - an approval request: ``approval_decided`` always follows it, durably,
          before anything acts on it;
        - a call's ``action_finished``: nothing acts on it that the log must
          vouch for first, and the next call's start (or a model turn, a seal,
          the session's end) makes it durable. Only a power loss in between can
          lose it, and then the action is shown as unfinished — as when the
          process dies mid-call. One fsync per call, before it runs, is the floor.

        Every other record is durable when this returns.
        """
        return self._append(
            [*(held or ()), (kind, payload)], durable=kind not in _RIDES_NEXT, held=held
        )

    def flush(self, held: Held, *, durable: bool) -> None:
        """Write the held records now, on their own."""
        if held:
            self._append(list(held), durable=durable, held=held)

    def _append(self, records: Held, *, durable: bool, held: Held | None) -> int:
        if held:
            held.clear()  # written or failed: never written twice
        try:
            return self.log.append_many(self.session_id, records, durable=durable)[-1].seq
        except LogWriteError as exc:
            self.failure = str(exc)
            raise

    def finish(
        self,
        call_id: str,
        tool: str,
        status: ActionStatus,
        message: str,
        held: Held | None = None,
        **extra: Any,
    ) -> ToolResult:
        """Record how a call ended without running (refused, invalid, edited,
        terminated) and the result the agent gets. Never raises: a log that
        fails here has already failed closed, and nothing ran."""
        result = ToolResult(
            status=status, output=message, error=message if status != "ok" else None, data=extra
        )
        try:
            self.record(
                "action_finished",
                {
                    "call_id": call_id,
                    "tool": tool,
                    "status": status,
                    "output": message,
                    "output_size": len(message),
                    "error": result.error,
                    "data": extra,
                },
                held,
            )
        except LogWriteError:
            pass  # already failed closed: nothing ran
        return result

    def store_blob(self, data: bytes) -> str:
        """Store a tool's bytes content-addressed (bounded) and return the hash."""
        return self.log.put_blob(data[:BLOB_CAP])
