"""From raw file-system events to reportable changes.

The worker collects a *batch*: the paths touched (first time seen), the
moves inotify paired, and whether a git ref was touched. ``ChangeFinder``
takes events into a batch (``intake``) and, once the batch settles, compares
each touched path with what ``FileStates`` last saw (``settle``): created,
modified (content hash changed; a touch is not a change), deleted and moved
(same content under a new name), with before/after hashes and, for small
text files, a unified diff; and ref changes. It records nothing itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from watchdog.events import DirCreatedEvent, DirDeletedEvent, DirMovedEvent, FileSystemEvent

from .files import FileStates
from .paths import IGNORED_DIRS, WorkspacePaths
from .refs import read_refs, ref_changes

# (monotonic time first seen, payload without call id)
Change = tuple[float, dict[str, Any]]


@dataclass
class Seen:
    t: float  # monotonic time the first event for this path was seen
    path: str  # absolute


@dataclass
class Batch:
    """Events collected since the last flush, all of one action (or none)."""

    pending: dict[str, Seen] = field(default_factory=dict)  # relative path -> first seen
    moves: list[tuple[float, str, str]] = field(default_factory=list)  # (t, src, dest)
    refs_seen: float | None = None  # when a git ref was first touched
    first: float | None = None  # when the batch's first event was seen
    owner: str | None = None  # the action the batch belongs to

    def holds(self) -> bool:
        return bool(self.pending or self.moves or self.refs_seen is not None)


class ChangeFinder:
    """Turns a batch into changes against the files' last known state."""

    def __init__(self, paths: WorkspacePaths, files: FileStates) -> None:
        self.paths = paths
        self.files = files
        self.workspace = files.workspace
        self.refs: dict[str, str] = {}

    def scan(self, errors: list[str]) -> None:
        """The before-state: every file's hash, and the refs."""
        self.files.scan(self.paths, errors)
        if self.paths.track_refs:
            self.refs = read_refs(self.paths.git_dir)

    def intake(self, batch: Batch, t: float, event: FileSystemEvent) -> None:
        """Note what ``event`` (seen at ``t``) touched."""
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
        if batch.refs_seen is None and (
            self.paths.is_ref(src) or (bool(dest) and self.paths.is_ref(dest))
        ):
            batch.refs_seen = t
        rel_of = self.paths.rel
        pending = batch.pending

        def touch(path: str) -> None:
            rel = rel_of(path)
            if rel is not None and rel not in pending:
                pending[rel] = Seen(t, path)

        if isinstance(event, DirDeletedEvent | DirMovedEvent):
            rel_dir = rel_of(src)
            if rel_dir is not None:
                prefix = rel_dir + os.sep
                for known in [k for k in self.files.hashes if k.startswith(prefix)]:
                    touch(str(self.workspace / known))
            if isinstance(event, DirMovedEvent) and dest:
                self._touch_tree(dest, touch)
            return
        if isinstance(event, DirCreatedEvent):
            self._touch_tree(src, touch)
            return
        if event.is_directory:
            return
        if dest:
            s, d = rel_of(src), rel_of(dest)
            if s is not None and d is not None:
                batch.moves.append((t, s, d))
            touch(src)
            touch(dest)
        else:
            touch(src)

    def _touch_tree(self, root: str, touch: Any) -> None:
        if self.paths.rel(root) is None:
            return
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS]
            for name in filenames:
                touch(os.path.join(dirpath, name))

    def settle(self, batch: Batch) -> list[Change]:
        """The batch's changes, in the order to record them; updates the state."""
        files = self.files
        pending = dict(batch.pending)
        out: list[Change] = []
        for t, src, dest in batch.moves:
            before = files.hashes.get(src)
            if (
                before is None
                or (self.workspace / src).exists()
                or src not in pending
                or dest not in pending
            ):
                continue
            state = files.state(dest)
            if state is None or state[0] != before:
                continue
            del pending[src], pending[dest]
            files.hashes.pop(src, None)
            files.hashes[dest] = state[0]
            text = files.texts.get(src)
            files.forget_text(src)
            if text is not None:
                files.keep_text(dest, text)
            out.append(
                (
                    t,
                    {
                        "path": src,
                        "change": "moved",
                        "dest_path": dest,
                        "before_hash": before,
                        "after_hash": state[0],
                        "size": state[1],
                    },
                )
            )

        changes: list[Change] = []
        for rel, seen in sorted(pending.items(), key=lambda kv: (kv[1].t, kv[0])):
            change = self._compare(rel)
            if change is not None:
                changes.append((seen.t, change))
        out += pair_moves(changes)

        if batch.refs_seen is not None:
            new = read_refs(self.paths.git_dir)
            old, self.refs = self.refs, new
            out += [(batch.refs_seen, payload) for payload in ref_changes(old, new)]
        return out

    def _compare(self, rel: str) -> dict[str, Any] | None:
        """The change of one path since it was last seen, or None (a touch,
        a duplicate event, or created and removed again)."""
        files = self.files
        before = files.hashes.get(rel)
        state = files.state(rel)
        after = state[0] if state else None
        if before == after:
            return None
        old_text = files.texts.get(rel)
        payload: dict[str, Any] = {"path": rel, "before_hash": before, "after_hash": after}
        if state is None:
            payload.update(change="deleted", size=None)
            files.hashes.pop(rel, None)
            if old_text is not None:
                payload["diff"] = files.diff(rel, old_text, "", deleted=True)
            files.forget_text(rel)
            return payload
        payload.update(change="created" if before is None else "modified", size=state[1])
        new_text = state[2]
        if new_text is not None and (before is None or old_text is not None):
            payload["diff"] = files.diff(rel, old_text or "", new_text, created=before is None)
        files.hashes[rel] = state[0]
        if new_text is not None:
            files.keep_text(rel, new_text)
        else:
            files.forget_text(rel)
        return payload


def pair_moves(changes: list[Change]) -> list[Change]:
    """A deletion and a creation of the same content in one batch are a move
    (inotify reports a move between two watched trees as exactly that)."""
    created: dict[str, int] = {}
    for i, (_t, p) in enumerate(changes):
        if p["change"] == "created" and p["after_hash"]:
            created.setdefault(p["after_hash"], i)
    merged: set[int] = set()
    out: list[Change] = []
    for i, (t, p) in enumerate(changes):
        if i in merged:
            continue
        j = created.get(p["before_hash"] or "") if p["change"] == "deleted" else None
        if j is not None and j not in merged:
            merged.add(j)
            dest = changes[j][1]
            out.append(
                (
                    min(t, changes[j][0]),
                    {
                        "path": p["path"],
                        "change": "moved",
                        "dest_path": dest["path"],
                        "before_hash": p["before_hash"],
                        "after_hash": dest["after_hash"],
                        "size": dest["size"],
                    },
                )
            )
            continue
        out.append((t, p))
    return out
