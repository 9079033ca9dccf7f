"""The ``Watcher``: one session's workspace observed, every change recorded
as ``file_changed`` and attributed to an action.

It puts the parts together: the observer (``observer``) queues timestamped
events; a worker thread collects them into batches, debounced (an editor's
save or a ``>`` redirect produce several inotify events) and cut at every
action boundary; ``ChangeFinder`` (``changes``) turns a settled batch into
changes; ``Attribution`` (``attribution``), fed from the log as the broker
records each action, says whose each change is. The worker appends the
events and, for changes no action owns, raises ``flag_raised``
``out_of_band``. Nothing it does is on a tool call's critical path.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import Any

from ..log import AuditLog
from .attribution import NOTED_KINDS, Attribution
from .changes import Batch, Change, ChangeFinder
from .files import FileStates
from .observer import Queued, observe
from .paths import WorkspacePaths

_NOTHING = object()
_BOUNDARY = object()  # queued when an action starts: flush the batch
MOVE_PAIRING_DELAY_S = 0.6  # watchdog's InotifyBuffer holds an unpaired move-from 0.5 s


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
        self.debounce_s = debounce_s
        self.max_batch_s = max_batch_s
        self.paths = WorkspacePaths(self.workspace, log.path)
        self.files = FileStates(
            self.workspace,
            text_cap=text_cap,
            keep_text_cap=keep_text_cap,
            text_budget=text_budget,
            diff_cap=diff_cap,
            max_files=max_files,
        )
        self.finder = ChangeFinder(self.paths, self.files)
        self.attribution = Attribution(str(self.workspace), self.paths.rel, grace_s)
        # (time, event), _BOUNDARY when an action starts, None to stop
        self._q: queue.Queue[Queued] = queue.Queue()
        self._observer: Any = None
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._ready = threading.Event()
        self._running = False
        self.errors: list[str] = []  # kept, not raised: the watcher must not break the session
        self.events_logged = 0

    @property
    def grace_s(self) -> float:
        return self.attribution.grace_s

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Watcher:
        if self._running:
            return self
        self._running = True
        self.log.subscribe(self._on_log_event)
        self._observer = observe(self.workspace, self._q)
        self._worker = threading.Thread(
            target=self._work, name=f"watcher-{self.session_id}", daemon=True
        )
        self._worker.start()
        # The observer runs first so nothing written while the cache is built is lost.
        self.finder.scan(self.errors)
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
        """The log's hook, called in the appending thread: keep it short."""
        if session_id != self.session_id or kind not in NOTED_KINDS:
            return
        call_id = payload.get("call_id")
        if not call_id:
            return
        if kind == "policy_decided":
            self.attribution.declare(call_id, payload.get("facts"))
            return
        now = time.monotonic()
        if kind == "action_started":
            # A boundary flushes the batch the worker holds; when it holds none
            # (idle, nothing queued) waking it would only cost this call time.
            if not (self._idle.is_set() and self._q.empty()):
                self._q.put(_BOUNDARY)
            self.attribution.started(call_id, now)
        else:
            self.attribution.finished(call_id, now)

    def attribute(self, t: float, extra: float = 0.0, path: str | None = None) -> str | None:
        """The call running at monotonic time ``t`` (see ``Attribution.attribute``)."""
        return self.attribution.attribute(t, extra, path)

    # -- the worker ----------------------------------------------------------

    def _work(self) -> None:
        batch = Batch()
        last = 0.0
        stopping = False
        while True:
            busy = batch.holds()
            if not busy:
                self._idle.set()
            item: Queued
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
                    self._flush_batch(batch)
                    batch = Batch()
                continue
            elif isinstance(item, tuple):
                self._idle.clear()
                t, event = item
                if (
                    batch.first is not None
                    and self.attribute(t) != batch.owner
                    and self._ready.is_set()
                ):
                    # A change from another action (or from none): record what
                    # the batch holds first, so each change keeps its own
                    # action and two actions' edits of one file are not merged.
                    self._flush_batch(batch)
                    batch = Batch()
                if batch.first is None:
                    batch.first, batch.owner = t, self.attribute(t)
                last = time.monotonic()
                try:
                    self.finder.intake(batch, t, event)
                except Exception as exc:  # noqa: BLE001 - never let one event stop the watcher
                    self.errors.append(f"event {event!r}: {exc}")
                if not stopping and not self._q.empty():
                    continue
            now = time.monotonic()
            due = batch.first is not None and (
                now - last >= self.debounce_s or now - batch.first >= self.max_batch_s
            )
            if (due or stopping) and batch.holds() and self._ready.is_set():
                self._flush_batch(batch)
                batch = Batch()
            if stopping:
                self._idle.set()
                return

    def _flush_batch(self, batch: Batch) -> None:
        if not batch.holds():
            return
        try:
            self._record(self.finder.settle(batch))
        except Exception as exc:  # noqa: BLE001 - never let one batch stop the watcher
            self.errors.append(f"processing: {exc}")

    def _record(self, changes: list[Change]) -> None:
        """Append each change with its action; flag the ones no action owns."""
        unattributed: list[tuple[int, str]] = []
        for t, payload in changes:
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
                continue
            self.events_logged += 1
            if call_id is None:
                unattributed.append((seq, str(payload.get("path"))))
        if not unattributed:
            return
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
