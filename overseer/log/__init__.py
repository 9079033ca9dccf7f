"""The tamper-evident audit log: append, read, verify, seal, export.

``EventStore`` (base.py) is the one interface to a log's stores; ``open_store``
opens the local SQLite log (``AuditLog``) or a team store on PostgreSQL from
a path or URL.
"""

from .base import EventStore, StoredEvent, iso
from .factory import local_log_path, open_store, open_team_store
from .locations import is_store_url, redact_url
from .seals import SealRecord, load_key, read_seals
from .store import Appended, AuditLog
from .verify import VerifyResult, integrity_check, verify_all, verify_rows, verify_session

__all__ = [
    "Appended",
    "AuditLog",
    "EventStore",
    "SealRecord",
    "StoredEvent",
    "VerifyResult",
    "integrity_check",
    "is_store_url",
    "iso",
    "load_key",
    "local_log_path",
    "open_store",
    "open_team_store",
    "read_seals",
    "redact_url",
    "verify_all",
    "verify_rows",
    "verify_session",
]
