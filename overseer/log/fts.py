"""The full-text search index over the local audit log (SQLite FTS5).

``audit_search`` is a contentless FTS5 table whose rowid is ``events.id``:
it holds only the inverted index, not a second copy of the text, so the DB
does not double in size. The indexed text of an event is computed in SQL
(``body_sql``) from the fields an auditor searches: commands, args, paths,
outputs, reasons, decisions and who made them.

Why not an ``AFTER INSERT`` trigger: tokenizing ~1 KB per event inside the
append transaction cost 25-30% of the durable append rate (measured: 5,900
-> 4,000 appends/s), on the path that must stay within 0.8x of a bare
sqlite3 loop. Instead the index keeps a watermark (the highest ``events.id``
indexed, in ``meta``) and ``catch_up`` indexes everything after it before
every query, in one transaction. ``events.id`` only grows — rows are
appended, and ``prune`` lowers the watermark when it deletes the newest ids —
so no append is ever missed, whichever process or tool wrote it; sessions
are also indexed as they end (the flag observer calls ``catch_up`` off the
append path), so a query rarely has much to do. A DB this process cannot
write gets a temporary in-memory index instead.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError

TABLE = "audit_search"

# What is indexed, per event kind: JSON paths into the payload. Arrays and
# objects are indexed as their JSON text, which the tokenizer splits into
# words; a command is also indexed as a plain string, so a multi-line
# command's words are not glued to JSON escapes such as ``\n``.
INDEXED: dict[str, tuple[str, ...]] = {
    "session_started": ("$.task", "$.workspace", "$.agent", "$.model"),
    "model_turn": ("$.text",),
    "action_proposed": ("$.tool", "$.args.command", "$.args.path", "$.args"),
    "policy_decided": (
        "$.decision",
        "$.rule",
        "$.reason",
        "$.facts.commands",
        "$.facts.writes",
        "$.facts.reads",
    ),
    "approval_decided": ("$.decision", "$.by", "$.reason"),
    "action_finished": ("$.tool", "$.status", "$.error", "$.output"),
    "file_changed": ("$.path", "$.dest_path", "$.change", "$.diff"),
    "question_asked": ("$.question",),
    "question_answered": ("$.answer", "$.by"),
    "user_message": ("$.text", "$.by"),
    "flag_raised": ("$.flag", "$.reason"),
    "grant_added": ("$.description", "$.by"),
    "grant_revoked": ("$.by", "$.reason"),
    "session_ended": ("$.status", "$.final", "$.error"),
    "notice": ("$.topic", "$.message"),
}


def body_sql(row: str) -> str:
    """The SQL expression for an event's indexed text (``row`` is ``new`` or a table alias)."""
    cases = []
    for kind, paths in INDEXED.items():
        parts = " || ' ' || ".join(
            f"coalesce(json_extract({row}.payload, '{p}'), '')" for p in paths
        )
        cases.append(f"WHEN '{kind}' THEN {parts}")
    # json_valid guards the append: a trigger error would abort the event's
    # own INSERT, and the index must never be able to stop the record.
    return f"CASE WHEN json_valid({row}.payload) THEN CASE {row}.kind {' '.join(cases)} END ELSE '' END"


KINDS_SQL = ", ".join(f"'{k}'" for k in INDEXED)

CREATE_TABLE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {{schema}}{TABLE} USING fts5("
    "body, content='', tokenize='unicode61 remove_diacritics 2')"
)
WATERMARK = "audit_search_upto"


def _exists(conn: sqlite3.Connection, kind: str, name: str, schema: str = "main") -> bool:
    return (
        conn.execute(
            f"SELECT 1 FROM {schema}.sqlite_master WHERE type=? AND name=?", (kind, name)
        ).fetchone()
        is not None
    )


def _index_sql(schema: str = "") -> str:
    return (
        f"INSERT INTO {schema}{TABLE}(rowid, body) SELECT e.id, {body_sql('e')} FROM events e "
        f"WHERE e.kind IN ({KINDS_SQL}) AND e.id > ? AND e.id <= ?"
    )


def watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (WATERMARK,)).fetchone()
    return int(row[0]) if row else 0


def _set_watermark(conn: sqlite3.Connection, value: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (WATERMARK, str(value)))


