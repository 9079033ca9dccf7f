"""overseer's own settings in the workspace: writes to them always ask.

``overseer.toml`` (or ``[tool.overseer]`` in ``pyproject.toml``) names the
policy the next session judges with, plugin tools imported into overseer's
own process and MCP servers it starts, all outside any sandbox. An agent
that may write them unasked chooses its next policy, or runs code as
overseer. So a write to one of them — the files, and what they name (the
policy file, an MCP server's program and scripts), existing or not — asks,
whatever the rules say, and no grant covers it (hard), like overseer's log
and keys are denied (``paths.protected``). An ``overseer.toml`` below the
workspace counts too: a session started there reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..project import project_files

_CACHE: dict[str, tuple[tuple[object, ...], frozenset[str]]] = {}
_NAMES = ("overseer.toml", "pyproject.toml")


def _stamp(path: str) -> tuple[object, ...]:
    try:
        st = os.stat(path)
    except OSError:
        return (None,)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def settings_files(ws: str) -> frozenset[str]:
    """The resolved settings files of workspace ``ws`` (itself resolved);
    re-read when overseer.toml or pyproject.toml changes."""
    key = tuple(_stamp(os.path.join(ws, n)) for n in _NAMES)
    hit = _CACHE.get(ws)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        named = {str(p) for p in project_files(Path(ws), existing=False)}
    except Exception:  # noqa: BLE001 - unreadable settings: the files themselves still count
        named = set()
    found = frozenset(named | {os.path.join(ws, n) for n in _NAMES})
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[ws] = (key, found)
    return found


def own_settings(paths: Iterable[str], ws: str) -> list[str]:
    """The resolved ``paths`` that are overseer's settings in ``ws``."""
    out: list[str] = []
    files: frozenset[str] | None = None
    for p in paths:
        if os.path.basename(p) == "overseer.toml":
            out.append(p)
            continue
        if files is None:
            files = settings_files(ws)
        if p in files:
            out.append(p)
    return out


def settings_reason(path: str) -> str:
    return (
        f"{path} is overseer's own settings: the next session takes its policy, plugin "
        "tools and MCP servers from it, outside the sandbox"
    )
