"""Reading what a test's session recorded, and waiting for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from overseer.log import AuditLog


def payloads(log_path: Path, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The session's payloads (of one kind), read through a fresh connection,
    as another process would see them."""
    with AuditLog(log_path, create=False) as log:
        return [e.payload for e in log.events(session_id, kinds=[kind] if kind else None)]


def with_seq(log: AuditLog, session_id: str, kind: str) -> list[dict[str, Any]]:
    """One kind's payloads from an open log, each with its ``seq``."""
    return [{"seq": e.seq, **e.payload} for e in log.events(session_id, kinds=[kind])]


def wait_for(pred: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``pred`` until it returns something true (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    return pred()
