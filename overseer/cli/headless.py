"""Headless event lines: every recorded event as one line on stderr.

Lines are written by the thread that recorded the event, as the log hands it
over: formatting and writing one costs ~10 µs (measured: ``describe`` 3–11 µs,
the write ~1 µs), where handing it to a printer thread cost the agent's
thread ~0.4 ms a call in wake-ups and interpreter-lock hand-offs (four lines
a call, each one waking the thread). Written at once, a line is on the
terminal before the agent acts on what it describes, and everything recorded
before an approval request or a question is shown before the prompt.

With a prompt on this terminal (the console approver), lines recorded while
the person is answering — a file change the watcher noticed, a background
seal — are held until the answer is recorded, so they do not land in the
middle of the prompt; they are printed then, still in record order.

A terminal that stops reading (a paused ``ssh``, a full pipe nobody reads)
holds the agent up here, like any program that writes what it does.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from ..render import describe

# A prompt on the terminal is open from the first kind to the second.
_PROMPT_ENDS = {"approval_requested": "approval_decided", "question_asked": "question_answered"}

Item = tuple[str, int, str, dict[str, Any]]


class HeadlessPrinter:
    """A log subscriber (``log.subscribe(printer)``) printing each event's line.

    ``prompts``: the person answers on this terminal, so lines recorded while
    a prompt is open wait for its answer.
    """

    def __init__(self, *, prompts: bool = False) -> None:
        self.prompts = prompts
        # Events are recorded by more than one thread (the agent's, the
        # watcher's, the sealer's): one line at a time, none torn.
        self._lock = threading.Lock()
        self._held: list[Item] = []
        self._awaiting: str | None = None  # the record that closes the open prompt

    def __call__(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if kind == "seal":
            return
        item = (session_id, seq, kind, payload)
        with self._lock:
            if self._awaiting is not None:
                if kind not in (self._awaiting, "session_ended"):
                    self._held.append(item)
                    return
                held, self._held, self._awaiting = self._held, [], None
                _write([*held, item])
                return
            _write([item])
            if self.prompts and kind in _PROMPT_ENDS:
                self._awaiting = _PROMPT_ENDS[kind]

    def drain(self) -> None:
        """Every line handed over so far is written (or held for an open
        prompt) when the call that handed it over returns: nothing to wait for."""

    def close(self) -> None:
        with self._lock:
            held, self._held, self._awaiting = self._held, [], None
            _write(held)


def _write(items: list[Item]) -> None:
    text = "".join(_line(item) for item in items)
    if not text:
        return
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stderr must not stop the session
        pass


def _line(item: Item) -> str:
    session_id, seq, kind, payload = item
    try:
        text = describe(kind, payload)
    except Exception:  # noqa: BLE001 - a line that cannot be formatted must not stop the rest
        return ""
    if not text.isprintable():
        # Agent and tool text reach the terminal: no escape sequence in it
        # may drive the terminal, and no newline may split the event's line.
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return f"[{session_id[:8]} {seq:4}] {text}\n"
