"""overseer's terminal UI (Textual): the live app, attach, and replay.

- ``run_live(open_session, agent)`` runs an agent under the live app (what
  ``overseer run`` / ``bisect`` / ``demo`` call in a terminal);
- ``TuiApprover`` is the approver whose decisions come from the app;
- ``attach_app(log, session_id)`` follows a session running elsewhere;
- ``ReplayApp`` walks a recorded session read-only, over an ``EventIndex``.

Core never imports this package; the CLI imports it lazily.
"""

from __future__ import annotations

from .approver import TuiApprover
from .attach import Attached, attach_app
from .index import EventIndex
from .live import LiveApp, LocalRun, run_live
from .replay import ReplayApp

__all__ = [
    "Attached",
    "EventIndex",
    "LiveApp",
    "LocalRun",
    "ReplayApp",
    "TuiApprover",
    "attach_app",
    "run_live",
]
