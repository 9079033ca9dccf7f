"""Headless event lines: every recorded event as one line on stderr.

Printing happens in a thread of its own: formatting and writing a line cost
a call ~0.1 ms each, four lines a call, and the appending thread is the
agent's, waiting to run its next action. The printer takes events in the
order they were recorded and writes them in that order; before an approval
request or a question the agent waits on, and when the session ends, it
catches up first, so a prompt on the same terminal comes after the lines
that led to it.

With a prompt on this terminal (the console approver), lines recorded while
the person is answering — a file change the watcher noticed, a background
seal — are held until the answer is recorded, so they do not land in the
middle of the prompt; they are printed then, still in record order.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import click

from ..render import describe

# The agent waits on these: everything recorded before them is printed first.
_CATCH_UP = frozenset({"approval_requested", "question_asked", "session_ended"})
# A prompt on the terminal is open from the first kind to the second.
_PROMPT_ENDS = {"approval_requested": "approval_decided", "question_asked": "question_answered"}

Item = tuple[str, int, str, dict[str, Any]]


class HeadlessPrinter:
    """A log subscriber (``log.subscribe(printer)``) printing off the hot path.

    ``prompts``: the person answers on this terminal, so lines recorded while
    a prompt is open wait for its answer.
    """

    def __init__(self, *, prompts: bool = False) -> None:
        self.prompts = prompts
        self._queue: queue.Queue[Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="headless-printer", daemon=True)
        self._thread.start()

    def __call__(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if kind == "seal":
            return
        self._queue.put((session_id, seq, kind, payload))
        if kind in _CATCH_UP:
            self.drain()

    def drain(self) -> None:
        """Return once every event handed over so far is printed (or held
        for an open prompt)."""
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        held: list[Item] = []
        awaiting: str | None = None  # the record that closes the open prompt
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    for line in held:
                        _print(line)
                    return
                kind = item[2]
                if awaiting is not None and kind not in (awaiting, "session_ended"):
                    held.append(item)
                    continue
                if awaiting is not None:
                    for line in held:
                        _print(line)
                    _print(item)
                    held, awaiting = [], None
                    continue
                _print(item)
                if self.prompts and kind in _PROMPT_ENDS:
                    awaiting = _PROMPT_ENDS[kind]
            finally:
                self._queue.task_done()


def _print(item: Item) -> None:
    session_id, seq, kind, payload = item
    try:
        click.echo(f"[{session_id[:8]} {seq:4}] {describe(kind, payload)}", err=True)
    except Exception:  # noqa: BLE001 - a line that cannot be printed must not stop the rest
        pass
