"""Open the event store a path or URL names.

A ``postgresql://`` (or ``postgres://``) URL names a team store on
PostgreSQL; anything else is the path of a local SQLite log. This is the
one place that tells them apart: callers get an ``EventStore`` and use it
the same way whichever it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from .base import EventStore
from .locations import is_store_url, redact_url

if TYPE_CHECKING:
    from .pg_store import PgStore


def open_store(location: str | Path | None = None, *, create: bool = False) -> EventStore:
    """The store at ``location`` (default: the local log, created on first use).

    A local path must name an existing log unless ``create``; a team store
    is created and migrated by overseer itself on first use.
    """
    if is_store_url(location):
        from .pg_store import PgStore

        return PgStore(str(location))
    from .store import AuditLog

    path = Path(location).expanduser() if location else None
    return AuditLog(path, create=create or path is None)


def open_team_store(conninfo: str) -> PgStore:
    """The team store a connection string names (``--ship``, ``ship --to``:
    a ``postgresql://`` URL or any other libpq form)."""
    from .pg_store import PgStore

    return PgStore(conninfo)


def local_log_path(location: str | Path | None, what: str) -> Path | None:
    """The local log file for something only a local log can do (run a
    session, import, prune, undo); a store URL is a usage error saying so."""
    if is_store_url(location):
        raise UsageError(
            f"{what} needs a local audit log, not the team store {redact_url(str(location))}; "
            "give --log PATH (a run ships to a store with --ship URL)"
        )
    return Path(location).expanduser() if location else None
