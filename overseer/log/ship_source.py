"""What a shipper reads from the local log: a session's row and events
(``BATCH`` at a time, the next batch read ahead while the store checks the
current one), the blobs and messages they reference, and the records kept
beside the chain in the sidecar file (signed checkpoint notes, legacy HMAC
seals), each shipped only with the events it vouches for."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import LogError
from . import keys
from .pg_verify import CHECKPOINT_KIND, KEY_KIND, SEAL_KIND
from .store import AuditLog

BATCH = max(1, int(os.environ.get("OVERSEER_SHIP_BATCH", "2000")))
_HASH = re.compile(r"\b[0-9a-f]{64}\b")
_OUTPUT_BLOB = '"output_blob":"'


def _sidecar_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines of ``path`` from ``offset``, and the offset after them."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    lines = data[:end].decode("utf-8", "replace").splitlines()
    return [ln for ln in lines if ln.strip()], offset + end


# (kind, seq it vouches for, body): a record shipped beside a session's chain.
Attestation = tuple[str, int, str]


def _attestation(line: str) -> tuple[str, Attestation] | None:
    """(session, record) from one line of the sidecar file: a signed
    checkpoint ships as its note exactly as signed, a legacy HMAC seal as
    its line; an unreadable line ships as nothing (`verify` of the local
    log reports it)."""
    try:
        d = json.loads(line)
        if not isinstance(d, dict):
            return None
        if "note" in d:
            return str(d["session"]), (CHECKPOINT_KIND, int(d["size"]), str(d["note"]))
        return str(d["session"]), (SEAL_KIND, int(d["seq"]), line)
    except (ValueError, KeyError, TypeError):
        return None


def _read_batch(conn: sqlite3.Connection, sid: str, after: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
        " WHERE session_id=? AND seq>? ORDER BY seq LIMIT ?",
        (sid, after, BATCH),
    ).fetchall()


def _take(
    ahead: queue.Queue[list[tuple[Any, ...]] | BaseException], reader: threading.Thread
) -> list[tuple[Any, ...]] | BaseException:
    while True:
        try:
            return ahead.get(timeout=1.0)
        except queue.Empty:
            if not reader.is_alive() and ahead.empty():
                return LogError("the read-ahead of the local log stopped")


class Source:
    """What is read from the local log, through its own SQLite connection."""

    def __init__(self, log: AuditLog, only: str | None = None) -> None:
        self.log = log
        self.only = only  # a running session's shipper keeps only its own records
        self.uri = Path(log.path).resolve().as_uri() + "?mode=ro"
        self.conn = sqlite3.connect(self.uri, uri=True, timeout=30)
        self.offset = 0  # how far the sidecar file has been read
        # Records read but not shipped yet, per session: a checkpoint goes to
        # the store only with (or after) the events it covers, so the store
        # never holds a checkpoint beyond its own copy of the chain.
        self.pending: dict[str, list[Attestation]] = {}
        self.key_sent: set[str] = set()
        self.noted: dict[str, int] = {}  # the highest checkpoint size read per session
        self.signed_at: dict[str, int] = {}  # the highest signing point shipped per session
        # What this source last got the store to acknowledge, per session: a
        # background shipper then skips re-reading the store's head and
        # re-sending an unchanged session row (two round trips a burst).
        # Cleared on any failure, so the next try asks the store again.
        self.acked: dict[str, int] = {}
        self.rows_sent: dict[str, tuple[Any, ...]] = {}

    def forget(self) -> None:
        self.acked.clear()
        self.rows_sent.clear()
        self.offset = 0  # sidecar lines are re-read whole: the store skips known ones
        self.pending.clear()
        self.key_sent.clear()
        self.noted.clear()
        self.signed_at.clear()

    def close(self) -> None:
        self.conn.close()

    def session(self, sid: str) -> tuple[Any, ...]:
        row = self.conn.execute(
            "SELECT id, task, agent, model, workspace, started, ended, status, policy, owner_host"
            " FROM sessions WHERE id=?",
            (sid,),
        ).fetchone()
        if row is None:
            raise LogError(f"no session {sid!r} in {self.log.path}")
        return tuple(row)

    def hash_at(self, sid: str, seq: int) -> str | None:
        row = self.conn.execute(
            "SELECT hash FROM events WHERE session_id=? AND seq=?", (sid, seq)
        ).fetchone()
        return str(row[0]) if row else None

    def batches(self, sid: str, after: int) -> Iterator[list[tuple[Any, ...]]]:
        """The session's events after ``after``, ``BATCH`` at a time. Once a
        batch comes back full (a backlog: `overseer ship`, a catch-up), the
        next is read in a thread of its own while the caller ships this one
        — the store spends that time checking hashes, so the read is free."""
        rows = _read_batch(self.conn, sid, after)
        if len(rows) < BATCH:
            if rows:
                yield rows
            return
        ahead: queue.Queue[list[tuple[Any, ...]] | BaseException] = queue.Queue(maxsize=1)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_ahead, args=(sid, rows[-1][0], ahead, stop), daemon=True
        )
        reader.start()
        try:
            while rows:
                yield rows
                nxt = _take(ahead, reader)
                if isinstance(nxt, BaseException):
                    raise LogError(f"cannot read {self.log.path}: {nxt}") from nxt
                rows = nxt
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                ahead.get_nowait()  # unblock a reader waiting to hand over a batch
            reader.join(timeout=5)

    def _read_ahead(
        self,
        sid: str,
        after: int,
        ahead: queue.Queue[list[tuple[Any, ...]] | BaseException],
        stop: threading.Event,
    ) -> None:
        try:
            conn = sqlite3.connect(self.uri, uri=True, timeout=30)
        except sqlite3.Error as exc:
            ahead.put(exc)
            return
        try:
            while not stop.is_set():
                rows = _read_batch(conn, sid, after)
                while not stop.is_set():
                    try:
                        ahead.put(rows, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if not rows:
                    return
                after = rows[-1][0]
        except Exception as exc:  # noqa: BLE001 - handed to the shipping thread
            with contextlib.suppress(queue.Full):
                ahead.put(exc, timeout=1)
        finally:
            conn.close()

    def referenced(self, rows: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
        refs: set[str] = set()
        for r in rows:
            if r[2] == "action_finished":
                # Only its output_blob names a blob: a substring search, not
                # a regex over kilobytes of output on every shipped call.
                at = r[3].find(_OUTPUT_BLOB)
                if at >= 0:
                    refs.add(r[3][at + len(_OUTPUT_BLOB) : at + len(_OUTPUT_BLOB) + 64])
            elif r[2] == "model_turn":
                refs.update(_HASH.findall(r[3]))
        if not refs:
            return [], []
        marks = ",".join("?" * len(refs))
        blobs = self.conn.execute(
            f"SELECT hash, size, data FROM blobs WHERE hash IN ({marks})", sorted(refs)
        ).fetchall()
        messages = self.conn.execute(
            f"SELECT hash, data FROM messages WHERE hash IN ({marks})", sorted(refs)
        ).fetchall()
        return blobs, messages

    def read_attestations(self, *, since_last: bool) -> None:
        """Read the sidecar file's new lines (all of it unless ``since_last``)
        into ``pending``."""
        if not since_last:
            self.offset = 0
            self.pending.clear()
        lines, self.offset = _sidecar_lines(self.log.seal_path, self.offset)
        for line in lines:
            rec = _attestation(line)
            if rec is None or (self.only is not None and rec[0] != self.only):
                continue
            self.pending.setdefault(rec[0], []).append(rec[1])
            if rec[1][0] == CHECKPOINT_KIND:
                self.noted[rec[0]] = max(self.noted.get(rec[0], 0), rec[1][1])

    def due(self, sid: str, head: int) -> list[Attestation]:
        """The pending records of ``sid`` the store can take once it has the
        chain through ``head``; the later ones stay pending."""
        recs = self.pending.get(sid, [])
        ready = [r for r in recs if r[1] <= head]
        self.pending[sid] = [r for r in recs if r[1] > head]
        if ready and sid not in self.key_sent:
            own = keys.local_verifier()
            if own is not None:
                ready.append((KEY_KIND, 0, own.vkey))
        return ready
