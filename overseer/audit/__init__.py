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
    "report",
    "search",
    "verify_prunes",
]

REPORT_FORMATS = ("html", "md")


def report(log: EventStore, session_id: str, fmt: str) -> tuple[str, SessionRecord]:
    """A session's report for people — ``html`` (one self-contained page) or
    ``md`` (Markdown) — and the verified record it was made from (its
    ``verify`` says whether the chain held). Writing it somewhere is the
    caller's (the CLI's ``export``)."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"no report format {fmt!r}; one of {', '.join(REPORT_FORMATS)}")
    rec = load_session(log, session_id, verify=True)
    if fmt == "html":
        from .html import render_html

        return render_html(rec), rec
    from .markdown import render_markdown

    return render_markdown(rec), rec


def export_html(log: EventStore, session_id: str) -> str:
    """A session as one self-contained HTML page."""
    return report(log, session_id, "html")[0]


def export_markdown(log: EventStore, session_id: str) -> str:
    """A session as Markdown."""
    return report(log, session_id, "md")[0]
