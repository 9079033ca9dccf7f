"""Export a session to JSONL and import it back, hashes intact.

Line 1 is ``{"type": "session", ...}`` (the sessions row); then one
``{"type": "event", ...}`` line per event with its stored hashes; then one
``{"type": "checkpoint", "note": ...}`` line per signed checkpoint of the
session that the exported events reach, in order, and a
``{"type": "verifier_key", "key": ...}`` line naming the key that signed
them (a claim only: a verifier trusts the keys it is given, not the file's);
then the ``message`` and ``blob`` lines the events reference. Import
recomputes the chain and the Merkle roots from the file and refuses a file
that does not verify, so a shared export cannot be quietly edited; it keeps
the file's checkpoints and signs one of its own over the imported events, so
a later truncation inside the DB is caught too.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..canonical import canonical_json
from ..errors import LogError, UsageError
from . import keys
from .base import EventStore
from .checkpoints import Checkpoint, append_note
from .note import NoteError, Verifier
from .schema import SESSION_COLUMNS
from .store import AuditLog
from .verify import VerifyResult, verify_rows

_HASH = re.compile(r"\b[0-9a-f]{64}\b")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[IO[str]]:
    """A text file to write an export into: written beside ``path`` and moved
    into place only when complete, so a failed export neither leaves a
    partial file nor clobbers an earlier one. An unwritable path is a usage
    error (one line), not a traceback."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        # A lone surrogate (an undecodable byte kept in a str) has no UTF-8
        # form: it is written as a visible \udcXX escape, not a crash.
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_session(log: EventStore, session_id: str, out: IO[str]) -> int:
    sid = log.resolve(session_id)
    session = log.session_row(sid)
    out.write(canonical_json({"type": "session", **session}, check=False) + "\n")
    refs: set[str] = set()
    n = 0
    for seq, ts, kind, payload, ph, prev, h in log.raw_rows(sid):
        # The payload is written as the exact stored text (not re-serialised)
        # so its hash still holds in the file.
        out.write(
            '{"type":"event","session_id":'
            + json.dumps(sid)
            + f',"seq":{seq},"ts":{ts},"kind":'
            + json.dumps(kind)
            + ',"payload":'
            + payload
            + f',"payload_hash":"{ph}","prev_hash":"{prev}","hash":"{h}"}}\n'
        )
        if kind in ("model_turn", "action_finished"):
            refs.update(_HASH.findall(payload))
        n += 1
    # Read after the events: a checkpoint signed meanwhile may cover events
    # this file does not have, and is left out.
    for rec in _checkpoint_records(log, sid, n):
        out.write(canonical_json(rec, check=False) + "\n")
    for h in sorted(refs):
        msg = log.get_message(h)
        if msg is not None:
            out.write(
                canonical_json({"type": "message", "hash": h, "data": msg}, check=False) + "\n"
            )
        blob = log.get_blob(h)
        if blob is not None:
            out.write(
                canonical_json({"type": "blob", "hash": h, "data": base64.b64encode(blob).decode()})
                + "\n"
            )
    return n


def _checkpoint_records(log: EventStore, sid: str, events: int) -> list[dict[str, Any]]:
    notes = log.checkpoint_notes(sid)
    out: list[dict[str, Any]] = []
    signers: set[str] = set()
    # The keys that may have signed: this machine's, and those the store
    # names (a team store's runners). Only one that verifies a note is named.
    candidates: list[Verifier] = []
    own = keys.local_verifier()
    for text in ([own.vkey] if own is not None else []) + log.named_keys(sid):
        with contextlib.suppress(NoteError):
            candidates.append(Verifier.parse(text))
    for note in notes:
        try:
            cp = Checkpoint.parse(note)
        except NoteError:
            continue  # `overseer verify` reports it; an export carries what parses
        if cp.size > events:
            continue
        out.append({"type": "checkpoint", "note": note})
        for v in candidates:
            if v.vkey not in signers and cp.open([v]).ok:
                signers.add(v.vkey)
    out += [{"type": "verifier_key", "key": k} for k in sorted(signers)]
    return out


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any], str]]:
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 - read in the except
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line), line
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"{path}:{lineno + 1}: not UTF-8 text") from exc


