"""Canonical JSON and hashing: the byte form the hash chain is computed over.

Canonical means sorted keys, no whitespace, UTF-8, and no floats: a float's
text form differs between platforms and libraries, so hashed content carries
times as integer nanoseconds and durations as integer milliseconds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "0" * 64


class NonCanonicalValue(TypeError):
    """A value that has no canonical JSON form (a float, a set, an object)."""


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise NonCanonicalValue(f"floats are not allowed in hashed content: {value!r}")
    if isinstance(value, dict):
        for v in value.values():
            _reject_floats(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _reject_floats(v)


# One encoder for every call: json.dumps with options builds a new one each time.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any, *, check: bool = True) -> str:
    """Serialise ``value`` canonically. ``check`` rejects floats (costs a walk)."""
    if check:
        _reject_floats(value)
    return _ENCODER.encode(value)


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def event_body(session_id: str, ts: int, kind: str, payload_json: str) -> str:
    """The canonical text hashed into ``payload_hash``.

    It covers the session id, the time and the kind as well as the payload, so
    none of them can be changed without breaking the chain. Keys are already in
    sorted order, and ``payload_json`` is itself canonical, so the whole is the
    canonical JSON of ``{"kind", "payload", "session_id", "ts"}`` built without
    parsing the payload again (this keeps verify fast).
    """
    return (
        '{"kind":'
        + json.dumps(kind, ensure_ascii=False)
        + ',"payload":'
        + payload_json
        + ',"session_id":'
        + json.dumps(session_id, ensure_ascii=False)
        + ',"ts":'
        + str(int(ts))
        + "}"
    )


def chain_hash(prev_hash: str, seq: int, payload_hash: str) -> str:
    """``hash = sha256(prev_hash || seq || payload_hash)`` with ':' separators."""
    return hashlib.sha256(f"{prev_hash}:{seq}:{payload_hash}".encode()).hexdigest()


def args_hash(tool: str, args: Any) -> str:
    """The hash an action's decision is bound to: tool name plus canonical args."""
    return sha256_hex(canonical_json({"args": args, "tool": tool}, check=False))
