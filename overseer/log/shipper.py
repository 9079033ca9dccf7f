"""Shipping sessions from the local log to a team store.

The local SQLite log stays the write-ahead record: an action runs once its
decision is durable *there*, and nothing on that path touches the network.
``ship_session`` copies what the store lacks — the session row, its events
after the store's head (COPY, a batch per transaction), the blobs and model
messages they reference, and the signed checkpoints beside the chain — and is
idempotent by (session, seq, hash): it resumes from the last event the
store acknowledged, and refuses to go on when the store's history of the
session differs from the local one (``ShipConflict``).

``Shipper`` does that in the background for a running session: woken by
each local append, it ships a burst shortly after it is committed; when the
store is unreachable it backs off, records a notice with the lag, and
catches up when the store is back — the agent is never stopped or slowed.
A second thread LISTENs on the store's inbox channel and moves decisions,
answers, steering messages and revocations written there into the local
inbox, where the runner takes them exactly as it takes `overseer approve`'s.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import LogError
from .pg_schema import CHANNEL
from .pg_store import PgStore, StoreUnavailable, connect
from .ship_source import BATCH, Attestation, Source
from .store import AuditLog

# Binary COPY: the store reads each field by its length instead of scanning
# a kilobyte of JSON for tabs and backslashes, and the client does not
# escape it (tests/bench/ship.py: ~6 µs less backend CPU an event, about a
# third of the COPY). The text is the same either way; the store
# hashes what arrived, whatever the format.
COPY_BINARY = True
_COPY_EVENTS = (
    "COPY overseer.events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
    " FROM STDIN" + (" (FORMAT BINARY)" if COPY_BINARY else "")
)
_EVENT_TYPES = ["text", "int8", "int8", "text", "text", "text", "text", "text"]


class ShipConflict(LogError):
    """The store holds a different history of the session than the local log."""


@dataclass
class ShipReport:
    session_id: str
    sent: int = 0  # events the store did not have
    already: int = 0  # events it had
    attestations: int = 0  # checkpoint notes, seals and key claims added
    head: int = 0  # the store's head seq afterwards
    # A point the runner signs at (the first event, a seal) was shipped but
    # its checkpoint was not on file yet: ship again shortly.
    awaiting_note: bool = False


def _upsert_session(conn: Any, row: tuple[Any, ...]) -> None:
    """The session row: created once, then only its status and end move."""
    conn.execute(
        "INSERT INTO overseer.sessions (id, task, agent, model, workspace, started, ended,"
        " status, policy, host) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, ended = EXCLUDED.ended"
        " WHERE (overseer.sessions.status, overseer.sessions.ended)"
        " IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.ended)",
        row,
    )


def _resume_point(source: Source, store: PgStore, sid: str) -> int:
    """The store's head seq, once it is known to be the local event there."""
    head = store.head(sid)
    if head is None:
        return 0
    after, store_hash = head
    if source.hash_at(sid, after) != store_hash:
        raise ShipConflict(
            f"the store {store.location} holds a different history of session {sid} at "
            f"seq {after} than {source.log.path}: nothing shipped; verify both"
        )
    return after


def _insert_attestations(cur: Any, sid: str, records: list[Attestation]) -> int:
    """Add records the store lacks; returns how many were new."""
    import hashlib

    cur.executemany(
        "INSERT INTO overseer.attestations (session_id, kind, seq, body, body_hash)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, body_hash) DO NOTHING"
        " RETURNING 1",
        [
            (sid, kind, seq or None, body, hashlib.sha256(body.encode()).hexdigest())
            for kind, seq, body in records
        ],
        returning=True,
    )
    added = 0
    while True:
        added += len(cur.fetchall())
        if not cur.nextset():
            return added


