"""The audit DB schema (documented for auditors in logs/README.md).

Tables are created through sqlite-utils so the DDL stays declarative; the
append-only triggers are plain SQL. ``SCHEMA_VERSION`` goes up when a table
changes, and `migrate` brings older files forward.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils
    from sqlite_utils.db import Table

# sqlite-utils is imported only to create a new file: importing it loads
# numpy when installed (~0.3 s), which every command opening an existing log
# (and every `overseer run`) would pay for nothing.

SCHEMA_VERSION = 1
# The columns of `sessions` that describe a session (the rest say who owns it).
SESSION_COLUMNS = (
    "id",
    "task",
    "agent",
    "model",
    "workspace",
    "started",
    "ended",
    "status",
    "policy",
)

APPEND_ONLY_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'overseer audit log is append-only: events cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM prune_in_progress)
BEGIN SELECT RAISE(ABORT, 'overseer audit log is append-only: use overseer prune'); END;
"""


class _Tables:
    """``db[name]`` typed as a Table (sqlite-utils also returns views there)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    def __getitem__(self, name: str) -> Table:
        return self.db.table(name)

    def table_names(self) -> list[str]:
        return self.db.table_names()


def create(conn: sqlite3.Connection) -> None:
    import sqlite_utils

    db = _Tables(sqlite_utils.Database(conn))
    if "events" not in db.table_names():
        # `id` is the global append order; `seq` numbers events within their
        # session (1, 2, 3...) and is what the hash chain covers, so a session
        # keeps its hashes when exported and imported into another DB.
        db["events"].create(
            {
                "id": int,
                "session_id": str,
                "seq": int,
                "ts": int,
                "kind": str,
                "payload": str,
                "payload_hash": str,
                "prev_hash": str,
                "hash": str,
            },
            pk="id",
            not_null={
                "session_id",
                "seq",
                "ts",
                "kind",
                "payload",
                "payload_hash",
                "prev_hash",
                "hash",
            },
        )
        db["events"].create_index(["session_id", "seq"], unique=True)
    if "blobs" not in db.table_names():
        db["blobs"].create({"hash": str, "size": int, "data": bytes}, pk="hash")
    if "messages" not in db.table_names():
        db["messages"].create({"hash": str, "data": str}, pk="hash")
    if "inbox" not in db.table_names():
        # Decisions, answers and steering messages from other processes
        # (`overseer approve`, `overseer say`, an attached UI). The runner takes
        # them and records what it did in the chained `events`.
        db["inbox"].create(
            {
                "id": int,
                "session_id": str,
                "kind": str,
                "payload": str,
                "by": str,
                "created": int,
                "taken": int,
            },
            pk="id",
        )
        db["inbox"].create_index(["session_id", "taken"])
    if "prune_in_progress" not in db.table_names():
        db["prune_in_progress"].create({"id": int}, pk="id")
    if "meta" not in db.table_names():
        db["meta"].create({"key": str, "value": str}, pk="key")
        db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
    for statement in APPEND_ONLY_TRIGGERS.split("END;"):
        if statement.strip():
            conn.execute(statement + "END;")
    # `sessions` must come last: is_overseer_db() looks for it, so a process
    # that crashed half-way through creation leaves a file that is redone.
    if "sessions" not in db.table_names():
        db["sessions"].create(
            {
                "id": str,
                "task": str,
                "agent": str,
                "model": str,
                "workspace": str,
                "started": str,
                "ended": str,
                "status": str,
                "policy": str,
                "owner_pid": int,
                "owner_host": str,
                "owner_start": str,
            },
            pk="id",
        )


def is_overseer_db(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {"sessions", "events"} <= names
