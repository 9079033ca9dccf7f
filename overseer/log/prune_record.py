"""The prune record: the chained, signed ``prunes`` table in which every
``overseer prune`` says who deleted which sessions, when, and what their
sealed heads were — and its check.

Each row's ``hash = sha256(prev_hash ":" sha256(canonical body))`` chains it
to the one before, and each is signed with the seal key (HMAC), so a deletion
cannot be dressed up as a prune by someone without the key. ``check_record``
says which sessions the record validly accounts for (their seals are then no
truncation) and where it breaks; ``verify`` turns that into the ``(prunes)``
line of ``overseer verify --all``.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from ..canonical import GENESIS, sha256_hex
from . import seals as sealmod

TABLE = "prunes"
PRUNES_ID = "(prunes)"  # how the prune record appears in verify results

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS prunes_append_only_update BEFORE UPDATE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS prunes_append_only_delete BEFORE DELETE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
"""


@dataclass
class RecordCheck:
    """The prune record's check: ``broken`` is (row id, kind, detail) or None."""

    rows: int
    head: str
    last_id: int
    broken: tuple[int, str, str] | None = None


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create the prune record (idempotent); call outside a transaction."""
    if not conn.execute(
        f"SELECT 1 FROM sqlite_master WHERE type='table' AND name='{TABLE}'"
    ).fetchone():
        conn.executescript(SCHEMA)


def _chain(prev: str, body: str) -> str:
    return sha256(f"{prev}:{sha256_hex(body)}".encode()).hexdigest()


def _mac(key: bytes, h: str) -> str:
    return hmac.new(key, h.encode(), sha256).hexdigest()


def records(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every prune, oldest first, as recorded."""
    if not conn.execute(
        f"SELECT 1 FROM sqlite_master WHERE type='table' AND name='{TABLE}'"
    ).fetchone():
        return []
    out = []
    for rid, ts, body, prev, h, mac in conn.execute(
        f"SELECT id, ts, body, prev_hash, hash, mac FROM {TABLE} ORDER BY id"
    ):
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        out.append(
            {"id": rid, "ts": ts, **data, "prev_hash": prev, "hash": h, "mac": mac, "_body": body}
        )
    return out


def check_record(
    conn: sqlite3.Connection, seal_file: sealmod.SealFile, key: bytes | None
) -> tuple[set[str], RecordCheck | None]:
    """Check the prune record's chain and signatures.

    Returns the sessions it validly accounts for (their seals are not
    truncation) and the check (None: no prunes yet). A session is accounted
    for only by an intact, correctly signed record whose sealed head for it
    is the head in the seal file.
    """
    rows = records(conn)
    if not rows:
        return set(), None
    prev = GENESIS
    broken: tuple[int, str, str] | None = None
    accounted: set[str] = set()
    for row in rows:
        if broken is None:
            if row["prev_hash"] != prev:
                broken = (
                    row["id"],
                    "broken_link",
                    "prev_hash does not match the previous prune's hash",
                )
            elif _chain(row["prev_hash"], row["_body"]) != row["hash"]:
                broken = (
                    row["id"],
                    "hash_mismatch",
                    "prune record content does not match its hash",
                )
            elif key is None:
                broken = (
                    row["id"],
                    "bad_seal",
                    "no seal key to check the prune record's signature",
                )
            elif not hmac.compare_digest(_mac(key, row["hash"]), row["mac"]):
                broken = (row["id"], "bad_seal", "prune record signature does not match")
            else:
                for s in row.get("sessions", []):
                    sealed = seal_file.latest.get(s.get("id"))
                    if sealed is None or (
                        sealed.seq == s.get("sealed_seq") and sealed.head == s.get("sealed_head")
                    ):
                        accounted.add(str(s.get("id")))
        prev = row["hash"]
    return accounted, RecordCheck(len(rows), prev, rows[-1]["id"], broken)
