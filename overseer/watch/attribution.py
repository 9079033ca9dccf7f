"""Which action a file change belongs to.

Fed the session's ``policy_decided``, ``action_started`` and
``action_finished`` records as they are appended, it keeps each action's
window (start .. end + ``grace_s``) on the monotonic clock and the paths its
facts declared it writes. A change seen at ``t`` belongs to the action whose
window holds ``t``; with several (parallel calls, or a change that reached
the watcher just after the next action started), the one that declared the
path, else the latest started. None means no action was running: the
change is out of band.

Pure bookkeeping: no file system, no thread of its own, so it can be driven
with made-up times.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

ACTION_KINDS = ("action_started", "action_finished")
# policy_decided carries the paths an action declared it writes (its facts).
NOTED_KINDS = frozenset({*ACTION_KINDS, "policy_decided"})
KEEP_CLOSED_S = 60.0  # a window closed this long ago is forgotten
PRUNE_EVERY_S = 5.0
PRUNE_ABOVE = 256  # windows kept before pruning is worth its cost


class Attribution:
    """Action windows and declared writes of one session. Thread-safe."""

    def __init__(
        self, workspace: str, rel: Callable[[str], str | None], grace_s: float = 0.3
    ) -> None:
        self.workspace = workspace
        self.rel = rel  # absolute path -> reportable relative path (or None)
        self.grace_s = grace_s
        self._actions: dict[str, list[float | None]] = {}  # call_id -> [start, end]
        self._declared: dict[str, set[str]] = {}  # call_id -> paths its facts say it writes
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    def declare(self, call_id: str, facts: dict[str, Any] | None) -> None:
        """Note the paths a ``policy_decided`` record's facts say the call writes."""
        writes = (facts or {}).get("writes") or ()
        declared = {
            r
            for w in writes
            if isinstance(w, str) and (r := self.rel(os.path.join(self.workspace, w)))
        }
        if declared:
            with self._lock:
                self._declared[call_id] = declared

    def started(self, call_id: str, now: float) -> None:
        with self._lock:
            self._actions[call_id] = [now, None]
            self._prune(now)

    def finished(self, call_id: str, now: float) -> None:
        with self._lock:
            self._actions.setdefault(call_id, [now, None])[1] = now
            self._prune(now)

    def _prune(self, now: float) -> None:
        # Forget windows closed long ago (a long session makes thousands);
        # only now and then, so a call does not pay for the whole history.
        if len(self._actions) > PRUNE_ABOVE and now - self._pruned_at > PRUNE_EVERY_S:
            self._pruned_at = now
            stale = [
                c
                for c, (_s, e) in self._actions.items()
                if e is not None and now - e > KEEP_CLOSED_S
            ]
            for c in stale:
                del self._actions[c]
                self._declared.pop(c, None)

    def attribute(self, t: float, extra: float = 0.0, path: str | None = None) -> str | None:
        """The call running at monotonic time ``t`` (latest started), or None.

        ``extra`` widens the grace after an action's end (deletions reach
        the watcher late). When several windows hold ``t``, one that declared
        it writes ``path`` is preferred.
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
