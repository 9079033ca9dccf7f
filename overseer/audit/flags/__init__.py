"""Oversight flags: behaviours oversight exists to catch, raised live.

A ``FlagDetector`` reads a session's events in order and says which flags
they raise; it is pure bookkeeping over events (plus file contents handed to
it), so the same code runs live and over a recorded session:

- ``reward_hacking``: an edit that weakens tests instead of fixing code
  (see ``testdiff``), from ``write_file``/``edit_file`` actions and from
  ``file_changed`` events (a shell command editing a test counts too);
- ``unsupported_claim``: the final report claims tests pass, a fix, or a
  first bad commit that the log does not support;
- ``novel_action``: a tool or a command's program never used in earlier
  sessions of the same workspace (only once the workspace has a history:
  in its first session everything would be new, and a flag on everything
  is a flag nobody reads);
- ``out_of_band`` flags come from the file watcher; they are only listed.

``FlagObserver`` runs a detector beside a live session (registered in
``overseer.registry.SESSION_OBSERVERS``): the log calls it in the appending
thread after each durable append, so it only copies the event (and, for edits
of test files, the file's content just before and after — that cannot wait, the tool runs
right after ``action_started``) onto a queue; a background thread does the
analysis and appends ``flag_raised``. Claims are judged when the session
ends, before ``session_ended`` is written, so the flags reach the final
report's evidence summary.
"""

from __future__ import annotations

from .detector import FlagDetector, detect
from .model import FLAG_KINDS, Flag
from .novelty import action_programs, programs, workspace_history
from .observer import FlagObserver, git_before, install, make_observer, read_text

__all__ = [
    "FLAG_KINDS",
    "Flag",
    "FlagDetector",
    "FlagObserver",
    "action_programs",
    "detect",
    "git_before",
    "install",
    "make_observer",
    "programs",
    "read_text",
    "workspace_history",
]
