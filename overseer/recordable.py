"""What the broker records of values it does not control.

A proposal's raw arguments come from the agent (a model's JSON, a script, a
plugin) and a tool's ``data`` from the tool: either may nest a thousand
levels deep or hold objects JSON has no form for. Recording such a value as
is would fail, and a record that cannot be written stops the session (the
broker fails closed on a broken log). So these values are recorded through
``recordable``: JSON values are kept as they are, anything else becomes its
``repr`` (cut), and nesting past ``MAX_DEPTH`` becomes a marker. The broker
refuses arguments that nest that deep, so what runs is always recorded whole.
"""

from __future__ import annotations

import hashlib
from typing import Any

MAX_DEPTH = 64  # no real tool argument nests deeper
MAX_REPR = 2_000
TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels]"
# Arguments bigger than this (as JSON) are refused, and recorded as their size,
# hash and head: a call is recorded two or three times, and the log is bounded.
MAX_ARGS_BYTES = 8 * 1024 * 1024
HEAD_CHARS = 4_096

_SCALARS = (str, int, float, bool, type(None))


def depth_exceeded(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts in ``value`` nest deeper than ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list | tuple):
            children = v
        else:
            continue
        if d >= limit:
            return True
        stack.extend((c, d + 1) for c in children if isinstance(c, dict | list | tuple))
    return False


def _plain(value: Any, depth: int) -> bool:
    t = type(value)
    if t in _SCALARS:
        return True
    if depth >= MAX_DEPTH:
        return False
    if t is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    if t is list:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _convert(value: Any, depth: int) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {str(k): _convert(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(v, depth + 1) for v in value]
    if isinstance(value, _SCALARS):  # subclasses (str enums...): their plain value
        return value
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def recordable(value: Any) -> Any:
    """``value`` if it is plain JSON within ``MAX_DEPTH``; else a copy that is."""
    if _plain(value, 0):
        return value
    return _convert(value, 0)


def oversized(text: str, limit: int = MAX_ARGS_BYTES) -> dict[str, Any] | None:
    """A stand-in for arguments whose JSON ``text`` is over ``limit`` bytes
    (size, SHA-256 and the head), or None when they are within it."""
    if len(text) <= limit // 4:  # at most 4 bytes a character: surely within
        return None
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return None
    return {
        "overseer_not_recorded": f"{len(data)} bytes of arguments, over the {limit} byte limit",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "head": text[:HEAD_CHARS],
    }
