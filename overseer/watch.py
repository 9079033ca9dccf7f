"""The workspace watcher: every file change becomes a ``file_changed`` event,
attributed to the action that was running when it happened.

How it stays off the critical path: the watchdog handler only timestamps an
event and queues it. A worker thread debounces (an editor's save or a
``>`` redirect produce several inotify events), hashes the file, diffs small
text files against the text it kept, and appends the events to the log. A
tool call never waits for the file system to settle.

How attribution works: the watcher subscribes to the log and notes when each
``action_started`` and ``action_finished`` of its session is recorded. A
change is attributed to the action whose window (start .. end + ``grace_s``)
contains the moment the change was seen; with several (parallel calls, or a
change that reached the watcher just after the next action started), the one
whose policy facts declared it writes that path, else the latest started. A
change seen while no window is open is recorded with
``call_id: null`` and raises ``flag_raised`` ``out_of_band`` (evidence: the
``file_changed`` seqs): something other than a mediated action changed the
workspace, typically a background process the agent left running.

What is reported: files created, modified (content hash changed; a touch is
not a change), deleted and moved (same content under a new name), with
before/after sha256 and, for text files under ``text_cap``, a unified diff.
``.git`` internals are not reported file by file; ref changes are, as
``change: "ref"`` (a branch moved, a new commit, HEAD switched). Caches and
bytecode (``__pycache__``, ``.pytest_cache``...) and overseer's own log files
are ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from . import textdiff
from .log import AuditLog

IGNORED_DIRS = frozenset(
    {
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "node_modules",
        ".hypothesis",
    }
)
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~")
HASH_CAP = 64 * 1024 * 1024  # bigger files are identified by size and mtime
ACTION_KINDS = ("action_started", "action_finished")
# policy_decided carries the paths an action declared it writes (its facts).
_NOTED_KINDS = frozenset({*ACTION_KINDS, "policy_decided"})

# watchdog warns when a directory is re-created at a path it already watched
# (git does this with .git/worktrees/<name> on every temporary worktree); the
# watch is simply renewed, so the warning is noise.
_WATCHDOG_NOISE = r"Callback with id .* already exists"
warnings.filterwarnings("ignore", message=_WATCHDOG_NOISE, category=RuntimeWarning)
_NOTHING = object()
_BOUNDARY = object()  # queued when an action starts: flush the batch
MOVE_PAIRING_DELAY_S = 0.6  # watchdog's InotifyBuffer holds an unpaired move-from 0.5 s


@dataclass
class _Seen:
    t: float  # monotonic time the first event for this path was seen
    path: str  # absolute


def _sha256_file(path: Path, size: int) -> str:
    if size > HASH_CAP:
        st = path.stat()
        return f"size:{st.st_size}:mtime:{st.st_mtime_ns}"
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


class _Handler(FileSystemEventHandler):
    def __init__(self, q: queue.Queue[tuple[float, FileSystemEvent] | object | None]) -> None:
        self.q = q

    def dispatch(self, event: FileSystemEvent) -> None:
        # Only timestamp and queue: this runs on watchdog's thread.
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent):
            return
        self.q.put((time.monotonic(), event))


class Watcher:
    """Observes a workspace for one session. ``start()`` / ``stop()``."""

    def __init__(
        self,
        log: AuditLog,
        session_id: str,
        workspace: str | Path,
        *,
        grace_s: float = 0.3,
        debounce_s: float = 0.05,
        max_batch_s: float = 1.0,
        text_cap: int = 256 * 1024,
        keep_text_cap: int = 64 * 1024,
        text_budget: int = 16 * 1024 * 1024,
        diff_cap: int = 16 * 1024,
        max_files: int = 100_000,
    ) -> None:
        self.log = log
        self.session_id = session_id
        self.workspace = Path(workspace).resolve()
        self.grace_s = grace_s
        self.debounce_s = debounce_s
        self.max_batch_s = max_batch_s
        self.text_cap = text_cap
        self.keep_text_cap = keep_text_cap
        self.text_budget = text_budget
        self.diff_cap = diff_cap
        self.max_files = max_files
        self.git_dir = self.workspace / ".git"
        self._track_refs = self.git_dir.is_dir()
        log_path = Path(log.path).resolve()
        self._own = {
            str(log_path),
            f"{log_path}-wal",
            f"{log_path}-shm",
            f"{log_path}-journal",
            f"{log_path}.seals",
        }
        self._hashes: dict[str, str] = {}  # relative path -> sha256
        self._texts: dict[str, str] = {}  # relative path -> text, for diffs
        self._text_bytes = 0
        self._refs: dict[str, str] = {}
        self._pruned_at = 0.0
        self._actions: dict[str, list[float | None]] = {}  # call_id -> [start, end]
        self._declared: dict[str, set[str]] = {}  # call_id -> paths its facts say it writes
        self._lock = threading.Lock()
        # (time, event), _BOUNDARY when an action starts, None to stop
        self._q: queue.Queue[tuple[float, FileSystemEvent] | object | None] = queue.Queue()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._ready = threading.Event()
        self._running = False
        self.errors: list[str] = []  # kept, not raised: the watcher must not break the session
        self.events_logged = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Watcher:
        if self._running:
            return self
        self._running = True
        # Again here: a test runner may have reset the filters since import.
        warnings.filterwarnings("ignore", message=_WATCHDOG_NOISE, category=RuntimeWarning)
        self.log.subscribe(self._on_log_event)
        self._observer = Observer()
        self._observer.daemon = True
        # One recursive watch, .git included: inotify pairs a move only within
        # one watch, so several watches would turn a move between directories
        # into a creation now and a deletion half a second later.
        self._observer.schedule(_Handler(self._q), str(self.workspace), recursive=True)
        self._observer.start()
        self._worker = threading.Thread(
            target=self._work, name=f"watcher-{self.session_id}", daemon=True
        )
        self._worker.start()
        # The observer runs first so nothing written while the cache is built is lost.
        self._scan()
        self._ready.set()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop observing; changes already seen are still recorded."""
        if not self._running:
            return
        # Let the last action's changes arrive, so they are recorded before
        # the session's end rather than lost with the observer.
        self.flush(timeout=min(timeout, 1.0), settle=0.1)
        self._running = False
        if self._observer is not None:
            with contextlib.suppress(Exception):
                self._observer.stop()
                self._observer.join(timeout)
        self._q.put(None)
        if self._worker is not None:
            self._worker.join(timeout)
        self.log.unsubscribe(self._on_log_event)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def flush(self, timeout: float = 5.0, settle: float = 0.15) -> bool:
        """Wait until every change seen so far is recorded (for tests and teardown)."""
        deadline = time.monotonic() + timeout
        time.sleep(settle)  # inotify delivery and watchdog's own queue
        while time.monotonic() < deadline:
            if self._q.empty() and self._idle.wait(0.05) and self._q.empty():
                return True
        return False

    # -- attribution ---------------------------------------------------------

    def _on_log_event(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if session_id != self.session_id or kind not in _NOTED_KINDS:
            return
        call_id = payload.get("call_id")
        if not call_id:
            return
        if kind == "policy_decided":
            writes = (payload.get("facts") or {}).get("writes") or ()
            declared = {
                r
                for w in writes
                if isinstance(w, str) and (r := self._rel(os.path.join(self.workspace, w)))
            }
            if declared:
                with self._lock:
                    self._declared[call_id] = declared
            return
        now = time.monotonic()
        # A boundary flushes the batch the worker holds; when it holds none
        # (idle, nothing queued) waking it would only cost this call time.
        if kind == "action_started" and not (self._idle.is_set() and self._q.empty()):
            self._q.put(_BOUNDARY)
        with self._lock:
            if kind == "action_started":
                self._actions[call_id] = [now, None]
            else:
                self._actions.setdefault(call_id, [now, None])[1] = now
            # Forget windows closed long ago (a long session makes thousands);
            # only now and then, so a call does not pay for the whole history.
            if len(self._actions) > 256 and now - self._pruned_at > 5.0:
                self._pruned_at = now
                stale = [
                    c for c, (_s, e) in self._actions.items() if e is not None and now - e > 60
                ]
                for c in stale:
                    del self._actions[c]
                    self._declared.pop(c, None)

    def attribute(self, t: float, extra: float = 0.0, path: str | None = None) -> str | None:
        """The call running at monotonic time ``t`` (latest started), or None.

        ``extra`` widens the grace after an action's end (deletions, see
        ``_process``). When several windows hold ``t`` — an action that just
        ended and the next one, which a change can reach the watcher after
        it started — one that declared it writes ``path`` is preferred.
        """
        held: list[tuple[float, str]] = []
        with self._lock:
            for cid, (start, end) in self._actions.items():
                if start is None or start > t:
                    continue
                if end is not None and t > end + self.grace_s + extra:
                    continue
                held.append((start, cid))
            if path is not None and len(held) > 1:
                declared = [h for h in held if path in self._declared.get(h[1], ())]
                held = declared or held
        return max(held)[1] if held else None

    # -- paths ---------------------------------------------------------------

    def _rel(self, path: str) -> str | None:
        """Workspace-relative path if reportable; None for ignored paths."""
        if path in self._own:
            return None
        try:
            rel = os.path.relpath(path, self.workspace)
        except ValueError:
            return None
        if rel.startswith(".."):
            return None
        parts = rel.split(os.sep)
        if ".git" in parts or any(p in IGNORED_DIRS for p in parts):
            return None
        if rel.endswith(IGNORED_SUFFIXES):
            return None
        return rel

    def _is_ref_path(self, path: str) -> bool:
        if not self._track_refs:
            return False
        try:
            rel = os.path.relpath(path, self.git_dir)
        except ValueError:
            return False
        if rel.startswith(".."):
            return False
        rel = rel.removesuffix(".lock")
        return rel in ("HEAD", "packed-refs") or rel == "refs" or rel.startswith("refs" + os.sep)

    def _scan(self) -> None:
        count = 0
        for dirpath, dirnames, filenames in os.walk(self.workspace):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS and d != ".git"]
            for name in filenames:
                rel = self._rel(os.path.join(dirpath, name))
                if rel is None:
                    continue
                count += 1
                if count > self.max_files:
                    self.errors.append(
                        f"more than {self.max_files} files: later ones have no before-hash"
                    )
                    return
                state = self._state(rel)
                if state is not None:
                    self._hashes[rel] = state[0]
                    if state[2] is not None:
                        self._keep_text(rel, state[2])
        if self._track_refs:
            self._refs = self._read_refs()

    def _state(self, rel: str) -> tuple[str, int, str | None] | None:
        """(hash, size, text-if-small-text) of a file now, or None if it is not a file."""
        path = self.workspace / rel
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                return "symlink:" + hashlib.sha256(target.encode()).hexdigest(), len(target), None
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size <= self.text_cap:
                data = path.read_bytes()
                text: str | None = None
                if b"\x00" not in data[:8192]:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = None
                return hashlib.sha256(data).hexdigest(), len(data), text
            return _sha256_file(path, st.st_size), st.st_size, None
        except OSError:
            return None

    def _keep_text(self, rel: str, text: str) -> None:
        old = self._texts.pop(rel, None)
        if old is not None:
            self._text_bytes -= len(old)
        if len(text) <= self.keep_text_cap and self._text_bytes + len(text) <= self.text_budget:
            self._texts[rel] = text
            self._text_bytes += len(text)

    def _forget_text(self, rel: str) -> None:
        old = self._texts.pop(rel, None)
        if old is not None:
            self._text_bytes -= len(old)

    def _read_refs(self) -> dict[str, str]:
        """HEAD's raw value and every ref's sha (loose refs win over packed ones)."""
        refs: dict[str, str] = {}
        packed = self.git_dir / "packed-refs"
        with contextlib.suppress(OSError):
            for line in packed.read_text().splitlines():
                if line and line[0] not in "#^":
                    sha, _, name = line.partition(" ")
                    refs[name] = sha
        refs_dir = self.git_dir / "refs"
        for dirpath, _dirs, files in os.walk(refs_dir):
            for name in files:
                if name.endswith(".lock"):
                    continue
                p = Path(dirpath) / name
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    value = p.read_text().strip()
                    if value:
                        refs[str(p.relative_to(self.git_dir))] = value
        with contextlib.suppress(OSError):
            refs["HEAD"] = (self.git_dir / "HEAD").read_text().strip()
        return refs

    def _resolve(self, refs: dict[str, str], value: str | None) -> str | None:
        for _ in range(5):
            if value is None or not value.startswith("ref: "):
                return value
            value = refs.get(value[5:])
        return value

    # -- the worker ----------------------------------------------------------

    def _work(self) -> None:
        pending: dict[str, _Seen] = {}
        moves: list[tuple[float, str, str]] = []
        refs_seen: float | None = None
        first: float | None = None
        owner: str | None = None  # the action the current batch belongs to
        last = 0.0
        stopping = False
        while True:
            busy = bool(pending or moves or refs_seen is not None)
            if not busy:
                self._idle.set()
            item: tuple[float, FileSystemEvent] | None | object
            try:
                item = self._q.get(timeout=self.debounce_s if busy else 0.5)
            except queue.Empty:
                item = _NOTHING
            if item is None:
                stopping = True
            elif item is _BOUNDARY:
                # An action is starting: what the batch holds happened before
                # it, so record it now rather than after the debounce, when
                # the new action may have changed the same files again.
                if self._ready.is_set():
                    self._flush_batch(pending, moves, refs_seen)
                    pending, moves, refs_seen, first = {}, [], None, None
                continue
            elif isinstance(item, tuple):
                self._idle.clear()
                t, event = item
                if first is not None and self.attribute(t) != owner and self._ready.is_set():
                    # A change from another action (or from none): record what
                    # the batch holds first, so each change keeps its own
                    # action and two actions' edits of one file are not merged.
                    self._flush_batch(pending, moves, refs_seen)
                    pending, moves, refs_seen, first = {}, [], None, None
                if first is None:
                    first, owner = t, self.attribute(t)
                last = time.monotonic()
                try:
                    refs_hit = self._intake(t, event, pending, moves)
                except Exception as exc:  # noqa: BLE001 - never let one event stop the watcher
                    self.errors.append(f"event {event!r}: {exc}")
                    refs_hit = False
                if refs_hit and refs_seen is None:
                    refs_seen = t
                if not stopping and not self._q.empty():
                    continue
            now = time.monotonic()
            due = first is not None and (
                now - last >= self.debounce_s or now - first >= self.max_batch_s
            )
            if (
                (due or stopping)
                and (pending or moves or refs_seen is not None)
                and self._ready.is_set()
            ):
                self._flush_batch(pending, moves, refs_seen)
                pending, moves, refs_seen, first = {}, [], None, None
            if stopping:
                self._idle.set()
                return

    def _flush_batch(
        self,
        pending: dict[str, _Seen],
        moves: list[tuple[float, str, str]],
        refs_seen: float | None,
    ) -> None:
        if not (pending or moves or refs_seen is not None):
            return
        try:
            self._process(pending, moves, refs_seen)
        except Exception as exc:  # noqa: BLE001 - never let one batch stop the watcher
            self.errors.append(f"processing: {exc}")

    def _intake(
        self,
        t: float,
        event: FileSystemEvent,
        pending: dict[str, _Seen],
        moves: list[tuple[float, str, str]],
    ) -> bool:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if getattr(event, "dest_path", "") else ""
        refs_hit = self._is_ref_path(src) or (bool(dest) and self._is_ref_path(dest))

        def touch(path: str) -> None:
            rel = self._rel(path)
            if rel is not None and rel not in pending:
                pending[rel] = _Seen(t, path)

        if isinstance(event, DirDeletedEvent | DirMovedEvent):
            rel_dir = self._rel(src)
            if rel_dir is not None:
                prefix = rel_dir + os.sep
                for known in [k for k in self._hashes if k.startswith(prefix)]:
                    touch(str(self.workspace / known))
            if isinstance(event, DirMovedEvent) and dest:
                self._touch_tree(dest, touch)
            return refs_hit
        if isinstance(event, DirCreatedEvent):
            self._touch_tree(src, touch)
            return refs_hit
        if event.is_directory:
            return refs_hit
        if dest:
            s, d = self._rel(src), self._rel(dest)
            if s is not None and d is not None:
                moves.append((t, s, d))
            touch(src)
            touch(dest)
        else:
            touch(src)
        return refs_hit

    def _touch_tree(self, root: str, touch: Any) -> None:
        if self._rel(root) is None:
            return
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS]
            for name in filenames:
                touch(os.path.join(dirpath, name))

    def _process(
        self,
        pending: dict[str, _Seen],
        moves: list[tuple[float, str, str]],
        refs_seen: float | None,
    ) -> None:
        unattributed: list[tuple[int, str]] = []

        def emit(t: float, payload: dict[str, Any]) -> None:
            # A file moved out of the workspace is reported by inotify as a
            # deletion only after watchdog gave up waiting for the other half
            # of the move (0.5 s), so a deletion gets that much more grace.
            late = MOVE_PAIRING_DELAY_S if payload.get("change") == "deleted" else 0.0
            call_id = self.attribute(t, late, payload.get("path"))
            payload["call_id"] = call_id
            try:
                seq = self.log.append(self.session_id, "file_changed", payload).seq
            except Exception as exc:  # noqa: BLE001 - a failed log write is the broker's to handle
                self.errors.append(f"cannot record change of {payload.get('path')}: {exc}")
                return
            self.events_logged += 1
            if call_id is None:
                unattributed.append((seq, str(payload.get("path"))))

        for t, src, dest in moves:
            before = self._hashes.get(src)
            if (
                before is None
                or (self.workspace / src).exists()
                or src not in pending
                or dest not in pending
            ):
                continue
            state = self._state(dest)
            if state is None or state[0] != before:
                continue
            del pending[src], pending[dest]
            self._hashes.pop(src, None)
            self._hashes[dest] = state[0]
            text = self._texts.get(src)
            self._forget_text(src)
            if text is not None:
                self._keep_text(dest, text)
            emit(
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

        changes: list[tuple[float, dict[str, Any]]] = []
        for rel, seen in sorted(pending.items(), key=lambda kv: (kv[1].t, kv[0])):
            before = self._hashes.get(rel)
            state = self._state(rel)
            after = state[0] if state else None
            if before == after:
                continue  # a touch, a duplicate event, or created and removed again
            old_text = self._texts.get(rel)
            payload: dict[str, Any] = {"path": rel, "before_hash": before, "after_hash": after}
            if after is None:
                payload.update(change="deleted", size=None)
                self._hashes.pop(rel, None)
                if old_text is not None:
                    payload["diff"] = self._diff(rel, old_text, "", deleted=True)
                self._forget_text(rel)
            else:
                assert state is not None
                payload.update(change="created" if before is None else "modified", size=state[1])
                new_text = state[2]
                if new_text is not None and (before is None or old_text is not None):
                    payload["diff"] = self._diff(
                        rel, old_text or "", new_text, created=before is None
                    )
                self._hashes[rel] = after
                if new_text is not None:
                    self._keep_text(rel, new_text)
                else:
                    self._forget_text(rel)
            changes.append((seen.t, payload))
        for t, payload in self._pair_moves(changes):
            emit(t, payload)

        if refs_seen is not None:
            self._process_refs(refs_seen, emit)

        if unattributed:
            paths = [p for _, p in unattributed]
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            with contextlib.suppress(Exception):
                self.log.append(
                    self.session_id,
                    "flag_raised",
                    {
                        "flag": "out_of_band",
                        "reason": f"the workspace changed while no action was running: {shown}",
                        "evidence": [seq for seq, _ in unattributed],
                        "call_id": None,
                        "details": {"paths": paths},
                    },
                )

    @staticmethod
    def _pair_moves(
        changes: list[tuple[float, dict[str, Any]]],
    ) -> list[tuple[float, dict[str, Any]]]:
        """A deletion and a creation of the same content in one batch are a move
        (inotify reports a move between two watched trees as exactly that)."""
        created: dict[str, int] = {}
        for i, (_t, p) in enumerate(changes):
            if p["change"] == "created" and p["after_hash"]:
                created.setdefault(p["after_hash"], i)
        merged: set[int] = set()
        out: list[tuple[float, dict[str, Any]]] = []
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

    def _process_refs(self, t: float, emit: Any) -> None:
        new = self._read_refs()
        old = self._refs
        self._refs = new
        for name in sorted(set(old) | set(new)):
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            payload: dict[str, Any] = {"path": name, "change": "ref"}
            if name == "HEAD":
                # HEAD names a branch: only a switch is news (a commit moves the branch ref).
                payload["before_hash"] = self._resolve(old, before)
                payload["after_hash"] = self._resolve(new, after)
                payload["diff"] = f"HEAD: {before} -> {after}"
            else:
                payload["before_hash"], payload["after_hash"] = before, after
            emit(t, payload)

    def _diff(
        self, rel: str, old: str, new: str, *, created: bool = False, deleted: bool = False
    ) -> str:
        lines = textdiff.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile="/dev/null" if created else f"a/{rel}",
            tofile="/dev/null" if deleted else f"b/{rel}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return _cut(text, self.diff_cap)


def watch(log: AuditLog, session_id: str, workspace: str | Path, **options: Any) -> Watcher:
    """Create and start a watcher."""
    return Watcher(log, session_id, workspace, **options).start()


def changed_paths(events: Iterable[dict[str, Any]]) -> list[str]:
    """The paths of ``file_changed`` payloads, in order (a helper for reports)."""
    return [e["path"] for e in events if e.get("change") != "ref"]
