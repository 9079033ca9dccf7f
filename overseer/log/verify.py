"""Verify a session's hash chain, Merkle tree and checkpoints; name the first break.

Kinds of break, in the order they are looked for at each event:
``seq_gap`` (an event is missing: seq does not follow), ``broken_link``
(prev_hash is not the previous event's hash: events swapped, inserted or
removed), ``hash_mismatch`` (the content no longer hashes to what was
recorded: an edited payload, time, kind or session id), ``root_mismatch``
(the events do not hash to the Merkle root a checkpoint signed, or a
``seal`` event recorded: a history rewritten with its chain recomputed).
Then against the checkpoints: ``truncated`` (the session ends before its
last checkpoint: the tail was deleted), ``bad_checkpoint`` (a checkpoint
that does not parse, or names another session), ``bad_signature`` (a
trusted key's signature does not verify), ``untrusted_key`` (the latest
checkpoint is signed by no trusted key), ``unsigned`` (nothing signed at
all, when signatures were asked for). Sessions sealed before checkpoints:
``bad_seal`` (an HMAC seal's signature does not match, or its head is not
the hash in the DB).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field

from ..canonical import GENESIS
from . import prune_record, seals
from .checkpoints import Checkpoint, b64
from .merkle import EMPTY_ROOT
from .note import NoteError, Verifier

BreakKind = str  # see the module docstring

Row = tuple[int, int, str, "str | bytes", str, str, str]


class VerifyResult(BaseModel):
    session_id: str
    ok: bool
    events: int
    first_broken_seq: int | None = None
    kind: BreakKind | None = None
    detail: str = ""
    sealed_seq: int | None = None  # the size of the latest trusted checkpoint (or HMAC seal)
    unsealed: int = 0  # trailing events no checkpoint covers
    head: str | None = None
    sealing: str | None = None  # "checkpoint", "hmac" (legacy) or None
    signed_by: list[str] = Field(
        default_factory=list
    )  # name+keyid of the latest checkpoint's signers
    root: str | None = None  # base64 root of the latest checkpoint
    checkpoints: int = 0
    untrusted: list[str] = Field(default_factory=list)  # signers no trusted key covers
    trust: str = "local"  # where the trusted keys came from: local, given, self, none


class _Notes:
    """A session's checkpoint notes, parsed and checked against trusted keys."""

    def __init__(self, session_id: str, notes: list[str], trusted: list[Verifier]) -> None:
        self.by_size: dict[int, list[Checkpoint]] = {}
        self.problem: tuple[int, str, str] | None = None
        self.bad_sig: tuple[int, str, str] | None = None
        self.trusted_sizes: dict[int, list[str]] = {}
        self.untrusted: set[str] = set()
        want = f"overseer/{session_id}"
        for i, text in enumerate(notes, 1):
            try:
                cp = Checkpoint.parse(text)
            except NoteError as exc:
                self.problem = self.problem or (0, "bad_checkpoint", f"checkpoint #{i}: {exc}")
                continue
            if cp.origin != want:
                self.problem = self.problem or (
                    cp.size,
                    "bad_checkpoint",
                    f"checkpoint #{i} is for {cp.origin!r}, not {want!r}",
                )
                continue
            self.by_size.setdefault(cp.size, []).append(cp)
            opened = cp.open(trusted)
            for v in opened.failed:
                self.bad_sig = self.bad_sig or (
                    cp.size,
                    "bad_signature",
                    f"the checkpoint at size {cp.size} has a signature by {v.label} that does not verify",
                )
            if opened.ok:
                self.trusted_sizes.setdefault(cp.size, []).extend(v.label for v in opened.verified)
            for s in opened.unknown:
                self.untrusted.add(f"{s.name}+{s.id:08x}")
        self.count = sum(len(v) for v in self.by_size.values())


