"""Verify an exported session file anywhere: no DB, no secret, only keys.

``overseer verify FILE.jsonl --key VKEY`` recomputes the chain and the
Merkle tree from the file's events, checks every checkpoint note the file
carries against its root, and each signature against the trusted keys.
Without ``--key`` the signatures are checked only against the keys the file
names itself, and the result says so: such a check shows the file is
self-consistent, not who wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import LogError, UsageError
from .jsonl import export_keys, export_notes, read_export
from .note import Verifier
from .verify import VerifyResult, verify_rows


class ExportFileError(LogError):
    """A file that cannot be read as an export: verification fails (exit 3)."""

    exit_code = 3


@dataclass
class FileVerdict:
    result: VerifyResult
    named_keys: list[str]  # the verifier keys the file itself names
    hmac_sealed: bool  # seal events without roots: sealed with HMAC, before checkpoints


def verify_export(path: Path, trusted: list[Verifier] | None) -> FileVerdict:
    """``trusted`` None: no --key was given (the file's own keys are used)."""
    try:
        session, rows, extras = read_export(path)
    except UsageError as exc:
        raise ExportFileError(f"cannot verify {path}: {exc}") from exc
    named = export_keys(extras)
    if trusted is None:
        keys, trust = named, "self"
    else:
        keys, trust = trusted, "given"
    sid = str(session["id"])
    result = verify_rows(
        sid,
        rows,
        notes=export_notes(extras),
        trusted=keys,
        trust=trust,
        require_signature=trusted is not None,
    )
    hmac = any(r[2] == "seal" and '"root"' not in str(r[3]) for r in rows)
    return FileVerdict(result, [k.vkey for k in named], hmac and not result.checkpoints)