def ship_session(
    source: Source, store: PgStore, sid: str, *, since_last: bool = False
) -> ShipReport:
    """Bring the store's copy of session ``sid`` level with the local log.

    Each batch of events goes in one transaction with the blobs and messages
    it references and the checkpoints it completes, so the store never
    holds a checkpoint beyond its chain nor a chain without its checkpoint.
    """
    report = ShipReport(sid)
    conn = store.conn
    row = source.session(sid)
    if source.rows_sent.get(sid) != row:
        _upsert_session(conn, row)
        source.rows_sent[sid] = row
    if sid in source.acked:
        after = source.acked[sid]
    else:
        after = _resume_point(source, store, sid)
        report.already = after
    for rows in source.batches(sid, after):
        blobs, messages = source.referenced(rows)
        # Read after the events: a checkpoint is written once its events are
        # committed, so every note these rows complete is on file by now.
        source.read_attestations(since_last=since_last or report.sent > 0)
        head = rows[-1][0]
        records = source.due(sid, head)
        with conn.transaction(), conn.cursor() as cur:
            if blobs:
                cur.executemany(
                    "INSERT INTO overseer.blobs (hash, size, data) VALUES (%s, %s, %s)"
                    " ON CONFLICT (hash) DO NOTHING",
                    blobs,
                )
            if messages:
                cur.executemany(
                    "INSERT INTO overseer.messages (hash, data) VALUES (%s, %s)"
                    " ON CONFLICT (hash) DO NOTHING",
                    messages,
                )
            with cur.copy(_COPY_EVENTS) as copy:
                if COPY_BINARY:
                    copy.set_types(_EVENT_TYPES)
                for r in rows:
                    copy.write_row((sid, *r))
            if records:
                report.attestations += _insert_attestations(cur, sid, records)
        if records:
            source.key_sent.add(sid)
        report.sent += len(rows)
        report.head = source.acked[sid] = head
        signed_at = max((r[0] for r in rows if r[0] == 1 or r[2] == "seal"), default=0)
        source.signed_at[sid] = max(source.signed_at.get(sid, 0), signed_at)
    source.acked.setdefault(sid, after)
    report.head = report.head or after
    if not report.sent:
        # Nothing new in the chain: records for what the store already has
        # (a note written after its events were shipped, or `overseer ship`
        # of a session shipped before).
        source.read_attestations(since_last=since_last)
        records = source.due(sid, report.head)
        if records:
            with conn.transaction(), conn.cursor() as cur:
                report.attestations += _insert_attestations(cur, sid, records)
            source.key_sent.add(sid)
    report.awaiting_note = source.signed_at.get(sid, 0) > source.noted.get(sid, 0)
    return report


def ship_existing(log: AuditLog, store: PgStore, session_ids: list[str]) -> list[ShipReport]:
    """`overseer ship`: push existing local sessions to the store."""
    source = Source(log)
    try:
        return [ship_session(source, store, sid) for sid in session_ids]
    finally:
        source.close()


@dataclass
class ShipStatus:
    """How far shipping has got, for a status line."""

    store: str
    local_seq: int = 0
    shipped_seq: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return max(0, self.local_seq - self.shipped_seq)

    def headline(self) -> str:
        """A status line's few words: up to date, or how far behind and why."""
        if self.error:
            return f"{self.lag} behind, paused ({self.error[:40]})"
        return "up to date" if self.lag == 0 else f"{self.lag} behind"


