"""Headless event lines: every recorded event as one line on stderr.

Printing happens in a thread of its own: formatting and writing a line cost
a call ~0.1 ms each, four lines a call, and the appending thread is the
agent's, waiting to run its next action. The printer takes events in the
order they were recorded and writes them in that order; before an approval
request or a question the agent waits on, and when the session ends, it
catches up first, so a prompt on the same terminal comes after the lines
that led to it.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import click

from ..render import describe

# The agent waits on these: everything recorded before them is printed first.
_CATCH_UP = frozenset({"approval_requested", "question_asked", "session_ended"})


class HeadlessPrinter:
    """A log subscriber (``log.subscribe(printer)``) printing off the hot path."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, int, str, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="headless-printer", daemon=True)
        self._thread.start()

    def __call__(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if kind == "seal":
            return
        self._queue.put((session_id, seq, kind, payload))
        if kind in _CATCH_UP:
            self.drain()

    def drain(self) -> None:
        """Return once every event handed over so far is printed."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._queue.join()

    def close(self) -> None:
        self.drain()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                session_id, seq, kind, payload = item
                click.echo(f"[{session_id[:8]} {seq:4}] {describe(kind, payload)}", err=True)
            except Exception:  # noqa: BLE001 - a line that cannot be printed must not stop the rest
                pass
            finally:
                self._queue.task_done()
