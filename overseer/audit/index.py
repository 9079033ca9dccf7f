"""The full-text index lives with the log (overseer.log.fts): pruning, a
log operation, keeps it consistent. Kept so older imports work."""

from __future__ import annotations

from ..log.fts import (
    INDEXED,
    KINDS_SQL,
    TABLE,
    WATERMARK,
    body_sql,
    catch_up,
    forget_sessions,
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
    "watermark",
]
