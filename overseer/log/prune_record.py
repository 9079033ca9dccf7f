"""The prune record: the chained, signed ``prunes`` table in which every
``overseer prune`` says who deleted which sessions, when, and what their
sealed heads were — and its check.

Each row's ``hash = sha256(prev_hash ":" sha256(canonical body))`` chains it
to the one before. Each row is signed with overseer's Ed25519 signing key
(the one that signs checkpoints, ``keys``): ``sig`` holds a C2SP signed note
whose text is ``overseer prune record\n<hash>\n``, so anyone with the
verifier key can check it, and no one without the signing key can dress a
deletion up as a prune. Rows written before signed checkpoints carry an HMAC
of the hash under the old seal key in ``mac`` instead (``sig`` empty); they
still verify where that key exists. Once a row is signed, every later one
must be: an HMAC row after it is refused, so the old key cannot extend a
signed record.

``check_record`` says which sessions the record validly accounts for (their
seals are then no truncation) and where it breaks; ``verify`` turns that
into the ``(prunes)`` line of ``overseer verify --all``.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from ..canonical import GENESIS, sha256_hex
from . import seals as sealmod
from .note import NoteError, Signer, Verifier, open_note

TABLE = "prunes"
PRUNES_ID = "(prunes)"  # how the prune record appears in verify results
NOTE_ORIGIN = "overseer prune record"  # the first line of a row's signed note
# (a space in it: no checkpoint origin, "overseer/<session>", can be this)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL,
    sig TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS prunes_append_only_update BEFORE UPDATE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
CREATE TRIGGER IF NOT EXISTS prunes_append_only_delete BEFORE DELETE ON {TABLE}
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
"""


@dataclass
class RecordCheck:
    """The prune record's check: ``broken`` is (row id, kind, detail) or None."""

    rows: int
    head: str
    last_id: int
    broken: tuple[int, str, str] | None = None
    signed_by: list[str] = field(default_factory=list)  # name+keyid of the rows' signers
    hmac_rows: int = 0  # rows signed with the old seal key


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create the prune record, or give an older one its ``sig`` column
    (idempotent); call outside a transaction."""
    if not _exists(conn):
        conn.executescript(SCHEMA)
    elif not _has_sig(conn):
        # Adding a column is no UPDATE: the append-only triggers stay as they are.
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN sig TEXT NOT NULL DEFAULT ''")


def _exists(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            f"SELECT 1 FROM sqlite_master WHERE type='table' AND name='{TABLE}'"
        ).fetchone()
    )


def _has_sig(conn: sqlite3.Connection) -> bool:
    return any(r[1] == "sig" for r in conn.execute(f"PRAGMA table_info({TABLE})"))


def _chain(prev: str, body: str) -> str:
    return sha256(f"{prev}:{sha256_hex(body)}".encode()).hexdigest()


def _mac(key: bytes, h: str) -> str:
    return hmac.new(key, h.encode(), sha256).hexdigest()


def note_text(h: str) -> str:
    """What a row's signature covers: its chain hash, which covers its body
    and every row before it."""
    return f"{NOTE_ORIGIN}\n{h}\n"


def sign(signer: Signer, h: str) -> str:
    """The signed note for the row whose chain hash is ``h``."""
    return signer.sign(note_text(h))


def records(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every prune, oldest first, as recorded."""
    if not _exists(conn):
        return []
    sig = "sig" if _has_sig(conn) else "''"  # a table from before signed checkpoints
    out = []
    for rid, ts, body, prev, h, mac, note in conn.execute(
        f"SELECT id, ts, body, prev_hash, hash, mac, {sig} FROM {TABLE} ORDER BY id"
    ):
        try:
            data = json.loads(body)
        except ValueError:
            data = {}
        out.append(
            {
                "id": rid,
                "ts": ts,
                **data,
                "prev_hash": prev,
                "hash": h,
                "mac": mac,
                "sig": note,
                "_body": body,
            }
        )
    return out


def _signature_problem(
    row: dict[str, Any],
    key: bytes | None,
    trusted: list[Verifier],
    signed_before: bool,
    check: RecordCheck,
) -> tuple[str, str] | None:
    """Why the row's signature does not hold (kind, detail), or None."""
    note = row["sig"]
    if not note:
        if signed_before:
            return "bad_seal", "an HMAC-signed prune after Ed25519-signed ones"
        if key is None:
            return "bad_seal", "no seal key to check the prune record's (HMAC) signature"
        if not hmac.compare_digest(_mac(key, row["hash"]), str(row["mac"])):
            return "bad_seal", "prune record signature does not match"
        check.hmac_rows += 1
        return None
    try:
        opened = open_note(str(note), trusted)
    except NoteError as exc:
        return "bad_signature", f"the prune record's signature is not a signed note: {exc}"
    if opened.text != note_text(row["hash"]):
        return "bad_signature", "the prune record's signature is for another row"
    if opened.failed:
        who = ", ".join(v.label for v in opened.failed)
        return "bad_signature", f"the prune record's signature by {who} does not verify"
    if not opened.verified:
        who = ", ".join(f"{s.name}+{s.id:08x}" for s in opened.unknown) or "nobody"
        return (
            "untrusted_key",
            f"the prune record is signed by {who}, which no trusted key covers "
            "(give its verifier key with --key)",
        )
    for v in opened.verified:
        if v.label not in check.signed_by:
            check.signed_by.append(v.label)
    return None


def check_record(
    conn: sqlite3.Connection,
    seal_file: sealmod.SealFile,
    key: bytes | None,
    trusted: list[Verifier] | None = None,
) -> tuple[set[str], RecordCheck | None]:
    """Check the prune record's chain and signatures: Ed25519 rows against
    the ``trusted`` verifier keys, older HMAC rows with the seal ``key``.

    Returns the sessions it validly accounts for (their seals are not
    truncation) and the check (None: no prunes yet). A session is accounted
    for only by an intact, correctly signed record whose sealed head for it
    is the head in the seal file.
    """
    rows = records(conn)
    if not rows:
        return set(), None
    check = RecordCheck(len(rows), GENESIS, rows[-1]["id"])
    prev = GENESIS
    signed_before = False
    accounted: set[str] = set()
    for row in rows:
        if check.broken is None:
            problem: tuple[str, str] | None = None
            if row["prev_hash"] != prev:
                problem = ("broken_link", "prev_hash does not match the previous prune's hash")
            elif _chain(row["prev_hash"], row["_body"]) != row["hash"]:
                problem = ("hash_mismatch", "prune record content does not match its hash")
            else:
                problem = _signature_problem(row, key, trusted or [], signed_before, check)
            if problem is not None:
                check.broken = (row["id"], *problem)
            else:
                signed_before = signed_before or bool(row["sig"])
                for s in row.get("sessions", []):
                    sealed = seal_file.latest.get(s.get("id"))
                    if sealed is None or (
                        sealed.seq == s.get("sealed_seq") and sealed.head == s.get("sealed_head")
                    ):
                        accounted.add(str(s.get("id")))
        prev = row["hash"]
    check.head = prev
    return accounted, check
