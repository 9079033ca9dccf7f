"""Auditor tools over the log: shareable reports (HTML, Markdown), the
counterfactual policy audit, search across sessions and oversight flags.
Retention (``prune``) is a log operation (``overseer.log.prune``), re-exported
here for the auditor. Importing this package starts the flag observer with
every session (``overseer.registry.SESSION_OBSERVERS``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..log.prune import PruneResult, prune
from ..log.verify import verify_prunes
from .counterfactual import AuditResult, Change, audit_session, load_policy_ref
from .flags import FLAG_KINDS, Flag, FlagDetector, FlagObserver, detect, install
from .search import Hit, search
from .timeline import Action, SessionRecord, load_session

if TYPE_CHECKING:
    from ..log import EventStore

install()

__all__ = [
    "FLAG_KINDS",
    "Action",
    "AuditResult",
    "Change",
    "Flag",
    "FlagDetector",
    "FlagObserver",
    "Hit",
    "PruneResult",
    "SessionRecord",
    "audit_session",
    "detect",
    "export_html",
    "export_markdown",
    "install",
    "load_policy_ref",
    "load_session",
    "prune",
    "search",
    "verify_prunes",
]


def export_html(log: EventStore, session_id: str) -> str:
    """A session as one self-contained HTML page."""
    from .html import render_html

    return render_html(load_session(log, session_id, verify=True))


def export_markdown(log: EventStore, session_id: str) -> str:
    """A session as Markdown."""
    from .markdown import render_markdown

    return render_markdown(load_session(log, session_id, verify=True))
