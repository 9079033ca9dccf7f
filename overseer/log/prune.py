"""Retention: delete whole old sessions, and keep an auditable record of it.
A log operation: it deletes from the log's own tables under the log's writer
lock, and keeps the log's search index (``fts``) consistent.

``prune(log, older_than_days=N)`` deletes every finished session that ended
(or, never ended, started) more than N days ago: its events, its sessions
row, its inbox rows, and the blobs and model messages no remaining event
refers to. One transaction does it all, so a crash leaves either nothing or
everything done. The events table refuses deletes (append-only trigger)
except while ``prune_in_progress`` has a row, which only exists inside that
transaction.

Every prune is recorded in ``prunes`` (``prune_record``) — who, when, the age
limit and, per session, its head seq/hash, its event count and its last seal
— a table with its own hash chain whose rows are also signed with overseer's
Ed25519 signing key (the checkpoints' key), so a deletion cannot be dressed up
as a prune by someone without the key, and anyone with the verifier key can
check it. A key that cannot sign stops the prune before anything is deleted.
``verify_prunes`` (``verify``) checks it; ``overseer verify --all`` shows it
as the ``(prunes)`` line, and does not report a pruned session's seals as
truncation when a valid prune names it with the same sealed head.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..canonical import GENESIS, canonical_json
from ..errors import LogWriteError, UsageError
from ..events import now_ns, who
from . import fts
from . import seals as sealmod
from .prune_record import PRUNES_ID, TABLE, _chain, ensure_table, records, sign
from .store import AuditLog, iso

__all__ = [
    "PRUNES_ID",
    "TABLE",
    "Candidate",
    "PruneResult",
    "candidates",
    "ensure_table",
    "prune",
    "records",
]

_HEX64 = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass
class Candidate:
    id: str
    task: str
    status: str
    started: str
    ended: str | None
    events: int
    head_seq: int | None = None
    head_hash: str | None = None
    sealed_seq: int | None = None
    sealed_head: str | None = None


@dataclass
class PruneResult:
    cutoff: str
    sessions: list[Candidate]
    blobs: int = 0
    messages: int = 0
    record_id: int | None = None
    skipped_running: list[str] = field(default_factory=list)


def candidates(log: AuditLog, older_than_days: float) -> tuple[str, list[Candidate], list[str]]:
    """The sessions a prune would delete, and the old ones kept because they still run."""
    if older_than_days < 0:
        raise UsageError("--older-than must be 0 or more days")
    cutoff = iso(int((datetime.now(UTC) - timedelta(days=older_than_days)).timestamp() * 1e9))
    rows = log.conn.execute(
        "SELECT s.id, coalesce(s.task, ''), coalesce(s.status, ''), coalesce(s.started, ''), s.ended,"
        " (SELECT count(*) FROM events e WHERE e.session_id = s.id)"
        " FROM sessions s WHERE coalesce(s.ended, s.started) < ? ORDER BY s.started",
        (cutoff,),
    ).fetchall()
    out, running = [], []
    for r in rows:
        if r[2] == "running":
            running.append(r[0])  # never delete under a live writer
            continue
        out.append(Candidate(*r))
    return cutoff, out, running


def prune(
    log: AuditLog, older_than_days: float, *, by: str | None = None, dry_run: bool = False
) -> PruneResult:
    """Delete whole sessions older than ``older_than_days`` and record it."""
    cutoff, cands, running = candidates(log, older_than_days)
    result = PruneResult(cutoff, cands, skipped_running=running)
    if dry_run or not cands:
        return result
    # The signer first: a key that cannot sign (LogWriteError) stops the
    # prune before anything is deleted, and an unsigned row is never written.
    signer = log.checkpointer.signer
    ensure_table(log.conn)
    seal_file = sealmod.read_seals(log.seal_path, sealmod.load_key(create=False))
    conn = log.conn
    with log._lock:  # noqa: SLF001 - the log's writer lock: no append of ours interleaves
        try:
            conn.execute("BEGIN IMMEDIATE")
            ids = [c.id for c in cands]
            marks = ",".join("?" * len(ids))
            # Re-check under the write lock: a session may have been resumed meanwhile.
            alive = {
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM sessions WHERE id IN ({marks}) AND status='running'", ids
                )
            }
            if alive:
                cands = [c for c in cands if c.id not in alive]
                ids = [c.id for c in cands]
                marks = ",".join("?" * len(ids))
                result.sessions, result.skipped_running = cands, [*running, *alive]
            if not ids:
                conn.execute("ROLLBACK")
                return result
            for c in cands:
                head = conn.execute(
                    "SELECT seq, hash FROM events WHERE session_id=? ORDER BY seq DESC LIMIT 1",
                    (c.id,),
                ).fetchone()
                c.head_seq, c.head_hash = (head[0], head[1]) if head else (None, None)
                seal = seal_file.latest.get(c.id)
                if seal is not None:
                    c.sealed_seq, c.sealed_head = seal.seq, seal.head
            refs: set[str] = set()
            for (payload,) in conn.execute(
                f"SELECT payload FROM events WHERE session_id IN ({marks})", ids
            ):
                refs.update(_HEX64.findall(payload))
            fts.forget_sessions(conn, ids)
            conn.execute("INSERT INTO prune_in_progress (id) VALUES (1)")
            conn.execute(f"DELETE FROM events WHERE session_id IN ({marks})", ids)
            conn.execute("DELETE FROM prune_in_progress")
            conn.execute(f"DELETE FROM sessions WHERE id IN ({marks})", ids)
            conn.execute(f"DELETE FROM inbox WHERE session_id IN ({marks})", ids)
            result.blobs, result.messages = _drop_unreferenced(conn, refs)
            prev = conn.execute(f"SELECT hash FROM {TABLE} ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = prev[0] if prev else GENESIS
            ts = now_ns()
            body = canonical_json(
                {
                    "at": iso(ts),
                    "by": by or who(),
                    "older_than_days": str(older_than_days),
                    "cutoff": cutoff,
                    "sessions": [
                        {
                            "id": c.id,
                            "task": c.task[:200],
                            "status": c.status,
                            "started": c.started,
                            "ended": c.ended,
                            "events": c.events,
                            "head_seq": c.head_seq,
                            "head_hash": c.head_hash,
                            "sealed_seq": c.sealed_seq,
                            "sealed_head": c.sealed_head,
                        }
                        for c in cands
                    ],
                    "blobs": result.blobs,
                    "messages": result.messages,
                }
            )
            h = _chain(prev_hash, body)
            cur = conn.execute(
                f"INSERT INTO {TABLE} (ts, body, prev_hash, hash, mac, sig) VALUES (?,?,?,?,?,?)",
                (ts, body, prev_hash, h, "", sign(signer, h)),
            )
            result.record_id = cur.lastrowid
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise LogWriteError(f"prune failed, nothing was deleted: {exc}") from exc
    return result


def _drop_unreferenced(conn: sqlite3.Connection, refs: set[str]) -> tuple[int, int]:
    """Delete the blobs/messages the pruned sessions referred to and nothing else does.

    Only hashes the pruned events named are candidates: a blob no event names
    yet may belong to a running action whose ``action_finished`` is not
    written yet, and must stay.
    """
    if not refs:
        return 0, 0
    cand_blobs = {
        h for h in refs if conn.execute("SELECT 1 FROM blobs WHERE hash=?", (h,)).fetchone()
    }
    cand_msgs = {
        h for h in refs if conn.execute("SELECT 1 FROM messages WHERE hash=?", (h,)).fetchone()
    }
    if not cand_blobs and not cand_msgs:
        return 0, 0
    still: set[str] = set()
    for (payload,) in conn.execute("SELECT payload FROM events"):
        still.update(h for h in _HEX64.findall(payload) if h in cand_blobs or h in cand_msgs)
    blobs = sorted(cand_blobs - still)
    msgs = sorted(cand_msgs - still)
    for h in blobs:
        conn.execute("DELETE FROM blobs WHERE hash=?", (h,))
    for h in msgs:
        conn.execute("DELETE FROM messages WHERE hash=?", (h,))
    return len(blobs), len(msgs)
