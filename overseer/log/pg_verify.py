"""Verifying what a team store holds: each session's chain (the same
``verify_rows`` as a local log, so the same kinds of break), the seals its
runner shipped beside it, and the rows that break the store's schema (what
``PRAGMA integrity_check`` is to a local file).

Seals are HMAC-signed with their runner's own key, which the store and its
auditors do not hold: here a seal counts for what it claims (the session
reached seq N with head H), so a store that lost or swapped events after a
seal is still caught (``truncated``, ``bad_seal``), but a seal's signature
is checked only on the runner's machine. Signed checkpoints, once shipped,
are checkable by anyone (docs/teams.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import pg_schema, seals
from .base import EventRow
from .verify import VerifyResult, verify_rows

SEAL_KIND = "seal"


def latest_seal(
    records: Iterable[tuple[str, str, str]],
) -> tuple[seals.SealRecord | None, list[str]]:
    """The highest-seq seal among a session's ``(session_id, kind, body)``
    records, and the problems with the ones that do not parse."""
    best: seals.SealRecord | None = None
    problems: list[str] = []
    for sid, kind, body in records:
        if kind != SEAL_KIND:
            continue  # other kinds (signed checkpoints) are checked by their own code
        try:
            d = json.loads(body)
            rec = seals.SealRecord(
                str(d["session"]),
                int(d["seq"]),
                str(d["head"]),
                int(d["count"]),
                int(d["ts"]),
                str(d["mac"]),
            )
        except (ValueError, KeyError, TypeError):
            problems.append(f"unreadable seal record for session {sid}")
            continue
        if rec.session != sid:
            problems.append(f"a seal of session {rec.session} is filed under session {sid}")
            continue
        if best is None or rec.seq >= best.seq:
            best = rec
    return best, problems


def verify_store_session(
    session_id: str, rows: Iterable[EventRow], records: Sequence[tuple[str, str, str]]
) -> VerifyResult:
    seal, problems = latest_seal(records)
    result = verify_rows(session_id, rows, seal, problems or None)
    if result.events == 0 and seal is not None and result.ok:
        result.ok, result.kind, result.first_broken_seq = False, "truncated", 1
        result.detail = f"session was sealed at seq {seal.seq} but has no events in the store"
    return result


Query = Callable[[str, Sequence[Any] | None], list[tuple[Any, ...]]]

_CHECKS = (
    (
        "SELECT count(*) FROM overseer.events WHERE hash !~ '^[0-9a-f]{64}$'"
        " OR payload_hash !~ '^[0-9a-f]{64}$' OR prev_hash !~ '^[0-9a-f]{64}$'",
        "event(s) whose hashes are not 64 hex digits",
    ),
    (
        "SELECT count(*) FROM overseer.events WHERE NOT overseer.is_json(payload)",
        "event(s) whose payload is not JSON",
    ),
    (
        "SELECT count(*) FROM overseer.sessions s"
        " WHERE NOT EXISTS (SELECT 1 FROM overseer.events e WHERE e.session_id = s.id)",
        "session(s) with no events",
    ),
    (
        "SELECT count(*) FROM overseer.blobs WHERE size <> octet_length(data)",
        "blob(s) whose recorded size is wrong",
    ),
    (
        "SELECT count(*) FROM overseer.attestations a WHERE a.session_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM overseer.sessions s WHERE s.id = a.session_id)",
        "seal(s) of sessions the store does not have",
    ),
)


def integrity_problems(query: Query) -> list[str]:
    """What is wrong with the store beyond the chains (empty: nothing)."""
    problems: list[str] = []
    rows = query(
        "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'overseer' AND NOT t.tgisinternal",
        None,
    )
    state = {str(name): str(enabled) for name, enabled in rows}
    for name in pg_schema.GUARD_TRIGGERS:
        if name not in state:
            problems.append(f"guard trigger {name} is missing")
        elif state[name] == "D":
            problems.append(f"guard trigger {name} is disabled")
    for sql, what in _CHECKS:
        n = int(query(sql, None)[0][0])
        if n:
            problems.append(f"{n} {what}")
    return problems
