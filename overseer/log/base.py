"""EventStore: the one interface to wherever a log's events are kept.

Every reader of the record — the CLI's reading and deciding commands, the
auditor's tools, the replay index, an attached UI, the remote approver —
talks to an ``EventStore``, never to a database connection. Two stores
implement it: ``AuditLog`` (the local SQLite file, also the write-ahead
record a session appends to) and ``PgStore`` (a team's PostgreSQL store, fed
by shippers). ``open_store`` (overseer.log.factory) picks one from a path
or a URL, so no caller branches on the kind of store.

A store holds sessions, their hash-chained events, the blobs and model
messages the events reference, and an inbox: decisions, answers, steering
messages and revocations written by other processes for a running session.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import LogWriteError, SessionNotFound
from ..events import now_ns

if TYPE_CHECKING:
    from .note import Verifier
    from .verify import VerifyResult

# (seq, ts, kind, payload text, payload_hash, prev_hash, hash): one event as
# stored, the payload exactly as hashed. What verify_rows and exports read.
EventRow = tuple[int, int, str, str, str, str, str]


class Appended(NamedTuple):
    """What ``append`` returns: where the event landed in its chain.
    (A NamedTuple: built on every append, and cheaper than a frozen dataclass.)"""

    session_id: str
    seq: int
    ts: int
    hash: str


@dataclass(frozen=True)
class StoredEvent:
    id: int
    session_id: str
    seq: int
    ts: int
    kind: str
    payload: dict[str, Any]
    payload_hash: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind, "payload": self.payload}


def iso(ts_ns: int | None = None) -> str:
    t = (ts_ns if ts_ns is not None else now_ns()) / 1e9
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pick_session(id_or_prefix: str, matches: Sequence[str]) -> str:
    """The one session id a prefix names, or a one-line error saying why not."""
    if id_or_prefix in matches:
        return id_or_prefix
    if not matches:
        raise SessionNotFound(
            f"no session matches {id_or_prefix!r}; `overseer sessions` lists them"
        )
    if len(matches) > 1:
        raise SessionNotFound(
            f"{id_or_prefix!r} matches {len(matches)} sessions ({', '.join(matches[:5])}...); give more characters"
        )
    return matches[0]


class EventStore(ABC):
    """Where a log's sessions and events are kept. Use as a context manager."""

    @property
    @abstractmethod
    def location(self) -> str:
        """A path or URL naming the store, for messages (never with a password)."""

    # -- lifecycle -----------------------------------------------------------

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def reader(self) -> EventStore:
        """A second, independent handle on the same store, for another thread
        (a UI's verifier, a flag observer's history): the caller closes it."""

    # -- sessions ------------------------------------------------------------

    @abstractmethod
    def sessions(self) -> list[dict[str, Any]]:
        """All sessions, newest first, with ``schema.SESSION_COLUMNS`` and ``events``."""

    @abstractmethod
    def resolve(self, id_or_prefix: str) -> str:
        """A full session id from an id or a unique prefix of one."""

    def session(self, session_id: str) -> dict[str, Any]:
        sid = self.resolve(session_id)
        for s in self.sessions():
            if s["id"] == sid:
                return s
        raise SessionNotFound(f"no session {session_id!r}")

    @abstractmethod
    def session_row(self, session_id: str) -> dict[str, Any]:
        """The session's descriptive columns (``SESSION_COLUMNS``), for an export."""

    @abstractmethod
    def earlier_sessions(self, session_id: str, workspace: str) -> list[str]:
        """Sessions of ``workspace`` that started before ``session_id``."""

    # -- events --------------------------------------------------------------

    @abstractmethod
    def head(self, session_id: str) -> tuple[int, str] | None:
        """(seq, hash) of the session's last event, or None."""

    @abstractmethod
    def count(self, session_id: str) -> int: ...

    @abstractmethod
    def events(
        self,
        session_id: str,
        *,
        after: int = 0,
        kinds: list[str] | tuple[str, ...] | None = None,
        limit: int | None = None,
    ) -> Iterator[StoredEvent]:
        """A session's events in seq order (after ``after``, of ``kinds``)."""

    @abstractmethod
    def events_of_kind(
        self, kinds: Sequence[str], session_ids: Sequence[str] | None = None
    ) -> Iterator[StoredEvent]:
        """Events of ``kinds`` across sessions (all, or ``session_ids``), in append order."""

    @abstractmethod
    def raw_rows(self, session_id: str, *, after: int = 0) -> Iterator[EventRow]:
        """A session's events exactly as stored and hashed, in seq order."""

    @abstractmethod
    def search_rows(
        self, query: str | None, *, kind: str | None = None, since: int | None = None
    ) -> Iterable[StoredEvent]:
        """Events whose indexed text (overseer.log.fts.INDEXED) matches every
        word of ``query`` (None: every indexed event), newest first."""

    def prepare_search(self) -> None:
        """Bring the search index up to date now, off any append path
        (a store that indexes as it goes does nothing)."""
        return None

    # -- referenced content --------------------------------------------------

    @abstractmethod
    def get_blob(self, h: str) -> bytes | None: ...

    @abstractmethod
    def get_message(self, h: str) -> dict[str, Any] | None: ...

    # -- integrity -----------------------------------------------------------

    @abstractmethod
    def verify(
        self, session_id: str | None = None, trusted: list[Verifier] | None = None
    ) -> list[VerifyResult]:
        """Verify one session (id or prefix) or, with None, every session:
        chains, Merkle roots against the signed checkpoints, and the
        checkpoints' signatures against this machine's key and ``trusted``."""

    @abstractmethod
    def checkpoint_notes(self, session_id: str) -> list[str]:
        """The session's signed checkpoint notes (C2SP), exactly as signed, in
        the order they were written (none: sealed before checkpoints, or
        never sealed)."""

    @abstractmethod
    def integrity(self) -> tuple[str, str]:
        """(what was checked, "ok" or the problems): the store's own
        consistency beyond the chains (SQLite's integrity_check, or the rows
        of a PostgreSQL store that break the schema)."""

    def named_keys(self, session_id: str) -> list[str]:
        """Verifier keys the store says signed the session's checkpoints — a
        claim for exports to carry, never a key a verification trusts."""
        return []

    # -- the replay's view ---------------------------------------------------

    @abstractmethod
    def replay_db(self, session_id: str) -> sqlite3.Connection:
        """A SQLite connection holding the session in the log's ``events``,
        ``sessions`` and ``blobs`` layout, for the replay's index (the file
        itself, or an in-memory copy of what a remote store holds)."""

    # -- inbox: decisions and messages from other processes ------------------

    @abstractmethod
    def post(self, session_id: str, kind: str, payload: dict[str, Any], by: str) -> int:
        """Leave a decision, message or revocation for a running session."""

    @abstractmethod
    def take(self, session_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """Claim the untaken inbox rows of a session (each is taken once)."""

    # -- records added after the fact ----------------------------------------

    def append(
        self,
        session_id: str,
        kind: str,
        payload: Any,
        *,
        durable: bool = True,
    ) -> Appended:
        """Append one event to a session's chain (a local log only)."""
        raise LogWriteError(
            f"{self.location} takes events only from the runners that ship to it; "
            "record this in the session's local log (--log PATH on the runner's machine)"
        )

    def seal(self, session_id: str) -> Any:
        """Seal a session's head (a local log only)."""
        raise LogWriteError(f"{self.location} cannot seal sessions; its runners seal them")
