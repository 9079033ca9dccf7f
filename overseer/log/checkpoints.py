"""Signed checkpoints of a session's Merkle tree (C2SP tlog-checkpoint).

A checkpoint is a signed note whose text is three lines: the origin
``overseer/<session id>``, the tree size (the number of events it covers,
decimal), and the base64 RFC 9162 root of the tree whose leaf i is the
32-byte chain hash of the event with seq i+1. The sealing process signs one
right after ``session_started`` (size 1), then every 500 events, 5 s after the last
one, and at session end; each time it first records a ``seal`` event
carrying the size and root reached so far, then signs the tree that includes
that event, and appends the note to the sidecar file next to the DB as one
JSON line ``{"session", "size", "note"}``.

`Checkpointer` is the writer's side. It keeps each session's tree as a
`Frontier` in memory and grows it only when it seals, from the chain hashes
already in the DB, so an append pays nothing for the tree. The roots of
perfect subtrees of 256 (65,536...) leaves are kept in ``merkle_tiles`` as a
cache for proofs (a proof in a 100k-event session reads a few hundred hashes
instead of every event); nothing ever trusts a tile: verification recomputes
the tree from the events, and a proof is checked against the signed root
before it is handed out.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import LogError, LogWriteError
from . import keys, merkle
from .note import NoteError, Opened, Signer, Verifier, open_note, parse_note

ORIGIN_PREFIX = "overseer/"
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")

TILES_DDL = (
    "CREATE TABLE IF NOT EXISTS merkle_tiles (session_id TEXT NOT NULL, height INTEGER NOT NULL,"
    " idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (session_id, height, idx)) WITHOUT ROWID"
)


def origin(session_id: str) -> str:
    return ORIGIN_PREFIX + session_id


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checkpoint_text(session_id: str, size: int, root: bytes) -> str:
    return f"{origin(session_id)}\n{size}\n{b64(root)}\n"


@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint note, parsed (its signatures not yet checked)."""

    origin: str
    size: int
    root: bytes
    note: str  # exactly as signed

    @property
    def session_id(self) -> str | None:
        return self.origin[len(ORIGIN_PREFIX) :] if self.origin.startswith(ORIGIN_PREFIX) else None

    @property
    def root_b64(self) -> str:
        return b64(self.root)

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        """NoteError when the note or its checkpoint text is malformed."""
        text, _sigs = parse_note(note)
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not all(lines[:3]):
            raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
        if any(not line for line in lines[3:]):
            raise NoteError("a checkpoint's extension lines must not be empty")
        if not _SIZE.fullmatch(lines[1]):
            raise NoteError(f"tree size {lines[1][:24]!r} is not a decimal number")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("the root hash is not base64") from exc
        if len(root) != 32:
            raise NoteError(f"the root hash is {len(root)} bytes, not 32")
        return cls(lines[0], int(lines[1]), root, note)

    def open(self, verifiers: list[Verifier]) -> Opened:
        return open_note(self.note, verifiers)


