"""The tamper-evident audit log: append, read, verify, seal, export."""

from .seals import SealRecord, load_key, read_seals
from .store import Appended, AuditLog, StoredEvent, iso
from .verify import VerifyResult, integrity_check, verify_all, verify_rows, verify_session

__all__ = [
    "Appended",
    "AuditLog",
    "SealRecord",
    "StoredEvent",
    "VerifyResult",
    "integrity_check",
    "iso",
    "load_key",
    "read_seals",
    "verify_all",
    "verify_rows",
    "verify_session",
]
