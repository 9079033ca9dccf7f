"""Canonical JSON and hashing: the byte form the hash chain is computed over.

Canonical means sorted keys, no whitespace, UTF-8, and no floats: a float's
text form differs between platforms and libraries, so hashed content carries
times as integer nanoseconds and durations as integer milliseconds.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import orjson

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


# The reference encoder: the canonical form is what it writes. One instance
# for every call (json.dumps with options builds a new one each time).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_ASCII_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
# Subclasses, datetimes and dataclasses are left to the reference encoder, so
# orjson's own conversions never define what is canonical.
_ORJSON_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def canonical_json(value: Any, *, check: bool = True) -> str:
    """Serialise ``value`` canonically. ``check`` rejects floats (costs a walk).

    orjson writes the same bytes as the reference encoder for JSON-native
    values (sorted by code point, compact, UTF-8, the same escapes; a test
    fuzzes the two against each other) about ten times faster — this runs on
    every audit append. What orjson refuses (integers beyond 64 bits,
    non-string keys, lone surrogates) takes the reference road.

    A string holding a lone surrogate (undecodable bytes carried in a str,
    or a ``\\udc80`` escape in a model's JSON) has no UTF-8 form, so the text
    could be neither hashed nor stored: such a value is written with every
    non-ASCII character escaped. It is still valid JSON that reads back as
    the same value, and the choice depends only on the value, so the form
    stays canonical.
    """
    if check:
        _reject_floats(value)
    try:
        return orjson.dumps(value, option=_ORJSON_CANONICAL).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is one
        text = _ENCODER.encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII_ENCODER.encode(value)
    return text


@functools.lru_cache(maxsize=4096)
def _quoted(s: str) -> str:
    """A JSON string literal; event kinds and session ids repeat on every append."""
    return json.dumps(s, ensure_ascii=False)


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
        + _quoted(kind)
        + ',"payload":'
        + payload_json
        + ',"session_id":'
        + _quoted(session_id)
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
