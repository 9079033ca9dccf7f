"""AuditLog: the append-only, hash-chained, checkpointed record of every session.

One SQLite file (WAL, ``synchronous=FULL``). Every ``append`` is its own
transaction and returns only once the commit is durable: the broker relies on
that to never run an action whose decision is not on disk. Within a process
one connection serialised by a lock is the single writer; several processes
may append to one file (each to its own sessions) because the head of a chain
is read inside the ``BEGIN IMMEDIATE`` transaction that extends it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel

from ..canonical import GENESIS, canonical_json, chain_hash, event_body, sha256_hex
from ..errors import LogError, LogWriteError
from ..events import PAYLOADS, SessionStartedPayload, now_ns
from ..paths import default_log_path, seal_path_for
from ..redact import Redactor
from . import schema, seals
from .base import Appended, EventStore, StoredEvent, iso
from .checkpoints import Checkpoint, Checkpointer
from .liveness import mark_interrupted, proc_start
from .sqlite_read import SQLiteReads
from .unusable import unusable

__all__ = ["Appended", "AuditLog", "StoredEvent", "iso"]


class _Prepared(NamedTuple):
    """One event validated, redacted and hashed, waiting for its place in the chain."""

    kind: str
    ts: int
    payload_json: str
    payload_hash: str
    redacted: dict[str, Any]


_ROWS_PER_STATEMENT = 256  # x 8 parameters, well under SQLite's variable limit


@functools.lru_cache(maxsize=_ROWS_PER_STATEMENT)
def _insert_events(rows: int) -> str:
    return (
        "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
        " VALUES " + ",".join(["(?,?,?,?,?,?,?,?)"] * rows)
    )


_INSERT_EVENT = _insert_events(1)


def _column_text(text: str | None) -> str | None:
    """Text for a plain column. A lone surrogate (an undecodable byte in a
    path or an argument) has no UTF-8 form and SQLite refuses it: it is kept
    as a visible ``\\udcff`` escape. (Event payloads keep it exactly; see
    ``canonical_json``.)"""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class AuditLog(SQLiteReads, EventStore):
    """The local audit DB: the SQLite ``EventStore``, and the write-ahead
    record sessions append to. Use as a context manager or call ``close``."""

    SEAL_EVERY = 500
    SEAL_INTERVAL_NS = 5_000_000_000

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        create: bool = True,
        redactor: Redactor | None = None,
        seal_every: int | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path else default_log_path()
        self.seal_path = seal_path_for(self.path)
        self.redactor = redactor or Redactor()
        self.seal_every = seal_every or self.SEAL_EVERY
        self._lock = threading.RLock()
        self._since_seal: dict[str, tuple[int, int]] = {}  # session -> (events, ts of last seal)
        self._sealer: threading.Thread | None = None
        self._closing = threading.Event()
        self._key: bytes | None = None
        self.checkpointer = Checkpointer(self)
        self._heads: dict[str, tuple[int, str]] = {}  # session -> (seq, hash) last written here
        # (session, kind) -> the database's data_version when a take found nothing
        self._inbox_empty_at: dict[tuple[str, str | None], int] = {}
        self._wal_sized = False
        self._subscribers: list[Callable[[str, int, str, dict[str, Any]], None]] = []
        doing = "open"  # a path that cannot hold a log: one line that says why
        try:
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "is a directory", str(self.path))
            if not self.path.exists():
                if not create:
                    raise LogError(
                        f"no audit log at {self.path}; pass --log PATH or set OVERSEER_LOG to an existing log"
                    )
                doing = "create"
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LogError(unusable(self.path, exc, doing)) from exc
        try:
            self.conn = sqlite3.connect(
                str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False
            )
            self.conn.execute("PRAGMA busy_timeout=60000")
            mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self.conn.execute("PRAGMA synchronous=FULL")
            if not schema.is_overseer_db(self.conn):
                self._create_schema()
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
                raise LogError(
                    f"{self.path} is not a readable overseer audit log ({exc}); "
                    "check the path, or restore the file from a backup"
                ) from exc
            # Not the file's content but where it is: no permission, a
            # read-only file system, a full disk...
            raise LogError(unusable(self.path, exc)) from exc
        except OSError as exc:  # the schema lock on the directory
            raise LogError(unusable(self.path, exc)) from exc
        self.journal_mode = mode
        mark_interrupted(self.conn, self._lock)

    def _create_schema(self) -> None:
        # sqlite-utils commits as it goes, so creation cannot sit in one SQL
        # transaction; an flock keeps two processes from creating the schema
        # at once. It is taken on the directory, never on the DB file: closing
        # any descriptor of the DB file would drop SQLite's own POSIX locks in
        # this process, and another process could then delete our WAL.
        import fcntl

        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if schema.is_overseer_db(self.conn):
                return
            if self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise LogError(
                    f"{self.path} is a SQLite database but not an overseer audit log; "
                    "choose another path with --log"
                )
            with self._lock:
                schema.create(self.conn)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        self._closing.set()
        if self._sealer is not None and self._sealer is not threading.current_thread():
            self._sealer.join(timeout=5)
        with self._lock, contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def _start_sealer(self) -> None:
        """Seal idle sessions too: a session waiting an hour for an approval
        must not leave its last events unsealed all that time."""
        self._sealer = threading.Thread(target=self._seal_idle, name="audit-sealer", daemon=True)
        self._sealer.start()

    def _seal_idle(self) -> None:
        while not self._closing.wait(1.0):
            now = now_ns()
            with self._lock:
                due = [
                    sid
                    for sid, (n, last) in self._since_seal.items()
                    if n > 0 and now - last >= self.SEAL_INTERVAL_NS
                ]
                for sid in due:
                    if self._closing.is_set():
                        return
                    try:
                        self.seal(sid)
                    except Exception:  # noqa: BLE001 - the next append reports a broken log
                        self._since_seal[sid] = (0, now)

    def __enter__(self) -> AuditLog:
        return self

    def reader(self) -> AuditLog:
        return AuditLog(self.path, create=False, redactor=self.redactor)

    @property
    def key(self) -> bytes:
        if self._key is None:
            key = seals.load_key(create=True)
            assert key is not None
            self._key = key
        return self._key

    # -- writing -------------------------------------------------------------

    def start_session(self, payload: SessionStartedPayload, session_id: str | None = None) -> str:
        """Create a session row owned by this process and record ``session_started``."""
        sid = session_id or uuid.uuid4().hex[:12]
        pid = os.getpid()
        with self._lock:
            try:
                self.conn.execute(
                    "INSERT INTO sessions (id, task, agent, model, workspace, started, status, policy,"
                    " owner_pid, owner_host, owner_start) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        sid,
                        _column_text(self.redactor.text(payload.task)),
                        _column_text(payload.agent),
                        _column_text(payload.model),
                        _column_text(payload.workspace),
                        iso(),
                        "running",
                        _column_text(payload.policy_name),
                        pid,
                        socket.gethostname(),
                        proc_start(pid),
                    ),
                )
            except sqlite3.Error as exc:
                raise LogWriteError(unusable(self.path, exc, "start a session in")) from exc
        payload.pid = pid
        payload.host = socket.gethostname()
        started = self.append(sid, "session_started", payload)
        with self._lock:  # signed from the first event on
            self.checkpointer.checkpoint(sid, started.seq)
        return sid

    def append(
        self,
        session_id: str,
        kind: str,
        payload: BaseModel | dict[str, Any],
        *,
        durable: bool = True,
    ) -> Appended:
        """Append one event; returns after the commit is durable.

        Raises ``LogWriteError`` when the event cannot be made durable: the
        caller (the broker) must then not act.

        ``durable=False`` is for records that a durable one always follows
        before anything acts on them (a broker's approval request precedes
        its ``approval_decided``): the commit survives the process being
        killed at once, and reaches the disk with the next durable commit,
        which syncs the whole WAL. It saves an fsync per record.
        """
        return self._write(session_id, [self._prepare(session_id, kind, payload)], durable)[0]

    def append_many(
        self,
        session_id: str,
        records: Sequence[tuple[str, BaseModel | dict[str, Any]]],
        *,
        durable: bool = True,
    ) -> list[Appended]:
        """Append several events of one session in one transaction: all or none.

        The broker writes a call's proposal, policy decision and start this
        way, so the record that must precede execution costs one commit, not
        three.
        """
        if not records:
            return []
        prepared = [self._prepare(session_id, kind, payload) for kind, payload in records]
        return self._write(session_id, prepared, durable)

    def _write(self, session_id: str, prepared: list[_Prepared], durable: bool) -> list[Appended]:
        with self._lock:
            if not self._wal_sized:
                self._presize_wal()
            if durable:
                chained = self._insert(session_id, prepared)
            else:
                with self._synchronous("NORMAL"):
                    chained = self._insert(session_id, prepared)
            ts = prepared[-1].ts
            n, last = self._since_seal.get(session_id, (0, ts))
            n += len(prepared)
            self._since_seal[session_id] = (n, last)
            if prepared[-1].kind != "seal":
                if n >= self.seal_every or ts - last >= self.SEAL_INTERVAL_NS:
                    self.seal(session_id)
                elif self._sealer is None:
                    self._start_sealer()
        if self._subscribers:
            for p, (_h, seq) in zip(prepared, chained, strict=True):
                self._notify(session_id, seq, p.kind, p.redacted)
        return [
            Appended(session_id, seq, p.ts, h)
            for p, (h, seq) in zip(prepared, chained, strict=True)
        ]

    def _prepare(
        self, session_id: str, kind: str, payload: BaseModel | dict[str, Any]
    ) -> _Prepared:
        """Validate, redact and serialise one event, outside the writer lock."""
        model = PAYLOADS.get(kind)
        if model is None:
            raise LogWriteError(f"unknown event kind {kind!r}")
        try:
            if isinstance(payload, dict):
                payload = model.model_validate(payload)
            redacted = self.redactor.value(payload.model_dump(mode="json"))
            payload_json = canonical_json(redacted, check=False)
            ts = now_ns()
            payload_hash = sha256_hex(event_body(session_id, ts, kind, payload_json))
        except Exception as exc:  # a payload we cannot serialise must not pass silently
            raise LogWriteError(f"cannot serialise {kind} event: {exc}") from exc
        return _Prepared(kind, ts, payload_json, payload_hash, redacted)

    def subscribe(self, callback: Callable[[str, int, str, dict[str, Any]], None]) -> None:
        """Call ``callback(session_id, seq, kind, payload)`` after each durable append.

        Called in the appending thread, outside the writer lock; it must be
        quick and must not raise (an exception is swallowed: an observer
        cannot be allowed to break the record).
        """
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[str, int, str, dict[str, Any]], None]) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    def _notify(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        # Subscribers see the payload exactly as recorded (redacted); they
        # share one dict and must not change it.
        for cb in list(self._subscribers):
            try:
                cb(session_id, seq, kind, payload)
            except Exception:  # noqa: BLE001 - observers must not break appends
                pass

    def _insert(self, session_id: str, prepared: list[_Prepared]) -> list[tuple[str, int]]:
        """Extend the session's chain, durably; (hash, seq) per event. Caller holds the lock.

        The head is cached per session; if another process extended the same
        chain meanwhile, the unique (session_id, seq) index rejects our insert
        and we retry from the real head, so the chain can never fork.
        """
        conn = self.conn
        # Up to a few hundred events go in as one multi-row INSERT: in
        # autocommit mode one statement is its own transaction (all rows or
        # none, and one fsync'd commit) without BEGIN/COMMIT round trips.
        one_statement = len(prepared) <= _ROWS_PER_STATEMENT
        for attempt in range(3):
            head = self._heads.get(session_id) if attempt == 0 else None
            used: tuple[int, str] | None = None
            try:
                if not one_statement:
                    conn.execute("BEGIN IMMEDIATE")
                if head is None:
                    row = conn.execute(
                        "SELECT seq, hash FROM events WHERE session_id=? ORDER BY seq DESC LIMIT 1",
                        (session_id,),
                    ).fetchone()
                    head = (row[0], row[1]) if row else (0, GENESIS)
                seq, prev = used = head
                rows = []
                chained = []
                for p in prepared:
                    seq += 1
                    h = chain_hash(prev, seq, p.payload_hash)
                    rows.append(
                        (session_id, seq, p.ts, p.kind, p.payload_json, p.payload_hash, prev, h)
                    )
                    chained.append((h, seq))
                    prev = h
                if len(rows) == 1:
                    conn.execute(_INSERT_EVENT, rows[0])
                elif one_statement:
                    conn.execute(_insert_events(len(rows)), [v for row in rows for v in row])
                else:
                    conn.executemany(_INSERT_EVENT, rows)
                    conn.execute("COMMIT")
                self._heads[session_id] = (seq, prev)
                return chained
            except sqlite3.IntegrityError as exc:
                self._rollback()
                self._heads.pop(session_id, None)
                if used is not None and self._head_unmoved(session_id, used):
                    # Not a race with another writer but a refusal of the row.
                    raise LogWriteError(f"audit log {self.path} refused the event: {exc}") from exc
                # Extended elsewhere meanwhile: go again from the real head.
            except sqlite3.Error as exc:
                self._rollback()
                self._heads.pop(session_id, None)
                raise LogWriteError(unusable(self.path, exc, "write to")) from exc
        raise LogWriteError(
            f"cannot extend session {session_id}: its chain is being written by another process"
        )

    def _presize_wal(self) -> None:
        """Give the WAL its working size once, before this process's first commit.

        SQLite deletes the WAL when the last connection closes, so a session
        usually starts with an empty one. Until it reaches the auto-checkpoint
        size every commit appends to the file, and its fsync must then also
        commit the file's new size to the file system's journal; after that,
        SQLite reuses the file from the start. Zeros written ahead turn those
        appends into overwrites: on the dev machine an fsync'd 8 KB append
        costs ~150-200 µs, an overwrite ~100 µs, for a one-off ~4 MB.

        Safe for SQLite: the zeros go past the end of the file while this
        connection holds the write lock (no other writer is adding frames),
        and a frame counts only with the WAL's current salt and checksum, so
        recovery stops at the first zero frame. Best effort: any failure just
        leaves the WAL as it was.
        """
        self._wal_sized = True
        if self.journal_mode.lower() != "wal" or self.conn.in_transaction:
            return  # (a transaction of this connection is never ours to end)
        wal = Path(f"{self.path}-wal")
        try:
            page = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
            frames = int(self.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
            if frames <= 0:
                return
            target = 32 + (frames + 64) * (page + 24)
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                fd = os.open(wal, os.O_WRONLY)  # never O_CREAT: SQLite owns the file
                try:
                    size = os.fstat(fd).st_size
                    if size < target:
                        os.pwrite(fd, bytes(target - size), size)
                        os.fsync(fd)
                finally:
                    os.close(fd)
            finally:
                self.conn.execute("ROLLBACK")  # nothing was written in it
        except (OSError, sqlite3.Error):
            pass  # best effort: the WAL grows as it would have

    def _head_unmoved(self, session_id: str, used: tuple[int, str]) -> bool:
        try:
            return self.head(session_id) == (used if used[0] else None)
        except sqlite3.Error:
            return False

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def seal(self, session_id: str) -> Checkpoint | None:
        """Record a ``seal`` event and sign a checkpoint of the session's
        Merkle tree into the sidecar file (overseer.log.checkpoints)."""
        with self._lock:
            checkpoint = self.checkpointer.seal(session_id)
            if checkpoint is not None:
                self._since_seal[session_id] = (0, now_ns())
            return checkpoint

    def end_session(
        self,
        session_id: str,
        status: str,
        final: str = "",
        summary: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.append(
            session_id,
            "session_ended",
            {"status": status, "final": final, "summary": summary or {}, "error": error},
        )
        with self._lock:
            self.conn.execute(
                "UPDATE sessions SET status=?, ended=? WHERE id=?", (status, iso(), session_id)
            )
        self.seal(session_id)

    def put_blob(self, data: bytes) -> str:
        """Store content-addressed bytes once; returns their sha256."""
        h = sha256_hex(data)
        self._put_referenced(
            "INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?,?,?)",
            (h, len(data), data),
            "output",
        )
        return h

    @contextlib.contextmanager
    def _synchronous(self, level: str) -> Iterator[None]:
        """Run a write at another ``synchronous`` level (caller holds the lock)."""
        try:
            self.conn.execute(f"PRAGMA synchronous={level}")
        except sqlite3.Error as exc:
            raise LogWriteError(unusable(self.path, exc, "write to")) from exc
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA synchronous=FULL")

    def _put_referenced(self, sql: str, params: tuple[Any, ...], what: str) -> None:
        """Store a blob or message without its own fsync.

        Nothing points at it until an event does, and that event is appended
        afterwards with synchronous=FULL: its commit syncs the whole WAL,
        this row included. So a model turn costs one fsync, not three.
        """
        with self._lock, self._synchronous("NORMAL"):
            try:
                self.conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise LogWriteError(unusable(self.path, exc, f"store {what} in")) from exc

    def put_message(self, message: dict[str, Any]) -> str:
        """Store a model message once (redacted, canonical); returns its hash."""
        text = canonical_json(self.redactor.value(message), check=False)
        h = sha256_hex(text)
        self._put_referenced(
            "INSERT OR IGNORE INTO messages (hash, data) VALUES (?,?)", (h, text), "model message"
        )
        return h
