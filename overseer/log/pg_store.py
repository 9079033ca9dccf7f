"""PgStore: a team's store on PostgreSQL, the second ``EventStore``.

Runners ship their sessions here (overseer.log.shipper); auditors and
reviewers read, search, verify and decide through the same interface as a
local log (``--log postgresql://...``). The store never originates events:
a session's chain is written by its runner, locally first, and the store
re-checks every event it is given (overseer.log.pg_schema). What a reviewer
decides goes into the store's inbox, where the runner's shipper hears of it
through LISTEN/NOTIFY and records it in the local chain.

One autocommit psycopg connection per store object (psycopg connections are
thread-safe; ``reader()`` gives a thread its own).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..canonical import canonical_json
from ..errors import LogError, SessionNotFound, UsageError
from ..events import now_ns
from ..redact import Redactor
from . import keys, pg_schema
from .base import EventRow, EventStore, StoredEvent, pick_session
from .fts import KINDS_SQL
from .locations import redact_url
from .memory import session_db
from .note import Verifier
from .pg_verify import (
    CHECKPOINT_KIND,
    KEY_KIND,
    integrity_problems,
    notes_of,
    verify_store_session,
)
from .schema import SESSION_COLUMNS
from .verify import VerifyResult

_EVENT_COLUMNS = "id, session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash"
_HASH = re.compile(r"\b[0-9a-f]{64}\b")


class StoreUnavailable(LogError):
    """The team store cannot be reached or refuses this client."""


def connect(url: str, *, timeout: float = 5.0) -> Any:
    """An autocommit connection to the store, or a one-line ``StoreUnavailable``."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency of overseer
        raise StoreUnavailable(f"psycopg is not installed ({exc}); reinstall overseer") from exc
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.ProgrammingError as exc:  # an unparseable connection string
        raise UsageError(f"not a usable store URL {redact_url(url)}: {_first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise StoreUnavailable(
            f"cannot reach the team store {redact_url(url)}: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def tsquery(query: str) -> str:
    """A PostgreSQL ``to_tsquery`` text for a user's search, matching what
    the local FTS5 search means by it: every word must occur; a double-quoted
    phrase must occur as written; ``word*`` is a prefix; ``OR`` between two
    terms allows either. Words are split as overseer.log.pg_schema indexes
    them (runs of non-alphanumerics separate)."""

    def lexemes(text: str) -> list[str]:
        return ["'" + w.lower() + "'" for w in re.split(r"[\W_]+", text) if w]

    terms: list[str] = []
    pending_or = False
    for m in re.finditer(r'"([^"]*)"|(\S+)', query):
        phrase, word = m.group(1), m.group(2)
        if word == "OR" and terms:
            pending_or = True
            continue
        if word in ("AND", "NOT", "NEAR"):
            continue  # FTS5 operators with no exact equivalent: the words decide
        if phrase is not None:
            words = lexemes(phrase)
            term = " <-> ".join(words)
        else:
            prefix = word.endswith("*")
            words = lexemes(word.rstrip("*"))
            if prefix and words:
                words[-1] += ":*"
            term = " & ".join(words)
        if not words:
            continue
        term = f"({term})"
        if pending_or:
            terms[-1] = f"({terms[-1]} | {term})"
            pending_or = False
        else:
            terms.append(term)
    if not terms:
        raise UsageError(f"search query {query!r} has no words to look for")
    return " & ".join(terms)


class PgStore(EventStore):
    """The team store at a ``postgresql://`` URL (created on first use)."""

    def __init__(self, url: str, *, redactor: Redactor | None = None) -> None:
        self.url = url
        self.redactor = redactor or Redactor()
        self.conn = connect(url)
        try:
            pg_schema.migrate(self.conn, self.location)
        except LogError:
            self.conn.close()
            raise
        except Exception as exc:
            self.conn.close()
            raise StoreUnavailable(
                f"cannot use the team store {self.location}: {_first_line(exc)}"
            ) from exc

    @property
    def location(self) -> str:
        return redact_url(self.url)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken connection
            pass

    def __enter__(self) -> PgStore:
        return self

    def reader(self) -> PgStore:
        return PgStore(self.url, redactor=self.redactor)

    def _query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return list(self.conn.execute(sql, params).fetchall())
        except Exception as exc:
            raise StoreUnavailable(f"team store {self.location}: {_first_line(exc)}") from exc

    # -- sessions ------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        cols = [*SESSION_COLUMNS, "events"]
        rows = self._query(
            f"SELECT {', '.join('s.' + c for c in SESSION_COLUMNS)},"
            " (SELECT count(*) FROM overseer.events e WHERE e.session_id = s.id)"
            " FROM overseer.sessions s ORDER BY s.started DESC NULLS LAST, s.id DESC"
        )
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def resolve(self, id_or_prefix: str) -> str:
        escaped = id_or_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT id FROM overseer.sessions WHERE id LIKE %s ORDER BY started DESC",
            (escaped + "%",),
        )
        return pick_session(id_or_prefix, [r[0] for r in rows])

    def session_row(self, session_id: str) -> dict[str, Any]:
        rows = self._query(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM overseer.sessions WHERE id = %s",
            (session_id,),
        )
        if not rows:
            raise SessionNotFound(f"no session {session_id!r} in {self.location}")
        return dict(zip(SESSION_COLUMNS, rows[0], strict=True))

    def earlier_sessions(self, session_id: str, workspace: str) -> list[str]:
        rows = self._query(
            "SELECT id FROM overseer.sessions WHERE workspace = %s AND id <> %s AND started <"
            " coalesce((SELECT started FROM overseer.sessions WHERE id = %s), '9999')",
            (workspace, session_id, session_id),
        )
        return [r[0] for r in rows]

    # -- events --------------------------------------------------------------

    def head(self, session_id: str) -> tuple[int, str] | None:
        rows = self._query(
            "SELECT seq, hash FROM overseer.events WHERE session_id = %s ORDER BY seq DESC LIMIT 1",
            (session_id,),
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def count(self, session_id: str) -> int:
        rows = self._query(
            "SELECT count(*) FROM overseer.events WHERE session_id = %s", (session_id,)
        )
        return int(rows[0][0])

    @staticmethod
    def _stored(rows: Iterable[Sequence[Any]]) -> Iterator[StoredEvent]:
        for r in rows:
            yield StoredEvent(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8])

    def events(
        self,
        session_id: str,
        *,
        after: int = 0,
        kinds: list[str] | tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredEvent]:
        q = f"SELECT {_EVENT_COLUMNS} FROM overseer.events WHERE session_id = %s AND seq > %s"
        params: list[Any] = [session_id, after]
        if kinds:
            q += " AND kind = ANY(%s)"
            params.append(list(kinds))
        q += " ORDER BY seq"
        if limit is not None:
            q += " LIMIT %s"
            params.append(limit)
        return self._stored(self._query(q, params))

    def events_of_kind(
        self, kinds: Sequence[str], session_ids: Sequence[str] | None = None
    ) -> Iterator[StoredEvent]:
        q = f"SELECT {_EVENT_COLUMNS} FROM overseer.events WHERE kind = ANY(%s)"
        params: list[Any] = [list(kinds)]
        if session_ids is not None:
            q += " AND session_id = ANY(%s)"
            params.append(list(session_ids))
        return self._stored(self._query(q + " ORDER BY id", params))

    def raw_rows(self, session_id: str, *, after: int = 0) -> Iterator[EventRow]:
        rows = self._query(
            "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM overseer.events"
            " WHERE session_id = %s AND seq > %s ORDER BY seq",
            (session_id, after),
        )
        for r in rows:
            yield (int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6])

    def prepare_search(self) -> None:
        """Index what no search has indexed yet (ids commit out of order, so
        the gap is found by anti-join, not by a watermark)."""
        self._query(
            "INSERT INTO overseer.search_terms (event_id, tsv)"
            " SELECT e.id, to_tsvector('simple', overseer.search_words(e.kind, e.payload))"
            f" FROM overseer.events e WHERE e.kind IN ({KINDS_SQL})"
            " AND NOT EXISTS (SELECT 1 FROM overseer.search_terms t WHERE t.event_id = e.id)"
            " ON CONFLICT DO NOTHING RETURNING 1"
        )

    def search_rows(
        self, query: str | None, *, kind: str | None = None, since: int | None = None
    ) -> Iterable[StoredEvent]:
        where = ["true"]
        params: list[Any] = []
        if kind:
            where.append("e.kind = %s")
            params.append(kind)
        if since is not None:
            where.append("e.ts >= %s")
            params.append(since)
        cols = ", ".join("e." + c.strip() for c in _EVENT_COLUMNS.split(","))
        if query is None:
            sql = (
                f"SELECT {cols} FROM overseer.events e WHERE e.kind IN ({KINDS_SQL})"
                f" AND {' AND '.join(where)} ORDER BY e.id DESC"
            )
            return self._stored(self._query(sql, params))
        self.prepare_search()
        sql = (
            f"SELECT {cols} FROM overseer.search_terms t JOIN overseer.events e ON e.id = t.event_id"
            f" WHERE t.tsv @@ to_tsquery('simple', %s) AND {' AND '.join(where)} ORDER BY e.id DESC"
        )
        return self._stored(self._query(sql, [tsquery(query), *params]))

    # -- referenced content --------------------------------------------------

    def get_blob(self, h: str) -> bytes | None:
        rows = self._query("SELECT data FROM overseer.blobs WHERE hash = %s", (h,))
        return bytes(rows[0][0]) if rows else None

    def get_message(self, h: str) -> dict[str, Any] | None:
        rows = self._query("SELECT data FROM overseer.messages WHERE hash = %s", (h,))
        return json.loads(rows[0][0]) if rows else None

    # -- integrity -----------------------------------------------------------

    def attestations(
        self, session_id: str | None = None, kind: str | None = None
    ) -> list[tuple[str, str, str]]:
        """(session_id, kind, body) of the checkpoints, seals and key claims
        shipped here, in the order they arrived."""
        q = "SELECT session_id, kind, body FROM overseer.attestations WHERE true"
        params: list[Any] = []
        if session_id is not None:
            q += " AND session_id = %s"
            params.append(session_id)
        if kind is not None:
            q += " AND kind = %s"
            params.append(kind)
        return [(r[0], r[1], r[2]) for r in self._query(q + " ORDER BY id", params)]

    def verify(
        self, session_id: str | None = None, trusted: list[Verifier] | None = None
    ) -> list[VerifyResult]:
        verifiers, trust = keys.trusted_here(trusted or [])

        def one(
            sid: str, rows: Iterable[EventRow], recs: list[tuple[str, str, str]]
        ) -> VerifyResult:
            return verify_store_session(sid, rows, recs, verifiers, trust)

        if session_id is not None:
            sid = self.resolve(session_id)
            return [one(sid, self.raw_rows(sid), self.attestations(sid))]
        ids = [r[0] for r in self._query("SELECT id FROM overseer.sessions ORDER BY started")]
        by_session: dict[str, list[tuple[str, str, str]]] = {}
        for rec in self.attestations():
            by_session.setdefault(rec[0], []).append(rec)
        out = [one(s, self.raw_rows(s), by_session.get(s, [])) for s in ids]
        for sid in sorted(set(by_session) - set(ids)):
            out.append(one(sid, iter(()), by_session[sid]))
        return out

    def checkpoint_notes(self, session_id: str) -> list[str]:
        return notes_of(self.attestations(session_id, CHECKPOINT_KIND))

    def named_keys(self, session_id: str) -> list[str]:
        return [body for _s, _k, body in self.attestations(session_id, KEY_KIND)]

    def integrity(self) -> tuple[str, str]:
        problems = integrity_problems(self._query)
        return "store schema check", "ok" if not problems else "; ".join(problems[:5])

    # -- the replay's view ---------------------------------------------------

    def replay_db(self, session_id: str) -> sqlite3.Connection:
        rows = list(self.raw_rows(session_id))
        refs: set[str] = set()
        for _seq, _ts, kind, payload, *_ in rows:
            if kind == "action_finished":
                refs.update(_HASH.findall(payload))
        blobs: list[tuple[str, bytes]] = []
        if refs:
            found = self._query(
                "SELECT hash, data FROM overseer.blobs WHERE hash = ANY(%s)", (sorted(refs),)
            )
            blobs = [(r[0], bytes(r[1])) for r in found]
        return session_db(self.session_row(session_id), rows, blobs)

    # -- inbox ---------------------------------------------------------------

    def post(self, session_id: str, kind: str, payload: dict[str, Any], by: str) -> int:
        text = canonical_json(self.redactor.value(payload), check=False)
        rows = self._query(
            "INSERT INTO overseer.inbox (session_id, kind, payload, by, created)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (session_id, kind, text, by, now_ns()),
        )
        return int(rows[0][0])

    def take(self, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        self.take_into(session_id, taken.append, kind)
        return taken

    def take_into(
        self,
        session_id: str,
        deliver: Callable[[dict[str, Any]], None],
        kind: str | None = None,
    ) -> int:
        """Claim untaken inbox rows and hand each to ``deliver`` before the
        claim commits: if ``deliver`` raises (or the process dies), the rows
        stay untaken and come again."""
        q = (
            "SELECT id, kind, payload, by, created FROM overseer.inbox"
            " WHERE session_id = %s AND taken IS NULL"
        )
        params: list[Any] = [session_id]
        if kind:
            q += " AND kind = %s"
            params.append(kind)
        try:
            with self.conn.transaction():
                rows = self.conn.execute(q + " ORDER BY id FOR UPDATE SKIP LOCKED", params)
                claimed = rows.fetchall()
                for r in claimed:
                    deliver(
                        {
                            "id": r[0],
                            "kind": r[1],
                            "payload": json.loads(r[2]),
                            "by": r[3],
                            "created": r[4],
                        }
                    )
                if claimed:
                    self.conn.execute(
                        "UPDATE overseer.inbox SET taken = %s WHERE id = ANY(%s)",
                        (now_ns(), [r[0] for r in claimed]),
                    )
        except LogError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"team store {self.location}: {_first_line(exc)}") from exc
        return len(claimed)
