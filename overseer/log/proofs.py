"""Portable proofs: one event's inclusion, and a session's append-only growth.

An inclusion proof (``overseer prove ID SEQ``) is a JSON object carrying the
event row, its leaf index, the tree size, the RFC 9162 audit path and the
signed checkpoint note it leads to; a consistency proof (``overseer prove ID
--consistency OLD``) carries the two sizes, the old root (and the old
checkpoint when one was signed at that size), the RFC 9162 consistency path
and the latest checkpoint. `verify_proof` checks either with nothing but the
file and the verifier keys the caller trusts. The formats are documented in
logs/README.md for independent verifiers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..canonical import event_body
from ..errors import LogError, UsageError
from . import keys, merkle, seals
from .checkpoints import Checkpoint, b64, db_leaves, subtrees
from .note import NoteError, Verifier
from .store import AuditLog

INCLUSION = "overseer-inclusion-proof/1"
CONSISTENCY = "overseer-consistency-proof/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


# -- making proofs (needs the log) ---------------------------------------------


def _checkpoints(log: AuditLog, sid: str) -> list[Checkpoint]:
    """The session's checkpoints that parse, by size."""
    out = []
    for note in seals.read_seals(log.seal_path, None).notes.get(sid, []):
        try:
            cp = Checkpoint.parse(note)
        except NoteError:
            continue
        if cp.session_id == sid:
            out.append(cp)
    return sorted(out, key=lambda cp: cp.size)


def _pick(cps: list[Checkpoint], own: Verifier | None) -> Checkpoint | None:
    """The last of ``cps`` this machine's key signed, else the last: a proof
    should lead to the key an auditor is given (one signature check, not one
    per checkpoint of a long session)."""
    if own is not None:
        for cp in reversed(cps):
            if cp.open([own]).ok:
                return cp
    return cps[-1] if cps else None


def _latest(cps: list[Checkpoint], sid: str, own: Verifier | None) -> Checkpoint:
    cp = _pick(cps, own)
    if cp is None:
        raise LogError(
            f"session {sid} has no signed checkpoint (it was sealed with HMAC, before "
            "checkpoints); there is nothing to prove against"
        )
    return cp


def _signers(cp: Checkpoint, own: Verifier | None) -> list[str]:
    return [own.vkey] if own is not None and cp.open([own]).ok else []


def _checked(log: AuditLog, sid: str, size: int, build: Any, check: Any) -> Any:
    """Build a proof from tiles and leaves; if it does not check against the
    signed root, build it again from the leaves alone (a stale or damaged
    tile), and refuse if even that fails (the log no longer matches what was
    signed)."""
    proof = build(subtrees(log.conn, sid, size))
    if check(proof):
        return proof
    proof = build(merkle.Subtrees(db_leaves(log.conn, sid), {}, size))
    if check(proof):
        return proof
    raise LogError(
        f"session {sid} no longer matches its signed checkpoint; run `overseer verify {sid}`"
    )


def prove_inclusion(log: AuditLog, session_id: str, seq: int) -> dict[str, Any]:
    sid = log.resolve(session_id)
    own = keys.local_verifier()
    cp = _latest(_checkpoints(log, sid), sid, own)
    if not 1 <= seq <= cp.size:
        raise UsageError(
            f"seq {seq} is not covered by the latest checkpoint of {sid} (size {cp.size}); "
            "events after it are covered at the next seal or when the session ends"
        )
    row = log.conn.execute(
        "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
        " WHERE session_id=? AND seq=?",
        (sid, seq),
    ).fetchone()
    if row is None:
        raise LogError(f"session {sid} has no event {seq}; run `overseer verify {sid}`")
    leaf = merkle.leaf_hash(bytes.fromhex(row[6]))
    path = _checked(
        log,
        sid,
        cp.size,
        lambda st: merkle.inclusion_path(seq - 1, cp.size, st),
        lambda p: merkle.verify_inclusion(seq - 1, cp.size, leaf, p, cp.root),
    )
    return {
        "format": INCLUSION,
        "session_id": sid,
        "event": {
            "seq": row[0],
            "ts": row[1],
            "kind": row[2],
            "payload": json.loads(row[3]),
            "payload_json": row[3],
            "payload_hash": row[4],
            "prev_hash": row[5],
            "hash": row[6],
        },
        "leaf_index": seq - 1,
        "tree_size": cp.size,
        "audit_path": [b64(h) for h in path],
        "checkpoint": cp.note,
        "verifier_keys": _signers(cp, own),
    }