_PAYLOAD_RE = re.compile(r',"payload":(.*),"payload_hash":"[0-9a-f]{64}","prev_hash"')


def read_export(
    path: Path,
) -> tuple[dict[str, Any], list[tuple[int, int, str, str, str, str, str]], list[dict[str, Any]]]:
    """Parse an export file: (session row, event rows, message/blob records)."""
    session: dict[str, Any] | None = None
    rows: list[tuple[int, int, str, str, str, str, str]] = []
    extras: list[dict[str, Any]] = []
    for lineno, rec, line in _lines(path):
        if not isinstance(rec, dict):
            raise UsageError(f"{path}:{lineno}: not a JSON object")
        kind = rec.get("type")
        if kind == "session":
            session = rec
        elif kind == "event":
            m = _PAYLOAD_RE.search(line)
            payload = m.group(1) if m else canonical_json(rec.get("payload"), check=False)
            try:
                rows.append(
                    (
                        int(rec["seq"]),
                        int(rec["ts"]),
                        str(rec["kind"]),
                        payload,
                        str(rec["payload_hash"]),
                        str(rec["prev_hash"]),
                        str(rec["hash"]),
                    )
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise UsageError(f"{path}:{lineno}: event line lacks {exc}") from exc
        elif kind in ("message", "blob", "checkpoint", "verifier_key"):
            extras.append(rec)
        else:
            what = f"unknown record type {kind!r}" if kind else "a line without a record type"
            raise UsageError(
                f"{path}:{lineno}: {what}; is this an `overseer export --format jsonl` file?"
            )
    if session is None or "id" not in session:
        raise UsageError(
            f"{path}: no session line; is this an `overseer export --format jsonl` file?"
        )
    return session, rows, extras


def export_notes(extras: list[dict[str, Any]]) -> list[str]:
    return [str(r.get("note")) for r in extras if r.get("type") == "checkpoint"]


def export_keys(extras: list[dict[str, Any]]) -> list[Verifier]:
    """The verifier keys a file names (unparseable ones are left out: they
    then simply verify nothing)."""
    out = []
    for r in extras:
        if r.get("type") == "verifier_key":
            try:
                out.append(Verifier.parse(str(r.get("key"))))
            except NoteError:
                pass
    return out


def import_session(log: AuditLog, path: Path) -> VerifyResult:
    session, rows, extras = read_export(path)
    sid = str(session["id"])
    notes = export_notes(extras)
    result = verify_rows(sid, rows, notes=notes, trusted=export_keys(extras), trust="self")
    # Whose key signed is for the importer to judge (`overseer verify FILE
    # --key`); a file whose content does not match its own checkpoints is refused.
    if not result.ok and result.kind not in ("untrusted_key", "unsigned"):
        raise LogError(
            f"refusing to import {path}: chain broken at seq {result.first_broken_seq} "
            f"({result.kind}: {result.detail})"
        )
    if log.conn.execute("SELECT 1 FROM sessions WHERE id=?", (sid,)).fetchone():
        raise UsageError(f"session {sid} is already in {log.path}")
    cols = SESSION_COLUMNS
    with log._lock:
        conn = log.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"INSERT INTO sessions ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                [session.get(c) for c in cols],
            )
            conn.executemany(
                "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(sid, *r) for r in rows],
            )
            for rec in extras:
                if rec["type"] == "message":
                    conn.execute(
                        "INSERT OR IGNORE INTO messages (hash, data) VALUES (?,?)",
                        (rec["hash"], canonical_json(rec["data"], check=False)),
                    )
                elif rec["type"] == "blob":
                    data = base64.b64decode(rec["data"])
                    conn.execute(
                        "INSERT OR IGNORE INTO blobs (hash, size, data) VALUES (?,?,?)",
                        (rec["hash"], len(data), data),
                    )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise LogError(f"cannot import into {log.path}: {exc}") from exc
    try:
        heads = {r[0]: r[6] for r in rows}
        for note in notes:
            size = Checkpoint.parse(note).size
            append_note(log.seal_path, sid, size, note, heads.get(size, ""))
        if rows:
            with log._lock:
                log.checkpointer.checkpoint(sid, len(rows))
    except OSError as exc:
        raise LogError(f"cannot write checkpoint file {log.seal_path}: {exc}") from exc
    return log.verify(sid)[0]
