"""What a ``--log`` location names: a team store on PostgreSQL (a
``postgresql://`` or ``postgres://`` URL) or a local SQLite file, and a
store URL fit for messages. A leaf module: the factory and the PostgreSQL
store both use it, and neither imports the other through it."""

from __future__ import annotations

from pathlib import Path

STORE_SCHEMES = ("postgresql://", "postgres://")


def is_store_url(location: str | Path | None) -> bool:
    """Whether ``location`` names a team store rather than a local file."""
    return isinstance(location, str) and location.lower().startswith(STORE_SCHEMES)


def redact_url(url: str) -> str:
    """A store URL fit for messages: any password replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable store URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