def prove_consistency(log: AuditLog, session_id: str, old_size: int) -> dict[str, Any]:
    sid = log.resolve(session_id)
    own = keys.local_verifier()
    cps = _checkpoints(log, sid)
    cp = _latest(cps, sid, own)
    if not 1 <= old_size <= cp.size:
        raise UsageError(f"OLD_SIZE must be between 1 and the latest checkpoint's size ({cp.size})")
    old_cp = _pick([c for c in cps if c.size == old_size], own)
    old_root = old_cp.root if old_cp else subtrees(log.conn, sid, cp.size)(0, old_size)
    proof = _checked(
        log,
        sid,
        cp.size,
        lambda st: merkle.consistency_proof(old_size, cp.size, st),
        lambda p: merkle.verify_consistency(old_size, cp.size, old_root, cp.root, p),
    )
    return {
        "format": CONSISTENCY,
        "session_id": sid,
        "old_size": old_size,
        "old_root": b64(old_root),
        "old_checkpoint": old_cp.note if old_cp else None,
        "new_size": cp.size,
        "proof": [b64(h) for h in proof],
        "checkpoint": cp.note,
        "verifier_keys": _signers(cp, own),
    }


# -- checking proofs (needs only the file and trusted keys) --------------------


@dataclass
class ProofResult:
    ok: bool
    format: str
    session_id: str
    kind: str | None = None
    detail: str = ""
    facts: list[str] = field(default_factory=list)  # what was established, one line each
    signed_by: list[str] = field(default_factory=list)


