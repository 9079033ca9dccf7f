"""Verify a session's hash chain and its seals; name the first break.

Kinds of break, in the order they are looked for at each event:
``seq_gap`` (an event is missing: seq does not follow), ``broken_link``
(prev_hash is not the previous event's hash: events swapped, inserted or
removed), ``hash_mismatch`` (the content no longer hashes to what was
recorded: an edited payload, time, kind or session id), then against the
seal file: ``truncated`` (the session ends before its last seal: the tail was
deleted) and ``bad_seal`` (a seal's signature does not match, or the sealed
head is not the hash in the DB).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from ..canonical import GENESIS
from . import seals

BreakKind = str  # hash_mismatch | broken_link | seq_gap | truncated | bad_seal


class VerifyResult(BaseModel):
    session_id: str
    ok: bool
    events: int
    first_broken_seq: int | None = None
    kind: BreakKind | None = None
    detail: str = ""
    sealed_seq: int | None = None
    unsealed: int = 0  # trailing events no seal covers
    head: str | None = None


def verify_rows(
    session_id: str,
    rows: Iterable[tuple[int, int, str, str, str, str, str]],
    seal: seals.SealRecord | None = None,
    seal_problems: list[str] | None = None,
) -> VerifyResult:
    """Check rows ``(seq, ts, kind, payload, payload_hash, prev_hash, hash)`` in seq order."""
    sha = hashlib.sha256
    sid_json = json.dumps(session_id, ensure_ascii=False)
    expected_seq = 1
    prev = GENESIS
    n = 0
    hashes: dict[int, str] = {}
    broken: tuple[int, str, str] | None = None
    sealed_seq = seal.seq if seal else None
    for seq, ts, kind, payload, payload_hash, prev_hash, h in rows:
        n += 1
        if broken is None:
            if seq != expected_seq:
                broken = (expected_seq, "seq_gap", f"expected seq {expected_seq}, found {seq}")
            elif prev_hash != prev:
                broken = (seq, "broken_link", "prev_hash does not match the previous event's hash")
            else:
                body = (
                    '{"kind":'
                    + json.dumps(kind, ensure_ascii=False)
                    + ',"payload":'
                    + payload
                    + ',"session_id":'
                    + sid_json
                    + ',"ts":'
                    + str(ts)
                    + "}"
                )
                ph = sha(body.encode()).hexdigest()
                if ph != payload_hash:
                    broken = (
                        seq,
                        "hash_mismatch",
                        f"{kind} event content does not match its payload_hash",
                    )
                elif sha(f"{prev_hash}:{seq}:{payload_hash}".encode()).hexdigest() != h:
                    broken = (seq, "hash_mismatch", "event hash does not match the chain formula")
        if sealed_seq is not None and seq == sealed_seq:
            hashes[seq] = h
        prev = h
        expected_seq = seq + 1
    last_seq = expected_seq - 1
    res = VerifyResult(session_id=session_id, ok=True, events=n, head=prev if n else None)
    if seal is not None:
        res.sealed_seq = seal.seq
        res.unsealed = max(0, last_seq - seal.seq)
        if last_seq < seal.seq and broken is None:
            broken = (
                last_seq + 1,
                "truncated",
                f"session ends at seq {last_seq} but was sealed at seq {seal.seq} "
                f"({seal.seq - last_seq} events missing from the tail)",
            )
        elif broken is None and hashes.get(seal.seq) != seal.head:
            broken = (
                seal.seq,
                "bad_seal",
                f"sealed head at seq {seal.seq} is not the hash in the log",
            )
    else:
        res.unsealed = last_seq
    if broken is None and seal_problems:
        broken = (seal.seq if seal else 0, "bad_seal", "; ".join(seal_problems))
    if broken is not None:
        res.ok = False
        res.first_broken_seq, res.kind, res.detail = broken
    return res


def verify_session(
    conn: sqlite3.Connection, session_id: str, seal_file: seals.SealFile
) -> VerifyResult:
    rows = conn.execute(
        "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
        " WHERE session_id=? ORDER BY seq",
        (session_id,),
    )
    return verify_rows(
        session_id, rows, seal_file.latest.get(session_id), seal_file.bad.get(session_id)
    )


def integrity_check(conn: sqlite3.Connection) -> str:
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"error: {exc}"
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def verify_all(conn: sqlite3.Connection, seal_file: seals.SealFile) -> list[VerifyResult]:
    """Every session in the DB, plus sealed sessions the DB has lost entirely."""
    ids = [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY started")]
    ids += sorted({r[0] for r in conn.execute("SELECT DISTINCT session_id FROM events")} - set(ids))
    results = [verify_session(conn, sid, seal_file) for sid in ids]
    pruned, prune_results = _pruned(conn, seal_file)
    for sid in sorted(set(seal_file.latest) - set(ids) - pruned):
        rec = seal_file.latest[sid]
        results.append(
            VerifyResult(
                session_id=sid,
                ok=False,
                events=0,
                first_broken_seq=1,
                kind="truncated",
                detail=f"session was sealed at seq {rec.seq} but is missing from the log",
                sealed_seq=rec.seq,
            )
        )
    return results + prune_results


def _pruned(
    conn: sqlite3.Connection, seal_file: seals.SealFile
) -> tuple[set[str], list[VerifyResult]]:
    """Sessions deleted on purpose by `overseer prune`, which records them in
    its own chained, signed ``prunes`` table (overseer.audit.prune): their
    seals are not truncation. Also that record's own check, as a result line."""
    exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='prunes'"
    if not conn.execute(exists).fetchone():
        return set(), []
    from ..audit.prune import verify_prunes

    pruned, result = verify_prunes(conn, seal_file, seals.load_key(create=False))
    return pruned, [result] if result else []


def summarize(results: list[VerifyResult]) -> dict[str, Any]:
    return {"ok": all(r.ok for r in results), "sessions": len(results)}