def verify_rows(
    session_id: str,
    rows: Iterable[Row],
    seal: seals.SealRecord | None = None,
    seal_problems: list[str] | None = None,
    *,
    notes: list[str] | None = None,
    trusted: list[Verifier] | None = None,
    trust: str = "local",
    require_signature: bool = False,
) -> VerifyResult:
    """Check rows ``(seq, ts, kind, payload, payload_hash, prev_hash, hash)`` in seq order.

    ``notes`` are the session's checkpoint notes, checked against ``trusted``
    keys; ``seal``/``seal_problems`` a legacy HMAC seal. ``payload`` may be
    text or its UTF-8 bytes.
    """
    sha = hashlib.sha256
    cps = _Notes(session_id, notes or [], trusted or [])
    check_at = cps.by_size
    sid_json = json.dumps(session_id, ensure_ascii=False).encode()
    suffix = b',"session_id":' + sid_json + b',"ts":'
    prefixes: dict[str, bytes] = {}
    expected_seq = 1
    prev = GENESIS
    n = 0
    sealed_seq = seal.seq if seal else None
    sealed_hash: str | None = None
    broken: tuple[int, str, str] | None = None
    stack: list[bytes] = []  # the Merkle frontier, inline: this loop is the hot one
    matched = 0  # the largest checkpoint size whose root matched
    for seq, ts, kind, payload, payload_hash, prev_hash, h in rows:
        n += 1
        if broken is None:
            if seq != expected_seq:
                broken = (expected_seq, "seq_gap", f"expected seq {expected_seq}, found {seq}")
            elif prev_hash != prev:
                broken = (seq, "broken_link", "prev_hash does not match the previous event's hash")
            else:
                # The canonical body of ``payload_hash`` (canonical.event_body),
                # built from cached bytes: this loop runs once per event.
                pre = prefixes.get(kind)
                if pre is None:
                    kq = json.dumps(kind, ensure_ascii=False).encode()
                    pre = prefixes[kind] = b'{"kind":' + kq + b',"payload":'
                data = payload.encode() if isinstance(payload, str) else payload
                body = pre + data + suffix + b"%d}" % ts
                if sha(body).hexdigest() != payload_hash:
                    broken = (
                        seq,
                        "hash_mismatch",
                        f"{kind} event content does not match its payload_hash",
                    )
                else:
                    d = sha(f"{prev_hash}:{seq}:{payload_hash}".encode()).digest()
                    if d.hex() != h:
                        broken = (
                            seq,
                            "hash_mismatch",
                            "event hash does not match the chain formula",
                        )
                    else:
                        if kind == "seal":
                            recorded = _seal_root(data)
                            if recorded is None:
                                pass
                            elif recorded != b64(_root(stack)):
                                broken = (
                                    matched + 1,
                                    "root_mismatch",
                                    f"the seal at seq {seq} records a root the first {seq - 1} "
                                    f"events do not hash to; events {matched + 1}..{seq - 1} "
                                    "were changed",
                                )
                            else:
                                matched = seq - 1
                        node = sha(b"\x00" + d).digest()
                        x = seq - 1
                        while x & 1:
                            node = sha(b"\x01" + stack.pop() + node).digest()
                            x >>= 1
                        stack.append(node)
                        if seq in check_at and broken is None:
                            root = _root(stack)
                            if any(cp.root != root for cp in check_at[seq]):
                                broken = (
                                    matched + 1,
                                    "root_mismatch",
                                    f"the first {seq} events do not hash to the root signed at "
                                    f"size {seq}; events {matched + 1}..{seq} were changed",
                                )
                            else:
                                matched = seq
        if sealed_seq is not None and seq == sealed_seq:
            sealed_hash = h
        prev = h
        expected_seq = seq + 1
    last_seq = expected_seq - 1
    res = VerifyResult(
        session_id=session_id,
        ok=True,
        events=n,
        head=prev if n else None,
        checkpoints=cps.count,
        untrusted=sorted(cps.untrusted),
        trust=trust,
    )
    if broken is None:
        broken = cps.problem
    if cps.count:
        broken = broken or _judge_checkpoints(res, cps, last_seq, require_signature)
    elif seal is not None:
        res.sealing = "hmac"
        res.sealed_seq = seal.seq
        res.unsealed = max(0, last_seq - seal.seq)
        if last_seq < seal.seq and broken is None:
            broken = (
                last_seq + 1,
                "truncated",
                f"session ends at seq {last_seq} but was sealed at seq {seal.seq} "
                f"({seal.seq - last_seq} events missing from the tail)",
            )
        elif broken is None and sealed_hash != seal.head:
            broken = (
                seal.seq,
                "bad_seal",
                f"sealed head at seq {seal.seq} is not the hash in the log",
            )
    else:
        res.unsealed = last_seq
        if require_signature and broken is None and not seal_problems:
            broken = (1, "unsigned", "no checkpoint: nothing about this session is signed")
    if broken is None and seal_problems:
        res.sealing = res.sealing or "hmac"
        broken = (seal.seq if seal else 0, "bad_seal", "; ".join(seal_problems))
    if broken is not None:
        res.ok = False
        res.first_broken_seq, res.kind, res.detail = broken
    return res


