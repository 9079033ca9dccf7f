"""Reading the local SQLite log: sessions, events, search, verification,
and the inbox other processes leave decisions in. ``AuditLog`` (store.py)
adds the writing; together they are the SQLite ``EventStore``."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..canonical import canonical_json
from ..errors import LogWriteError, SessionNotFound
from ..events import now_ns
from ..redact import Redactor
from . import fts, keys, seals
from .base import EventRow, StoredEvent, pick_session
from .note import Verifier
from .schema import SESSION_COLUMNS
from .unusable import unusable
from .verify import VerifyResult, integrity_check, verify_all, verify_session

_EVENT_COLUMNS = "id, session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash"


class SQLiteReads:
    """The reading half of the SQLite store (mixed into ``AuditLog``)."""

    conn: sqlite3.Connection
    path: Path
    seal_path: Path
    redactor: Redactor
    _lock: threading.RLock
    # (session, kind) -> the database's data_version when a take found nothing
    _inbox_empty_at: dict[tuple[str, str | None], int]

    @property
    def location(self) -> str:
        return str(self.path)

    # -- inbox: decisions and messages from other processes -----------------

    def post(self, session_id: str, kind: str, payload: dict[str, Any], by: str) -> int:
        text = canonical_json(self.redactor.value(payload), check=False)
        with self._lock:
            try:
                cur = self.conn.execute(
                    "INSERT INTO inbox (session_id, kind, payload, by, created) VALUES (?,?,?,?,?)",
                    (session_id, kind, text, by, now_ns()),
                )
            except sqlite3.Error as exc:
                raise LogWriteError(unusable(self.path, exc, "write to")) from exc
            self._inbox_empty_at.clear()  # our own commits leave data_version as it is
            return int(cur.lastrowid or 0)

    def take(self, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Claim the untaken inbox rows of a session (each is taken once).

        Asked several times a call (steering, revocations), and nearly always
        empty: when no other connection has committed since a take found
        nothing (SQLite's ``data_version`` is unchanged), nothing can have
        arrived, and the write transaction a claim needs is skipped.
        """
        with self._lock:
            try:
                version = self.conn.execute("PRAGMA data_version").fetchone()[0]
                if self._inbox_empty_at.get((session_id, kind)) == version:
                    return []
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise LogWriteError(unusable(self.path, exc, "write to")) from exc
            try:
                q = "SELECT id, kind, payload, by, created FROM inbox WHERE session_id=? AND taken IS NULL"
                params: list[Any] = [session_id]
                if kind:
                    q += " AND kind=?"
                    params.append(kind)
                rows = self.conn.execute(q + " ORDER BY id", params).fetchall()
                if rows:
                    self.conn.execute(
                        f"UPDATE inbox SET taken=? WHERE id IN ({','.join('?' * len(rows))})",
                        [now_ns(), *[r[0] for r in rows]],
                    )
                self.conn.execute("COMMIT")
                if not rows:
                    self._inbox_empty_at[(session_id, kind)] = version
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return [
            {"id": r[0], "kind": r[1], "payload": json.loads(r[2]), "by": r[3], "created": r[4]}
            for r in rows
        ]

    def inbox_has(self, session_id: str, origin: str) -> bool:
        """Whether a row forwarded from ``origin`` (a team store's inbox row)
        is already in this inbox: forwarding is at-least-once, taking is once."""
        row = self.conn.execute(
            "SELECT 1 FROM inbox WHERE session_id=? AND json_extract(payload, '$.origin')=?",
            (session_id, origin),
        ).fetchone()
        return row is not None

    # -- reading -------------------------------------------------------------

    def head(self, session_id: str) -> tuple[int, str] | None:
        row = self.conn.execute(
            "SELECT seq, hash FROM events WHERE session_id=? ORDER BY seq DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def resolve(self, id_or_prefix: str) -> str:
        """A full session id from an id or a unique prefix of one."""
        rows = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM sessions WHERE id LIKE ? ESCAPE '\\' ORDER BY started DESC",
                (id_or_prefix.replace("%", "\\%").replace("_", "\\_") + "%",),
            )
        ]
        return pick_session(id_or_prefix, rows)

    def sessions(self) -> list[dict[str, Any]]:
        """All sessions, newest first, with their event counts."""
        cols = [*SESSION_COLUMNS, "events"]
        rows = self.conn.execute(
            f"SELECT {', '.join('s.' + c for c in SESSION_COLUMNS)},"
            " (SELECT count(*) FROM events e WHERE e.session_id = s.id) AS events"
            " FROM sessions s ORDER BY s.started DESC, s.rowid DESC"
        ).fetchall()
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def events(
        self,
        session_id: str,
        *,
        after: int = 0,
        kinds: list[str] | tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredEvent]:
        q = f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id=? AND seq>?"
        params: list[Any] = [session_id, after]
        if kinds:
            q += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        q += " ORDER BY seq"
        if limit is not None:
            q += " LIMIT ?"
            params.append(limit)
        yield from self._stored(self.conn.execute(q, params))

    def count(self, session_id: str) -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM events WHERE session_id=?", (session_id,)
            ).fetchone()[0]
        )

    def get_blob(self, h: str) -> bytes | None:
        row = self.conn.execute("SELECT data FROM blobs WHERE hash=?", (h,)).fetchone()
        return bytes(row[0]) if row else None

    def get_message(self, h: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT data FROM messages WHERE hash=?", (h,)).fetchone()
        return json.loads(row[0]) if row else None

    def session_row(self, session_id: str) -> dict[str, Any]:
        row = self.conn.execute(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE id=?", (session_id,)
        ).fetchone()
        if row is None:
            raise SessionNotFound(f"no session {session_id!r} in {self.location}")
        return dict(zip(SESSION_COLUMNS, row, strict=True))

    def earlier_sessions(self, session_id: str, workspace: str) -> list[str]:
        row = self.conn.execute("SELECT started FROM sessions WHERE id=?", (session_id,)).fetchone()
        started = row[0] if row else "9999"
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM sessions WHERE workspace=? AND id<>? AND started<?",
                (workspace, session_id, started),
            )
        ]

    def events_of_kind(
        self, kinds: Sequence[str], session_ids: Sequence[str] | None = None
    ) -> Iterator[StoredEvent]:
        kind_marks = ",".join("?" * len(kinds))
        q = f"SELECT {_EVENT_COLUMNS} FROM events WHERE kind IN ({kind_marks})"
        if session_ids is None:
            yield from self._stored(self.conn.execute(q + " ORDER BY id", list(kinds)))
            return
        ids = list(session_ids)
        for i in range(0, len(ids), 500):  # under SQLite's parameter limit
            chunk = ids[i : i + 500]
            sql = q + f" AND session_id IN ({','.join('?' * len(chunk))}) ORDER BY id"
            yield from self._stored(self.conn.execute(sql, [*kinds, *chunk]))

    def raw_rows(self, session_id: str, *, after: int = 0) -> Iterator[EventRow]:
        yield from self.conn.execute(
            "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
            " WHERE session_id=? AND seq>? ORDER BY seq",
            (session_id, after),
        )

    def search_rows(
        self, query: str | None, *, kind: str | None = None, since: int | None = None
    ) -> Iterable[StoredEvent]:
        return self._stored(fts.search_rows(self.conn, query, kind, since))

    def prepare_search(self) -> None:
        fts.catch_up(self.conn)

    @staticmethod
    def _stored(rows: Iterable[Sequence[Any]]) -> Iterator[StoredEvent]:
        for r in rows:
            yield StoredEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8])

    def replay_db(self, session_id: str) -> sqlite3.Connection:
        # Its own connection: the replay reads from the UI's threads.
        return sqlite3.connect(str(self.path), check_same_thread=False)

    def verify(
        self, session_id: str | None = None, trusted: list[Verifier] | None = None
    ) -> list[VerifyResult]:
        """Verify one session (id or prefix) or, with None, every session,
        trusting this machine's verifier key and ``trusted``."""
        seal_file = seals.read_seals(self.seal_path, seals.load_key(create=False))
        verifiers, trust = keys.trusted_here(trusted or [])
        if session_id is not None:
            sid = self.resolve(session_id)
            return [verify_session(self.conn, sid, seal_file, verifiers, trust)]
        return verify_all(self.conn, seal_file, verifiers, trust)

    def checkpoint_notes(self, session_id: str) -> list[str]:
        return seals.read_seals(self.seal_path, None).notes.get(session_id, [])

    def named_keys(self, session_id: str) -> list[str]:
        own = keys.local_verifier()
        return [own.vkey] if own is not None else []

    def integrity(self) -> tuple[str, str]:
        return "sqlite integrity_check", integrity_check(self.conn)

    def wait_for_change(self, session_id: str, after_seq: int, timeout: float) -> bool:
        """Poll until the session has an event after ``after_seq`` (used by followers)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            h = self.head(session_id)
            if h and h[0] > after_seq:
                return True
            time.sleep(0.02)
        return False
