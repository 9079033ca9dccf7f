"""The file-system side: watchdog's observer on the workspace, whose handler
only timestamps each event and queues it for the watcher's worker, so
nothing slow runs on watchdog's thread and a tool call never waits for the
file system to settle."""

from __future__ import annotations

import queue
import time
import warnings
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

# watchdog warns when a directory is re-created at a path it already watched
# (git does this with .git/worktrees/<name> on every temporary worktree); the
# watch is simply renewed, so the warning is noise.
WATCHDOG_NOISE = r"Callback with id .* already exists"
warnings.filterwarnings("ignore", message=WATCHDOG_NOISE, category=RuntimeWarning)

# What changes a file: the only events asked of the kernel. Opens and closes
# without a write are left out of the inotify mask itself, not just dropped by
# the handler: every read in the workspace (git reading its objects, the
# policy resolving a path, a test run importing modules) would otherwise wake
# watchdog's thread, which costs each mediated call time under the GIL.
CHANGE_EVENTS = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirModifiedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

# What the worker's queue carries: (monotonic time, event), a marker object,
# or None to stop.
Queued = tuple[float, FileSystemEvent] | object | None


class _Handler(FileSystemEventHandler):
    def __init__(self, q: queue.Queue[Queued]) -> None:
        self.q = q

    def dispatch(self, event: FileSystemEvent) -> None:
        # Only timestamp and queue: this runs on watchdog's thread.
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent):
            return
        self.q.put((time.monotonic(), event))


def observe(workspace: Path, q: queue.Queue[Queued]) -> Any:
    """Start watching ``workspace`` (recursively, ``.git`` included) into ``q``."""
    # Again here: a test runner may have reset the filters since import.
    warnings.filterwarnings("ignore", message=WATCHDOG_NOISE, category=RuntimeWarning)
    observer = Observer()
    observer.daemon = True
    # One recursive watch, .git included: inotify pairs a move only within
    # one watch, so several watches would turn a move between directories
    # into a creation now and a deletion half a second later.
    observer.schedule(_Handler(q), str(workspace), recursive=True, event_filter=CHANGE_EVENTS)
    observer.start()
    return observer