class Shipper:
    """Ships one running session in the background (see the module doc)."""

    LINGER_S = 0.2  # gather a burst of appends into one batch (well inside the 1 s target)
    RETRY_MIN_S = 0.2
    RETRY_MAX_S = 5.0
    NOTE_RETRY_S = 0.3

    def __init__(
        self,
        log: AuditLog,
        session_id: str,
        url: str,
        *,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.log = log
        self.session_id = session_id
        self.url = url
        self.notice = notice
        self.status = ShipStatus(store=_location(url))
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._store: PgStore | None = None
        self._source: Source | None = None
        self._threads: list[threading.Thread] = []
        self._deadline = 0.0
        self._awaited = 0  # passes in a row that found a checkpoint still missing

    def start(self) -> Shipper:
        head = self.log.head(self.session_id)
        self.status.local_seq = head[0] if head else 0
        self.log.subscribe(self._on_append)
        for target, name in ((self._ship_loop, "ship"), (self._listen_loop, "ship-inbox")):
            t = threading.Thread(target=target, name=f"{name}-{self.session_id}", daemon=True)
            t.start()
            self._threads.append(t)
        self._wake.set()
        return self

    # Called in the appending thread: only note the head and wake the shipper.
    def _on_append(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if session_id == self.session_id:
            self.status.local_seq = max(self.status.local_seq, seq)
            self._wake.set()

    def close(self, timeout: float = 10.0) -> ShipStatus:
        """Ship what is left (for up to ``timeout`` s; one short try when the
        store is already known to be down), then stop both threads."""
        if self.status.error is not None:
            timeout = min(timeout, 2.0)
        self.log.unsubscribe(self._on_append)
        head = self.log.head(self.session_id)
        self.status.local_seq = head[0] if head else self.status.local_seq
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout + 2)
        for closable in (self._store, self._source):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()
        return self.status

    # -- shipping events -------------------------------------------------------

    def _ship_loop(self) -> None:
        retry: float | None = None
        while True:
            self._wake.wait(retry)
            if not self._closing.is_set():
                time.sleep(self.LINGER_S)
            self._wake.clear()
            try:
                awaiting = self._ship_once()
            except Exception as exc:  # noqa: BLE001 - an outage must never reach the agent
                self._failed(exc)
                retry = min(self.RETRY_MAX_S, (retry or self.RETRY_MIN_S / 2) * 2)
                if self._closing.is_set():
                    if time.monotonic() >= self._deadline:
                        return
                    time.sleep(min(retry, max(0.0, self._deadline - time.monotonic())))
                    self._wake.set()
                continue
            # A checkpoint is signed just after the event it covers: if it
            # was not on file yet, look again shortly (not a busy loop: a
            # few passes at most, and only right after a seal).
            retry = self.NOTE_RETRY_S if awaiting else None
            if self._closing.is_set() and self.status.lag == 0:
                if not awaiting or time.monotonic() >= self._deadline:
                    return
                time.sleep(self.NOTE_RETRY_S)
                self._wake.set()

    def _ship_once(self) -> bool:
        """One pass; whether a checkpoint is still awaited."""
        if self._source is None:
            self._source = Source(self.log, only=self.session_id)
        if self._store is None:
            self._store = PgStore(self.url)
        try:
            report = ship_session(self._source, self._store, self.session_id, since_last=True)
        except Exception:
            self._source.forget()  # ask the store where it stands next time
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = None
            raise
        self.status.shipped_seq = max(self.status.shipped_seq, report.head)
        if self.status.error is not None:
            self.status.error = None
            self._say(
                f"shipping to {self.status.store} resumed: the store has the session through "
                f"seq {self.status.shipped_seq}"
            )
        # Bounded: a checkpoint that never comes (its signing failed, and the
        # run stops for that) must not keep this thread awake.
        self._awaited = self._awaited + 1 if report.awaiting_note else 0
        return report.awaiting_note and self._awaited <= 20

    def _failed(self, exc: BaseException) -> None:
        first = self.status.error is None
        self.status.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if first:
            self._say(
                f"shipping to {self.status.store} paused ({self.status.error}); the run goes on "
                f"locally, {self.status.lag} event(s) not yet shipped, retried in the background"
            )

    def _say(self, text: str) -> None:
        self.status.notes.append(text)
        if self.notice is not None and not self._closing.is_set():
            with contextlib.suppress(Exception):
                self.notice(text)

    # -- the inbox ---------------------------------------------------------------

    def _listen_loop(self) -> None:
        delay = self.RETRY_MIN_S
        while not self._closing.is_set():
            try:
                with contextlib.closing(connect(self.url)) as conn, PgStore(self.url) as store:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._forward(store)  # whatever was written while we were away
                    delay = self.RETRY_MIN_S
                    while not self._closing.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.payload == self.session_id:
                                self._forward(store)
            except Exception:  # noqa: BLE001 - the ship loop reports outages
                self._closing.wait(delay)
                delay = min(self.RETRY_MAX_S, delay * 2)

    def _forward(self, store: PgStore) -> None:
        def deliver(row: dict[str, Any]) -> None:
            origin = f"{self.status.store}#inbox:{row['id']}"
            if not self.log.inbox_has(self.session_id, origin):
                payload = {**row["payload"], "origin": origin}
                self.log.post(self.session_id, str(row["kind"]), payload, by=str(row["by"]))

        store.take_into(self.session_id, deliver)


def _location(url: str) -> str:
    from .locations import redact_url

    return redact_url(url)


def start_shipper(
    log: AuditLog, session_id: str, url: str, *, notice: Callable[[str], None] | None = None
) -> Shipper:
    """Start shipping a session; never raises for the store's sake (the
    first failure becomes a notice and a retry)."""
    return Shipper(log, session_id, url, notice=notice).start()


__all__ = [
    "BATCH",
    "ShipConflict",
    "ShipReport",
    "ShipStatus",
    "Shipper",
    "StoreUnavailable",
    "ship_existing",
    "ship_session",
    "start_shipper",
]