def append_note(path: Path, session_id: str, size: int, note: str, head: str) -> None:
    """One JSON line per checkpoint, one O_APPEND write (lines of several
    processes never interleave), fsync'd like the events it covers. ``head``
    (the chain hash at ``size``) is not signed: the root covers it; it is
    there for the prune record to bind to."""
    line = json.dumps(
        {"session": session_id, "size": size, "head": head, "note": note}, ensure_ascii=False
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the tree as stored --------------------------------------------------------


def db_leaves(conn: sqlite3.Connection, session_id: str) -> Callable[[int, int], list[bytes]]:
    """Leaf hashes of leaves lo..hi-1 (events lo+1..hi), read from the DB."""

    def leaves(lo: int, hi: int) -> list[bytes]:
        rows = conn.execute(
            "SELECT hash FROM events WHERE session_id=? AND seq>? AND seq<=? ORDER BY seq",
            (session_id, lo, hi),
        ).fetchall()
        if len(rows) != hi - lo:
            raise LogError(
                f"session {session_id} lacks events between seq {lo + 1} and {hi}; "
                "run `overseer verify` on it"
            )
        try:
            return [merkle.leaf_hash(bytes.fromhex(r[0])) for r in rows]
        except (ValueError, TypeError) as exc:
            raise LogError(f"session {session_id} has an event hash that is not hex") from exc

    return leaves


def stored_tiles(conn: sqlite3.Connection, session_id: str) -> dict[tuple[int, int], bytes]:
    try:
        rows = conn.execute(
            "SELECT height, idx, hash FROM merkle_tiles WHERE session_id=?", (session_id,)
        ).fetchall()
    except sqlite3.OperationalError:
        return {}  # a log written before checkpoints (or read-only): no shortcuts
    return {(int(h), int(i)): bytes(v) for h, i, v in rows if isinstance(v, bytes) and len(v) == 32}


def subtrees(conn: sqlite3.Connection, session_id: str, size: int | None = None) -> merkle.Subtrees:
    """Subtree hashes of a session's tree; with ``size`` (the tree size the
    caller works in) leaves are read a tile at a time."""
    return merkle.Subtrees(db_leaves(conn, session_id), stored_tiles(conn, session_id), size)


class Landed(Protocol):
    """Where an appended event landed (the store's ``Appended``)."""

    @property
    def seq(self) -> int: ...
    @property
    def hash(self) -> str: ...


class SealedLog(Protocol):
    """What a checkpointer needs of the log it seals (``AuditLog`` is one).
    Named here rather than imported: the store builds its checkpointer, so
    this module must not depend on the store."""

    conn: sqlite3.Connection
    seal_path: Path

    def head(self, session_id: str) -> tuple[int, str] | None: ...
    def append(self, session_id: str, kind: str, payload: dict[str, Any]) -> Landed: ...
    def _synchronous(self, level: str) -> AbstractContextManager[None]: ...


class Checkpointer:
    """Seals sessions for one `AuditLog`: its trees, its signing key."""

    def __init__(self, log: SealedLog) -> None:
        self.log = log
        self._trees: dict[str, merkle.Frontier] = {}
        self._signer: Signer | None = None
        self._tiles_table = False

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            try:
                signer = keys.load_signer(create=True)
            except LogError as exc:  # nothing may run on an unsigned record
                raise LogWriteError(f"cannot sign checkpoints: {exc}") from exc
            assert signer is not None
            self._signer = signer
        return self._signer

    def tree(self, session_id: str, size: int) -> merkle.Frontier:
        """The session's tree grown to ``size`` leaves; new tiles are stored."""
        conn = self.log.conn
        tree = self._trees.get(session_id)
        if tree is None or tree.size > size:
            # First seal of this session in this process (or another process
            # sealed it since): rebuild from stored tiles and leaves.
            try:
                tree = subtrees(conn, session_id, size).frontier(size)
            except LogError as exc:
                raise LogWriteError(str(exc)) from exc
        tiles: list[tuple[str, int, int, bytes]] = []

        def keep(height: int, index: int, h: bytes) -> None:
            if height % merkle.TILE_HEIGHT == 0:
                tiles.append((session_id, height, index, h))

        if tree.size < size:
            try:
                grown = db_leaves(conn, session_id)(tree.size, size)
            except LogError as exc:  # a record that cannot be checkpointed is not durable
                raise LogWriteError(str(exc)) from exc
            for leaf in grown:
                tree.append(leaf, keep)
        self._trees[session_id] = tree
        self._store_tiles(tiles)
        return tree

    def _store_tiles(self, tiles: list[tuple[str, int, int, bytes]]) -> None:
        if not tiles:
            return
        # A cache: written without its own fsync (the next durable commit
        # carries it), and a failure only costs later proofs some speed.
        try:
            with self.log._synchronous("NORMAL"):  # noqa: SLF001 - the log's own write mode switch
                if not self._tiles_table:
                    self.log.conn.execute(TILES_DDL)
                    self._tiles_table = True
                self.log.conn.executemany(
                    "INSERT OR IGNORE INTO merkle_tiles (session_id, height, idx, hash) VALUES (?,?,?,?)",
                    tiles,
                )
        except (sqlite3.Error, LogWriteError):
            pass

    def seal(self, session_id: str) -> Checkpoint | None:
        """Record a ``seal`` event (size and root so far), then sign the tree
        that includes it. The caller holds the log's writer lock."""
        log = self.log
        head = log.head(session_id)
        if head is None:
            return None
        seq, h = head
        root = self.tree(session_id, seq).root()
        sealed = log.append(
            session_id, "seal", {"seq": seq, "head": h, "count": seq, "root": b64(root)}
        )
        tree = self.tree(session_id, sealed.seq)
        note = self.sign(session_id, sealed.seq, tree.root())
        try:
            append_note(log.seal_path, session_id, sealed.seq, note, sealed.hash)
        except OSError as exc:
            raise LogWriteError(f"cannot write checkpoint file {log.seal_path}: {exc}") from exc
        return Checkpoint.parse(note)

    def sign(self, session_id: str, size: int, root: bytes) -> str:
        return self.signer.sign(checkpoint_text(session_id, size, root))

    def checkpoint(self, session_id: str, size: int) -> Checkpoint:
        """Sign the tree of the first ``size`` events as the log holds them,
        with no ``seal`` event: the first checkpoint of a session (size 1,
        its ``session_started``), and an imported session's."""
        note = self.sign(session_id, size, self.tree(session_id, size).root())
        row = self.log.conn.execute(
            "SELECT hash FROM events WHERE session_id=? AND seq=?", (session_id, size)
        ).fetchone()
        try:
            append_note(self.log.seal_path, session_id, size, note, row[0] if row else "")
        except OSError as exc:
            raise LogWriteError(
                f"cannot write checkpoint file {self.log.seal_path}: {exc}"
            ) from exc
        return Checkpoint.parse(note)