def _root(stack: list[bytes]) -> bytes:
    if not stack:
        return EMPTY_ROOT
    r = stack[-1]
    for x in reversed(stack[:-1]):
        r = hashlib.sha256(b"\x01" + x + r).digest()
    return r


def _seal_root(payload: bytes) -> str | None:
    """The root a ``seal`` event records of the events before it (sessions
    sealed with HMAC recorded none)."""
    try:
        root = json.loads(payload).get("root")
    except (ValueError, AttributeError):
        return None  # its own hash already held: the payload is what was written
    return root if isinstance(root, str) else None


def _judge_checkpoints(
    res: VerifyResult, cps: _Notes, last_seq: int, require_signature: bool
) -> tuple[int, str, str] | None:
    res.sealing = "checkpoint"
    latest = max(cps.by_size, default=0)
    trusted_latest = max(cps.trusted_sizes, default=0)
    if trusted_latest:
        res.sealed_seq = trusted_latest
        res.signed_by = sorted(set(cps.trusted_sizes[trusted_latest]))
        res.root = cps.by_size[trusted_latest][0].root_b64
    res.unsealed = max(0, last_seq - trusted_latest)
    if last_seq < latest:
        return (
            last_seq + 1,
            "truncated",
            f"session ends at seq {last_seq} but a checkpoint covers {latest} events "
            f"({latest - last_seq} missing from the tail)",
        )
    if cps.bad_sig:
        return cps.bad_sig
    if trusted_latest < latest:
        who = ", ".join(sorted(cps.untrusted)) or "no key"
        hint = (
            "pass --key with the signer's verifier key if you trust it"
            if res.trust != "none"
            else "pass --key with the verifier key you trust"
        )
        return (
            latest,
            "untrusted_key",
            f"the latest checkpoint (size {latest}) is signed by {who}, not by a trusted key; {hint}",
        )
    return None


def verify_session(
    conn: sqlite3.Connection,
    session_id: str,
    seal_file: seals.SealFile,
    trusted: list[Verifier] | None = None,
    trust: str = "local",
) -> VerifyResult:
    # The payload comes as bytes: no decoding of every event's text only to
    # encode it again for hashing.
    rows = conn.execute(
        "SELECT seq, ts, kind, CAST(payload AS BLOB), payload_hash, prev_hash, hash FROM events"
        " WHERE session_id=? ORDER BY seq",
        (session_id,),
    )
    return verify_rows(
        session_id,
        rows,
        seal_file.hmac.get(session_id),
        seal_file.bad.get(session_id),
        notes=seal_file.notes.get(session_id),
        trusted=trusted,
        trust=trust,
    )


