"""The seal sidecar file next to the DB (``audit.db.seals``), and legacy HMAC seals.

Each line is JSON. Since signed checkpoints, a line is
``{"session", "size", "note"}`` holding a C2SP checkpoint note signed with
Ed25519 (overseer.log.checkpoints); `read_seals` collects those per session
for verification, which needs only verifier keys.

Sessions sealed before that have HMAC lines: "session S had ``count``
events, the last one at ``seq`` with hash ``head``", signed with HMAC-SHA256
under the key in overseer's config dir (``seal.key``). They still verify
where that key exists, and are reported as HMAC-sealed. Because the sidecar
lives outside the DB, deleting the tail of a session inside the DB, or a
whole session, is detected: the DB no longer reaches the sealed size.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
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
    # The highest sealed point per session, whatever sealed it: a checkpoint
    # line (seq = its size, head = the chain hash there, mac empty) or an
    # HMAC seal that checks. The prune record binds to these.
    latest: dict[str, SealRecord]
    bad: dict[str, list[str]]  # session -> problems (unparseable lines, bad macs)
    notes: dict[str, list[str]] = field(
        default_factory=dict
    )  # session -> checkpoint notes, file order
    hmac: dict[str, SealRecord] = field(default_factory=dict)  # the highest HMAC seal that checks


def _keep_highest(into: dict[str, SealRecord], rec: SealRecord) -> None:
    cur = into.get(rec.session)
    if cur is None or rec.seq >= cur.seq:
        into[rec.session] = rec


def read_seals(path: Path, key: bytes | None) -> SealFile:
    """Every line of the sidecar; HMAC seals are checked with ``key`` here,
    checkpoint notes are only collected (verification checks them against
    the keys it trusts)."""
    out = SealFile({}, {}, {}, {})
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return out
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if isinstance(d, dict) and "note" in d:
                sid = str(d["session"])
                out.notes.setdefault(sid, []).append(str(d["note"]))
                size = int(d["size"])
                _keep_highest(
                    out.latest, SealRecord(sid, size, str(d.get("head", "")), size, 0, "")
                )
                continue
            rec = SealRecord(
                str(d["session"]),
                int(d["seq"]),
                str(d["head"]),
                int(d["count"]),
                int(d["ts"]),
                str(d["mac"]),
            )
        except (ValueError, KeyError, TypeError):
            out.bad.setdefault("*", []).append(f"{path.name}:{lineno}: unreadable seal line")
            continue
        if not check(key, rec):
            why = "no seal key to check it" if key is None else "signature does not match"
            out.bad.setdefault(rec.session, []).append(f"seal at seq {rec.seq}: {why}")
            continue
        _keep_highest(out.latest, rec)
        _keep_highest(out.hmac, rec)
    return out
