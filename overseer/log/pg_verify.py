"""Verifying what a team store holds: each session's chain (the same
``verify_rows`` as a local log, so the same kinds of break), the Merkle
roots of its tree against the signed checkpoint notes its runner shipped
beside it, each note's signatures against the keys the auditor trusts, and
the rows that break the store's schema (what ``PRAGMA integrity_check`` is
to a local file).

The checkpoints are what let an auditor trust a store without trusting its
admin: whoever can write the database can rewrite a session and recompute
its hash chain, but cannot sign a checkpoint over the new tree with a
runner's key. So a session whose chain is checkpointed (its ``seal`` events
record roots) must have its checkpoints in the store, and they must be
signed by a trusted key (this machine's, or one given with ``--key``).

Legacy HMAC seals (sessions sealed before checkpoints) are signed with their
runner's own secret key, which the store and its auditors do not hold: such
a seal counts for what it claims (the session reached seq N with head H),
so a store that lost or swapped events after it is still caught
(``truncated``, ``bad_seal``), but nothing here vouches for who wrote it
(docs/teams.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from . import pg_schema, seals
from .base import EventRow
from .note import Verifier
from .verify import VerifyResult, verify_rows

SEAL_KIND = "seal"  # a legacy HMAC seal line, exactly as the sidecar file holds it
CHECKPOINT_KIND = "checkpoint"  # a signed checkpoint note, exactly as signed
KEY_KIND = "verifier_key"  # the key the runner says signed (a claim, never trusted)


def latest_seal(
    records: Iterable[tuple[str, str, str]],
) -> tuple[seals.SealRecord | None, list[str]]:
    """The highest-seq seal among a session's ``(session_id, kind, body)``
    records, and the problems with the ones that do not parse."""
    best: seals.SealRecord | None = None
    problems: list[str] = []
    for sid, kind, body in records:
        if kind != SEAL_KIND:
            continue
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


def notes_of(records: Iterable[tuple[str, str, str]]) -> list[str]:
    return [body for _sid, kind, body in records if kind == CHECKPOINT_KIND]


class _Watch:
    """Passes a session's rows through, noting whether its ``seal`` events
    record Merkle roots (then it was checkpointed by its runner)."""

    def __init__(self, rows: Iterable[EventRow]) -> None:
        self.rows = rows
        self.rooted_seal: int | None = None

    def __iter__(self) -> Iterator[EventRow]:
        for row in self.rows:
            if self.rooted_seal is None and row[2] == "seal" and '"root":' in str(row[3]):
                self.rooted_seal = row[0]
            yield row


def verify_store_session(
    session_id: str,
    rows: Iterable[EventRow],
    records: Sequence[tuple[str, str, str]],
    trusted: list[Verifier] | None = None,
    trust: str = "local",
) -> VerifyResult:
    seal, problems = latest_seal(records)
    notes = notes_of(records)
    watched = _Watch(rows)
    result = verify_rows(
        session_id,
        watched,
        seal,
        problems or None,
        notes=notes,
        trusted=trusted,
        trust=trust,
        # Outside the runner's machine an unsigned chain proves nothing: the
        # store's admin could have written it. A legacy HMAC seal still
        # counts for its claim (verify_rows lets it through).
        require_signature=True,
    )
    if result.events == 0 and (seal is not None or notes) and result.ok:
        result.ok, result.kind, result.first_broken_seq = False, "truncated", 1
        sealed = f"sealed at seq {seal.seq}" if seal is not None else "checkpointed"
        result.detail = f"session was {sealed} but has no events in the store"
    elif not notes and watched.rooted_seal is not None and (result.ok or result.kind == "unsigned"):
        # Checkpointed by its runner, yet the store holds no checkpoint: its
        # notes were removed (or never shipped), and an HMAC claim is no
        # substitute for a signature anyone can check.
        result.ok, result.kind, result.first_broken_seq = False, "unsigned", 1
        result.detail = (
            f"the seal at seq {watched.rooted_seal} records a Merkle root, so the runner "
            "signed checkpoints, but the store holds none for this session: ship it again "
            "from the runner's machine (`overseer ship ID --to URL`), or treat the store's "
            "copy as unverified"
        )
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
        "seal or checkpoint record(s) of sessions the store does not have",
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
    rows = query(
        "SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'overseer' AND t.relname = 'events' AND c.contype = 'c'",
        None,
    )
    present = {str(name) for (name,) in rows}
    for name in pg_schema.GUARD_CONSTRAINTS:
        if name not in present:
            problems.append(f"guard constraint {name} is missing")
    for sql, what in _CHECKS:
        n = int(query(sql, None)[0][0])
        if n:
            problems.append(f"{n} {what}")
    return problems