def catch_up(conn: sqlite3.Connection) -> str:
    """Index every event not indexed yet; returns the schema the index is in
    (``main``, or ``temp`` for a DB this process cannot write).

    ``conn`` must be in autocommit mode (as ``AuditLog.conn`` is).
    """
    top = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    if _exists(conn, "table", TABLE) and watermark(conn) >= top:
        return "main"
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return _temp_index(conn)
    try:
        conn.execute(CREATE_TABLE.format(schema=""))
        # Read again under the write lock: another process may have indexed meanwhile.
        low = watermark(conn)
        top = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        if top > low:
            conn.execute(_index_sql(), (low, top))
            _set_watermark(conn, top)
        conn.execute("COMMIT")
    except sqlite3.OperationalError:
        conn.execute("ROLLBACK")
        return _temp_index(conn)
    return "main"


def _temp_index(conn: sqlite3.Connection) -> str:
    """A read-only DB (an auditor's copy) is indexed in memory for this process."""
    if not _exists(conn, "table", TABLE, "temp"):
        conn.execute(CREATE_TABLE.format(schema="temp."))
        conn.execute("CREATE TEMP TABLE audit_search_temp_upto (id INTEGER)")
        conn.execute("INSERT INTO audit_search_temp_upto VALUES (0)")
    low = conn.execute("SELECT id FROM audit_search_temp_upto").fetchone()[0]
    top = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    if top > low:
        conn.execute(_index_sql("temp."), (low, top))
        conn.execute("UPDATE audit_search_temp_upto SET id=?", (top,))
    return "temp"


def forget_sessions(conn: sqlite3.Connection, session_ids: list[str]) -> None:
    """Remove a set of sessions' events from the index before a prune deletes
    them. Call inside the prune's transaction.

    A contentless FTS5 table forgets a row when given the exact text it
    indexed, which ``body_sql`` recomputes from the still-present event; only
    rows at or below the watermark were ever indexed. Afterwards the
    watermark is lowered to the highest id that remains, so ids SQLite hands
    out again after deleting the newest rows are indexed when they come.
    """
    if not session_ids or not _exists(conn, "table", TABLE):
        return
    marks = ",".join("?" * len(session_ids))
    low = watermark(conn)
    conn.execute(
        f"INSERT INTO {TABLE}({TABLE}, rowid, body) SELECT 'delete', e.id, {body_sql('e')} FROM events e "
        f"WHERE e.kind IN ({KINDS_SQL}) AND e.id <= ? AND e.session_id IN ({marks})",
        (low, *session_ids),
    )
    remaining = conn.execute(
        f"SELECT coalesce(max(id), 0) FROM events WHERE session_id NOT IN ({marks})", session_ids
    ).fetchone()[0]
    _set_watermark(conn, min(low, remaining))


_RAW = re.compile(r'["*]|\b(AND|OR|NOT|NEAR)\b')


def fts_query(query: str) -> str | None:
    """The FTS5 form of a user's query (None: match everything)."""
    if not query.strip():
        return None
    if _RAW.search(query):
        return query
    words = [w for w in query.split() if re.search(r"\w", w)]
    if not words:
        raise UsageError(f"search query {query!r} has no words to look for")
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def search_rows(
    conn: sqlite3.Connection, query: str | None, kind: str | None, since: int | None
) -> Iterable[tuple[Any, ...]]:
    """Event rows (id, session_id, seq, ts, kind, payload, payload_hash,
    prev_hash, hash) matching ``query`` (the user's words) and the filters,
    newest first."""
    match = fts_query(query) if query is not None else None
    where: list[str] = ["1"]
    params: list[Any] = []
    if kind:
        where.append("e.kind = ?")
        params.append(kind)
    if since is not None:
        where.append("e.ts >= ?")
        params.append(since)
    cols = "e.id, e.session_id, e.seq, e.ts, e.kind, e.payload, e.payload_hash, e.prev_hash, e.hash"
    if match is None:
        sql = f"SELECT {cols} FROM events e WHERE e.kind IN ({KINDS_SQL}) AND {' AND '.join(where)} ORDER BY e.id DESC"
        return conn.execute(sql, params)
    schema = catch_up(conn)
    sql = (
        f"SELECT {cols} FROM {schema}.{TABLE}(?) s JOIN events e ON e.id = s.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY e.id DESC"
    )
    try:
        # Materialise: the syntax error of a bad FTS5 query surfaces on the first step.
        return conn.execute(sql, [match, *params]).fetchall()
    except sqlite3.OperationalError as exc:
        raise UsageError(
            f"cannot search for {query!r}: {exc} (quote words with punctuation)"
        ) from exc
