"""``FlagObserver``: a detector running beside a live session, and reading
a file's content as the detectors need it (now, and at the session's start)."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .detector import FlagDetector
from .model import MAX_FILE, Flag
from .novelty import workspace_history


def git_before(workspace: Path, ref: str | None) -> Callable[[Path], str | None]:
    """A file's content at the session's start, from its git snapshot or head."""

    def read(path: Path) -> str | None:
        if not ref:
            return None
        try:
            rel = path.relative_to(workspace).as_posix()
            res = subprocess.run(
                ["git", "show", f"{ref}:{rel}"], cwd=workspace, capture_output=True, timeout=10
            )
        except (ValueError, OSError, subprocess.TimeoutExpired):
            return None
        if res.returncode != 0 or len(res.stdout) > MAX_FILE:
            return None
        return res.stdout.decode("utf-8", "replace")

    return read


def read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return None


# Records reach the worker in batches: a batch goes at once when the worker is
# parked (nothing recorded for a while), and the worker, once woken, gathers
# what is recorded over the next GATHER_S before it looks again. Waking it for
# every record (or every call) made it trade the interpreter lock with the
# appending thread several times a call; a flag now waits at most GATHER_S.
GATHER_S = 0.02


class FlagObserver:
    """Raises flags beside a running session (see the module docstring)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.log = session.log
        self.sid: str = session.id
        ws = Path(session.workspace)
        started = next(iter(self.log.events(self.sid, kinds=["session_started"])), None)
        sp = started.payload if started else {}
        self.detector = FlagDetector(
            ws,
            read=read_text,
            before=git_before(ws, sp.get("snapshot_ref") or sp.get("git_head")),
            history=lambda: self._history(str(sp.get("workspace") or ws)),
        )
        # Batches of items for the worker; None stops it.
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue()
        self._held: list[tuple[Any, ...]] = []  # items waiting to go with the next batch
        self._held_lock = threading.Lock()
        self._parked = True  # the worker waits on the queue: the next item must wake it
        self._nudge = threading.Event()  # a sync or stop is queued: stop gathering
        self._failed = False
        self._writes: dict[str, Path] = {}  # call_id -> test-related file a running write touches
        self._thread = threading.Thread(target=self._work, name=f"flags-{self.sid}", daemon=True)
        self._thread.start()
        self.log.subscribe(self._on_event)

    def _history(self, workspace: str) -> tuple[set[str], set[str]] | None:
        # Read through a handle of its own: this runs in the detector's thread.
        with self.log.reader() as store:
            return workspace_history(store, self.sid, workspace)

    # Called by the log in the appending thread: copy, never analyse here.
    def _on_event(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if session_id != self.sid or kind in ("seal", "flag_raised"):
            return
        if kind == "session_ended":
            # Session.end judged the claims already (session_ending); this is
            # for a session ended some other way: judge them now, before its seal.
            if not self.detector.claims_done:
                self._drain()
                for flag in self.detector.claims(str(payload.get("final") or ""), seq):
                    self._raise(flag)
            return
        cid = str(payload.get("call_id"))
        if kind == "action_started":
            path = self.detector.watched(str(payload.get("tool") or ""), payload.get("args"))
            if path is not None:
                # The tool runs as soon as this returns: read the file now, not later.
                self._writes[cid] = path
                self._send(("before", cid, path, read_text(path)))
        elif kind == "action_finished" and cid in self._writes:
            path = self._writes.pop(cid)
            if payload.get("status") == "ok":
                self._send(("after", cid, path, read_text(path), seq))
        self._send(("event", seq, kind, payload))

    def _send(self, item: tuple[Any, ...], wake: bool = False) -> None:
        """Hand ``item`` to the worker, with whatever is held. It goes at once
        when ``wake`` or the worker is parked; otherwise the gathering worker
        takes it within GATHER_S. (Queued under the lock: batches keep the
        order items were sent in, whichever thread sent them.)"""
        with self._held_lock:
            self._held.append(item)
            if not (wake or self._parked):
                return
            self._parked = False
            batch, self._held = self._held, []
            self._queue.put(batch)
        if wake:
            self._nudge.set()

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                self._handle_all(batch)
            finally:
                self._queue.task_done()
            self._gather()

    def _gather(self) -> None:
        """Take what is held every GATHER_S until nothing more comes (then
        park) or something is queued (a sync, the stop: the queue goes first)."""
        while True:
            self._nudge.wait(GATHER_S)
            with self._held_lock:
                self._nudge.clear()  # (a stale one costs one early look, never a spin)
                if not self._queue.empty():
                    return
                if not self._held:
                    self._parked = True
                    return
                batch, self._held = self._held, []
            self._handle_all(batch)

    def _handle_all(self, batch: list[tuple[Any, ...]]) -> None:
        for item in batch:
            self._handle_safely(item)

    def _handle_safely(self, item: tuple[Any, ...]) -> None:
        try:
            self._handle(item)
        except Exception as exc:  # noqa: BLE001 - a detector bug must not stop the session
            if not self._failed:
                self._failed = True
                with contextlib.suppress(Exception):
                    self.log.append(
                        self.sid,
                        "notice",
                        {"topic": "flags", "message": f"flag detection failed: {exc!r}"},
                    )

    def _handle(self, item: tuple[Any, ...]) -> None:
        what = item[0]
        flags: list[Flag] = []
        if what == "event":
            _, seq, kind, payload = item
            flags = self.detector.feed(seq, kind, payload)
        elif what == "before":
            self.detector.note_before(item[1], item[2], item[3])
        elif what == "after":
            _, cid, path, content, seq = item
            if (cid, path) not in self.detector.analyzed:
                flags = self.detector.note_after(cid, path, content, seq)
        elif what == "sync":
            item[1].set()
        for flag in flags:
            self._raise(flag)

    def _raise(self, flag: Flag) -> None:
        self.log.append(self.sid, "flag_raised", flag.payload())

    def _drain(self, timeout: float = 30.0) -> None:
        done = threading.Event()
        self._send(("sync", done), wake=True)
        done.wait(timeout)

    def session_ending(self, status: str, final: str) -> None:
        """Called by ``Session.end`` before ``session_ended`` is recorded."""
        self._drain()
        for flag in self.detector.claims(final):
            self._raise(flag)

    def stop(self) -> None:
        self._drain()
        self.log.unsubscribe(self._on_event)
        with self._held_lock:
            self._queue.put(None)
        self._nudge.set()
        self._thread.join(timeout=10)
        try:  # index the session for search now, off the append path
            self.log.prepare_search()
        except Exception:  # noqa: BLE001, S110 - search catches up itself later
            pass


def make_observer(session: Any) -> FlagObserver:
    return FlagObserver(session)


def install() -> None:
    """Start a flag observer with every session (idempotent)."""
    from ...registry import SESSION_OBSERVERS

    if make_observer not in SESSION_OBSERVERS:
        SESSION_OBSERVERS.append(make_observer)
