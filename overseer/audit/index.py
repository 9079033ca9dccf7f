"""The full-text index now lives with the log (overseer.log.fts): the
stores own how their events are searched. Kept so older imports work."""

from __future__ import annotations

from ..log.fts import (
    INDEXED,
    KINDS_SQL,
    TABLE,
    WATERMARK,
    body_sql,
    catch_up,
    forget_sessions,
    fts_query,
    watermark,
)

__all__ = [
    "INDEXED",
    "KINDS_SQL",
    "TABLE",
    "WATERMARK",
    "body_sql",
    "catch_up",
    "forget_sessions",
    "fts_query",
    "watermark",
]
