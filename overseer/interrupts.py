"""Signals end a session cleanly: SIGINT (Ctrl-C), SIGTERM (``docker stop``,
``timeout``, CI time-outs) and SIGHUP (the terminal closed).

``session_signals(session)`` installs handlers for the three while a session
runs in this process's main thread. On the first signal:

1. ``session.interrupt(name)``: no further action runs (the broker answers
   ``terminated``), the agent stops at its next step, and a model call in
   flight is abandoned within a tenth of a second. Nothing is written to the
   log from the handler: the code it interrupted may be half-way through a
   write.
2. The running action is ended: every process group this process started
   (the persistent shell's foreground job, a test run) gets SIGTERM, wherever
   the thread that waits on it is; the action is recorded as it ended
   (``exit 143``).
3. If the main thread itself is inside an action (the script and bisect
   agents run their tools there), ``KeyboardInterrupt`` is raised in it — but
   only inside the agent's run, and never inside the log's code or
   ``Session.end``; a follow-up thread tries again for two seconds (and
   re-sends SIGTERM to actions that started meanwhile), then unwinds an agent
   that has still not stopped by itself.

``run_agent`` then records ``session_ended`` as ``terminated`` with the
signal, seals it, and the CLI exits 128 + the signal's number (130, 143, 129).
A second signal before the end SIGKILLs the child process groups; once
``Session.end`` has started, further signals only print a line: the closing
records are never cut short, so a session is never left half-written.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from .broker.run import run_once
from .session import Session, _run_guarded

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How soon a raise that had to wait for a log write is tried again.
RETRY_S = 0.05

_LOG_DIR = str(Path(__file__).resolve().parent / "log")
_SESSION_FILE = str(Path(__file__).resolve().parent / "session.py")


def child_process_groups() -> set[int]:
    """Process groups of this process's descendants, other than its own."""
    me = os.getpid()
    parents: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read().decode("ascii", "replace")
                # The name field may hold spaces and parentheses: split after the last ')'.
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    groups: set[int] = set()
    todo, seen = list(parents.get(me, [])), set()
    own = os.getpgrp()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError):
            pgid = os.getpgid(pid)
            if pgid != own:
                groups.add(pgid)
        todo.extend(parents.get(pid, []))
    return groups


def signal_children(sig: int) -> int:
    """Send ``sig`` to every child process group; how many were signalled."""
    n = 0
    for pgid in child_process_groups():
        with contextlib.suppress(OSError):
            os.killpg(pgid, sig)
            n += 1
    return n


def _safe_to_raise(frame: FrameType | None) -> bool:
    """Inside the agent's run (below ``_run_guarded``), outside the log and ``Session.end``."""
    inside_run = False
    f = frame
    innermost = True
    while f is not None:
        code = f.f_code
        if code.co_filename.startswith(_LOG_DIR):
            return False
        if code is _run_guarded.__code__:
            # Raising in _run_guarded's own frame could escape its try.
            inside_run = not innermost
            break
        if code.co_filename == _SESSION_FILE and code.co_name == "end":
            return False
        innermost = False
        f = f.f_back
    return inside_run


def _in_action(frame: FrameType | None) -> bool:
    """The frame is inside the broker running a tool."""
    f = frame
    while f is not None:
        if f.f_code is run_once.__code__:
            return True
        f = f.f_back
    return False


class SignalGuard:
    """The handlers of one session; see the module docstring."""

    def __init__(self, session: Session, on_signal: Callable[[], None] | None = None) -> None:
        self.session = session
        self.on_signal = on_signal  # e.g. the live UI: leave, the terminal may be gone
        self.count = 0
        self.signum: int | None = None
        self._retrying = False
        self._last_resort = False
        self._saved: dict[int, Any] = {}

    def install(self) -> None:
        for sig in HANDLED:
            with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to do
                self._saved[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, old in self._saved.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, old)
        self._saved.clear()

    def _say(self, text: str) -> None:
        with contextlib.suppress(Exception):
            os.write(sys.stderr.fileno(), f"overseer: {text}\n".encode())

    def _over(self) -> bool:
        return self.session.ending or self.session.ended

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        s = self.session
        if self._retrying:  # our own nudge (see _follow_up), not a new signal
            self._retrying = False
        elif self._over():
            name = signal.Signals(signum).name
            self._say(f"{name}: the session's last records are being written; one moment")
            return
        else:
            self.count += 1
            if self.count == 1:
                self.signum = signum
                s.interrupt(signal.Signals(signum).name)
                self._say(f"{s.interrupted}: stopping session {s.id}; the record is kept")
                signal_children(signal.SIGTERM)
                if self.on_signal is not None:
                    with contextlib.suppress(Exception):
                        self.on_signal()
                threading.Thread(
                    target=self._follow_up, name="signal-follow-up", daemon=True
                ).start()
            else:
                signal_children(signal.SIGKILL)
        if self._over():
            return
        # Raise only where it is needed (an action running in the main thread;
        # or an agent that did not stop by itself within the follow-up), and
        # only where it is safe.
        if (_in_action(frame) or self._last_resort) and _safe_to_raise(frame):
            raise KeyboardInterrupt(s.interrupted)

    def _follow_up(self) -> None:
        """For two seconds after the signal: end actions that started after it,
        and raise in the main thread once it is safely inside an action."""
        for delay in (RETRY_S, 0.15, 0.3, 0.5, 1.0):
            threading.Event().wait(delay)
            if self._over():
                return
            signal_children(signal.SIGTERM)
            main = sys._current_frames().get(threading.main_thread().ident or -1)
            if _in_action(main) and self.signum is not None:
                self._retrying = True
                _thread.interrupt_main(signal.Signals(self.signum))
        if not self._over() and self.signum is not None:
            # The agent has not stopped by itself: unwind it.
            self._last_resort = self._retrying = True
            _thread.interrupt_main(signal.Signals(self.signum))


@contextlib.contextmanager
def session_signals(
    session: Session, on_signal: Callable[[], None] | None = None
) -> Iterator[SignalGuard]:
    """Handle SIGINT, SIGTERM and SIGHUP as an interruption of ``session``;
    ``on_signal()`` is called (in the main thread) on the first one."""
    guard = SignalGuard(session, on_signal)
    if threading.current_thread() is threading.main_thread():
        guard.install()
    try:
        yield guard
    finally:
        guard.restore()