class _Bad(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def load_proof(data: bytes, name: str) -> dict[str, Any]:
    """Parse a proof file; a LogError (exit 3) if it is not one."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProofFileError(f"{name} is not UTF-8 text") from exc
    except ValueError as exc:
        raise ProofFileError(f"{name} is not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") not in (INCLUSION, CONSISTENCY):
        raise ProofFileError(
            f"{name} is not an overseer proof (no format {INCLUSION!r} or {CONSISTENCY!r})"
        )
    return doc


class ProofFileError(LogError):
    """A proof file that cannot be read as one: verification fails (exit 3)."""

    exit_code = 3


def _int(doc: dict[str, Any], key: str) -> int:
    v = doc.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise _Bad("bad_proof", f"{key} is not a non-negative integer")
    return v


def _str(doc: dict[str, Any], key: str) -> str:
    v = doc.get(key)
    if not isinstance(v, str):
        raise _Bad("bad_proof", f"{key} is missing or not a string")
    return v


def _hash32(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise _Bad("bad_proof", f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("bad_proof", f"{what} is not base64") from None
    if len(raw) != 32:
        raise _Bad("bad_proof", f"{what} is {len(raw)} bytes, not 32")
    return raw


def _checkpoint(note: Any, sid: str, size: int, what: str) -> Checkpoint:
    if not isinstance(note, str):
        raise _Bad("bad_checkpoint", f"{what} is missing")
    try:
        cp = Checkpoint.parse(note)
    except NoteError as exc:
        raise _Bad("bad_checkpoint", f"{what} does not parse: {exc}") from None
    if cp.origin != f"overseer/{sid}":
        raise _Bad("bad_checkpoint", f"{what} is for {cp.origin!r}, not session {sid}")
    if cp.size != size:
        raise _Bad("bad_proof", f"{what} is for tree size {cp.size}, the proof for {size}")
    return cp


def _signature(cp: Checkpoint, trusted: list[Verifier], what: str) -> list[str]:
    opened = cp.open(trusted)
    if opened.failed:
        raise _Bad(
            "bad_signature", f"{what}: the signature by {opened.failed[0].label} does not verify"
        )
    if not opened.ok:
        who = ", ".join(f"{s.name}+{s.id:08x}" for s in opened.signatures)
        raise _Bad("untrusted_key", f"{what} is signed by {who}, not by a trusted key")
    return [v.label for v in opened.verified]


def proof_keys(doc: dict[str, Any]) -> list[Verifier]:
    """The verifier keys a proof names itself (a claim, for the no --key case)."""
    out = []
    named = doc.get("verifier_keys")
    for k in named if isinstance(named, list) else []:
        try:
            out.append(Verifier.parse(str(k)))
        except NoteError:
            pass
    return out


def verify_proof(doc: dict[str, Any], trusted: list[Verifier]) -> ProofResult:
    fmt = str(doc.get("format"))
    sid = doc.get("session_id")
    res = ProofResult(ok=False, format=fmt, session_id=sid if isinstance(sid, str) else "?")
    try:
        if not isinstance(sid, str) or not sid:
            raise _Bad("bad_proof", "session_id is missing")
        if fmt == INCLUSION:
            _verify_inclusion(doc, sid, trusted, res)
        else:
            _verify_consistency(doc, sid, trusted, res)
    except _Bad as bad:
        res.kind, res.detail = bad.kind, bad.detail
        return res
    res.ok = True
    return res


def _verify_inclusion(
    doc: dict[str, Any], sid: str, trusted: list[Verifier], res: ProofResult
) -> None:
    ev = doc.get("event")
    if not isinstance(ev, dict):
        raise _Bad("bad_proof", "event is missing")
    seq, ts = _int(ev, "seq"), _int(ev, "ts")
    kind, payload_json = _str(ev, "kind"), _str(ev, "payload_json")
    hashes = [_str(ev, k) for k in ("payload_hash", "prev_hash", "hash")]
    if not all(_HEX64.fullmatch(h) for h in hashes):
        raise _Bad("bad_proof", "an event hash is not 64 lowercase hex digits")
    payload_hash, prev_hash, h = hashes
    body = event_body(sid, ts, kind, payload_json)
    if hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest() != payload_hash:
        raise _Bad("hash_mismatch", f"event {seq}'s content does not match its payload_hash")
    if "payload" in ev:
        try:
            shown = json.loads(payload_json)
        except ValueError:
            raise _Bad("hash_mismatch", "payload_json is not JSON") from None
        if shown != ev["payload"]:
            raise _Bad("hash_mismatch", "the payload shown is not the payload that was hashed")
    if hashlib.sha256(f"{prev_hash}:{seq}:{payload_hash}".encode()).hexdigest() != h:
        raise _Bad("hash_mismatch", f"event {seq}'s hash does not match the chain formula")
    index, size = _int(doc, "leaf_index"), _int(doc, "tree_size")
    if index != seq - 1:
        raise _Bad("bad_proof", f"leaf_index {index} is not seq - 1 ({seq - 1})")
    path = doc.get("audit_path")
    if not isinstance(path, list):
        raise _Bad("bad_proof", "audit_path is not a list")
    nodes = [_hash32(p, f"audit_path[{i}]") for i, p in enumerate(path)]
    cp = _checkpoint(doc.get("checkpoint"), sid, size, "the checkpoint")
    leaf = merkle.leaf_hash(bytes.fromhex(h))
    if not merkle.verify_inclusion(index, size, leaf, nodes, cp.root):
        raise _Bad(
            "root_mismatch",
            f"event {seq} and its audit path do not lead to the root signed at size {size}",
        )
    res.signed_by = _signature(cp, trusted, "the checkpoint")
    res.facts = [
        f"event {seq} ({kind}) of session {sid} is leaf {index} of the tree of size {size}",
        f"root {cp.root_b64} signed by {', '.join(res.signed_by)}",
    ]


def _verify_consistency(
    doc: dict[str, Any], sid: str, trusted: list[Verifier], res: ProofResult
) -> None:
    old, new = _int(doc, "old_size"), _int(doc, "new_size")
    if not 1 <= old <= new:
        raise _Bad("bad_proof", f"old_size {old} is not between 1 and new_size {new}")
    old_root = _hash32(doc.get("old_root"), "old_root")
    proof = doc.get("proof")
    if not isinstance(proof, list):
        raise _Bad("bad_proof", "proof is not a list")
    nodes = [_hash32(p, f"proof[{i}]") for i, p in enumerate(proof)]
    cp = _checkpoint(doc.get("checkpoint"), sid, new, "the checkpoint")
    old_cp = None
    if doc.get("old_checkpoint") is not None:
        old_cp = _checkpoint(doc.get("old_checkpoint"), sid, old, "the old checkpoint")
        if old_cp.root != old_root:
            raise _Bad("root_mismatch", "old_root is not the root of the old checkpoint")
    if not merkle.verify_consistency(old, new, old_root, cp.root, nodes):
        raise _Bad(
            "root_mismatch",
            f"the tree of size {new} is not an append-only extension of the one of size {old}",
        )
    res.signed_by = _signature(cp, trusted, "the checkpoint")
    res.facts = [
        f"session {sid}: the tree of size {new} extends the tree of size {old} (root {b64(old_root)})",
        f"new root {cp.root_b64} signed by {', '.join(res.signed_by)}",
    ]
    if old_cp is not None:
        old_by = _signature(old_cp, trusted, "the old checkpoint")
        res.facts.append(f"old root signed by {', '.join(old_by)}")
    else:
        res.facts.append(
            f"no checkpoint was signed at size {old}: compare the old root with the one you hold"
        )