def integrity_check(conn: sqlite3.Connection) -> str:
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"error: {exc}"
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def verify_all(
    conn: sqlite3.Connection,
    seal_file: seals.SealFile,
    trusted: list[Verifier] | None = None,
    trust: str = "local",
) -> list[VerifyResult]:
    """Every session in the DB, plus sealed sessions the DB has lost entirely."""
    ids = [r[0] for r in conn.execute("SELECT id FROM sessions ORDER BY started")]
    ids += sorted({r[0] for r in conn.execute("SELECT DISTINCT session_id FROM events")} - set(ids))
    results = [verify_session(conn, sid, seal_file, trusted, trust) for sid in ids]
    pruned, prune_results = _pruned(conn, seal_file, trusted or [])
    for r in prune_results:
        r.trust = trust
    lost = {sid: rec.seq for sid, rec in seal_file.latest.items()}
    for sid in sorted(set(lost) - set(ids) - pruned):
        results.append(
            VerifyResult(
                session_id=sid,
                ok=False,
                events=0,
                first_broken_seq=1,
                kind="truncated",
                detail=f"session was sealed at seq {lost[sid]} but is missing from the log",
                sealed_seq=lost[sid],
            )
        )
    return results + prune_results


def _pruned(
    conn: sqlite3.Connection, seal_file: seals.SealFile, trusted: list[Verifier]
) -> tuple[set[str], list[VerifyResult]]:
    """Sessions deleted on purpose by `overseer prune`, which records them in
    its own chained, signed ``prunes`` table (overseer.log.prune_record): their
    seals are not truncation. Also that record's own check, as a result line."""
    exists = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='prunes'"
    if not conn.execute(exists).fetchone():
        return set(), []
    pruned, result = verify_prunes(conn, seal_file, seals.load_key(create=False), trusted)
    return pruned, [result] if result else []


def verify_prunes(
    conn: sqlite3.Connection,
    seal_file: seals.SealFile,
    key: bytes | None,
    trusted: list[Verifier] | None = None,
) -> tuple[set[str], VerifyResult | None]:
    """The sessions the prune record validly accounts for, and its result
    line for ``verify --all`` (None: no prunes yet). Signed rows are checked
    against the ``trusted`` verifier keys, rows from before signed
    checkpoints with the old seal ``key``."""
    accounted, check = prune_record.check_record(conn, seal_file, key, trusted)
    if check is None:
        return accounted, None
    # Every row is signed, so the record is "sealed" through its last row.
    res = VerifyResult(
        session_id=prune_record.PRUNES_ID,
        ok=check.broken is None,
        events=check.rows,
        head=check.head,
        sealed_seq=check.last_id,
        # "checkpoint": signed by the key that signs checkpoints; "hmac": only
        # rows from before them, under the old seal key.
        sealing="hmac" if check.hmac_rows and not check.signed_by else "checkpoint",
        signed_by=check.signed_by,
    )
    if check.broken is not None:
        res.first_broken_seq, res.kind, res.detail = check.broken
    return accounted, res


def sealing_text(r: VerifyResult) -> str:
    """What sealed a verified session, in words: the latest trusted
    checkpoint (size, signer) or the legacy HMAC seal."""
    if r.sealing == "checkpoint" and r.sealed_seq:
        return (
            f"signed checkpoint at tree size {r.sealed_seq} by {', '.join(r.signed_by)}, "
            f"{r.unsealed} event(s) after it"
        )
    if r.sealing == "hmac":
        return (
            f"sealed through seq {r.sealed_seq} with HMAC (before signed checkpoints: "
            f"checkable only where its key is), {r.unsealed} unsealed"
        )
    return f"no seal yet, {r.unsealed} unsealed"


def summarize(results: list[VerifyResult]) -> dict[str, Any]:
    return {"ok": all(r.ok for r in results), "sessions": len(results)}
