"""A session copied into an in-memory SQLite database in the log's layout.

The replay's index reads one session through SQL (seq/ts/kind for every
event at once, payloads a block at a time). A session that does not sit in
a local log file — a JSONL export, a session in a team store — is copied
into memory first, so the replay runs the same code over it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from .base import EventRow
from .schema import SESSION_COLUMNS


def session_db(
    session: Mapping[str, Any], rows: Iterable[EventRow], blobs: Iterable[tuple[str, bytes]]
) -> sqlite3.Connection:
    """An in-memory DB holding one session, its events and the given blobs."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, session_id TEXT, seq INTEGER, ts INTEGER,"
        " kind TEXT, payload TEXT, payload_hash TEXT, prev_hash TEXT, hash TEXT)"
    )
    conn.execute("CREATE UNIQUE INDEX idx_events_session_seq ON events (session_id, seq)")
    conn.execute(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, task TEXT, agent TEXT, model TEXT, workspace TEXT,"
        " started TEXT, ended TEXT, status TEXT, policy TEXT)"
    )
    conn.execute("CREATE TABLE blobs (hash TEXT PRIMARY KEY, size INTEGER, data BLOB)")
    conn.executemany(
        "INSERT OR IGNORE INTO blobs VALUES (?,?,?)", ((h, len(d), d) for h, d in blobs)
    )
    sid = str(session["id"])
    cols = SESSION_COLUMNS
    conn.execute(
        f"INSERT INTO sessions VALUES ({','.join('?' * len(cols))})",
        [session.get(c) for c in cols],
    )
    conn.executemany(
        "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?)",
        ((sid, *r) for r in rows),
    )
    return conn
