"""Seals: signed checkpoints of a session's chain head, kept outside the DB.

A seal says "session S had ``count`` events, the last one at ``seq`` with hash
``head``", signed with HMAC-SHA256 under a key in overseer's config dir (mode
0600, created on first use). Seals are appended to a sidecar file next to the
DB (``audit.db.seals``), so deleting the tail of a session inside the DB, or a
whole session, is detected: the DB no longer reaches the sealed head.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from ..canonical import canonical_json
from ..errors import LogError
from ..paths import seal_key_path


def load_key(path: Path | None = None, *, create: bool = True) -> bytes | None:
    path = path or seal_key_path()
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        if not create:
            return None
    except ValueError as exc:
        raise LogError(f"seal key {path} is corrupt ({exc}); restore it from a backup") from exc
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    # O_EXCL: two processes creating the key at once must not overwrite each other.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex())
    return key


@dataclass(frozen=True)
class SealRecord:
    session: str
    seq: int
    head: str
    count: int
    ts: int
    mac: str

    def body(self) -> dict[str, object]:
        return {
            "session": self.session,
            "seq": self.seq,
            "head": self.head,
            "count": self.count,
            "ts": self.ts,
        }


def sign(key: bytes, body: dict[str, object]) -> str:
    return hmac.new(key, canonical_json(body).encode(), sha256).hexdigest()


def check(key: bytes | None, rec: SealRecord) -> bool:
    if key is None:
        return False
    return hmac.compare_digest(sign(key, rec.body()), rec.mac)


def append_seal(
    path: Path, key: bytes, session: str, seq: int, head: str, count: int, ts: int
) -> SealRecord:
    body = {"session": session, "seq": seq, "head": head, "count": count, "ts": ts}
    rec = SealRecord(session, seq, head, count, ts, sign(key, body))
    line = canonical_json({**body, "mac": rec.mac}) + "\n"
    # One write() of one line with O_APPEND: lines from several processes
    # never interleave, and fsync makes the seal as durable as the events.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return rec


@dataclass
class SealFile:
    latest: dict[str, SealRecord]  # the highest-seq seal per session
    bad: dict[str, list[str]]  # session -> problems (unparseable lines, bad macs)


def read_seals(path: Path, key: bytes | None) -> SealFile:
    latest: dict[str, SealRecord] = {}
    bad: dict[str, list[str]] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return SealFile(latest, bad)
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            rec = SealRecord(
                str(d["session"]),
                int(d["seq"]),
                str(d["head"]),
                int(d["count"]),
                int(d["ts"]),
                str(d["mac"]),
            )
        except (ValueError, KeyError, TypeError):
            bad.setdefault("*", []).append(f"{path.name}:{lineno}: unreadable seal line")
            continue
        if not check(key, rec):
            why = "no seal key to check it" if key is None else "signature does not match"
            bad.setdefault(rec.session, []).append(f"seal at seq {rec.seq}: {why}")
            continue
        cur = latest.get(rec.session)
        if cur is None or rec.seq >= cur.seq:
            latest[rec.session] = rec
    return SealFile(latest, bad)
