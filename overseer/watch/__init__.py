"""The workspace watcher: every file change becomes a ``file_changed`` event,
attributed to the action that was running when it happened.

How it stays off the critical path: the watchdog handler only timestamps an
event and queues it (``observer``). A worker thread debounces, hashes the
file, diffs small text files against the text it kept (``files``,
``changes``), and appends the events to the log (``watcher``). A tool call
never waits for the file system to settle.

How attribution works (``attribution``): the watcher subscribes to the log
and notes when each ``action_started`` and ``action_finished`` of its
session is recorded. A change is attributed to the action whose window
(start .. end + ``grace_s``) contains the moment the change was seen; with
several (parallel calls, or a change that reached the watcher just after the
next action started), the one whose policy facts declared it writes that
path, else the latest started. A change seen while no window is open is
recorded with ``call_id: null`` and raises ``flag_raised`` ``out_of_band``
(evidence: the ``file_changed`` seqs): something other than a mediated
action changed the workspace, typically a background process the agent left
running.

What is reported: files created, modified (content hash changed; a touch is
not a change), deleted and moved (same content under a new name), with
before/after sha256 and, for text files under ``text_cap``, a unified diff.
``.git`` internals are not reported file by file; ref changes are, as
``change: "ref"`` (``refs``: a branch moved, a new commit, HEAD switched).
Caches and bytecode (``__pycache__``, ``.pytest_cache``...) and overseer's
own log files are ignored (``paths``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..log import AuditLog
from .attribution import Attribution
from .changes import ChangeFinder
from .files import HASH_CAP, FileStates
from .paths import IGNORED_DIRS, IGNORED_SUFFIXES, WorkspacePaths
from .watcher import MOVE_PAIRING_DELAY_S, Watcher

__all__ = [
    "HASH_CAP",
    "IGNORED_DIRS",
    "IGNORED_SUFFIXES",
    "MOVE_PAIRING_DELAY_S",
    "Attribution",
    "ChangeFinder",
    "FileStates",
    "Watcher",
    "WorkspacePaths",
    "changed_paths",
    "watch",
]


def watch(log: AuditLog, session_id: str, workspace: str | Path, **options: Any) -> Watcher:
    """Create and start a watcher."""
    return Watcher(log, session_id, workspace, **options).start()


def changed_paths(events: Iterable[dict[str, Any]]) -> list[str]:
    """The paths of ``file_changed`` payloads, in order (a helper for reports)."""
    return [e["path"] for e in events if e.get("change") != "ref"]
