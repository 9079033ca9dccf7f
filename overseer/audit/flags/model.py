"""One oversight flag, and the vocabulary the detectors share: which tools
write files and which argument keys name a path or content."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FLAG_KINDS = ("reward_hacking", "out_of_band", "unsupported_claim", "novel_action")
WRITE_TOOLS = ("write_file", "edit_file")
MAX_FILE = 1_000_000  # bytes of a file read for comparison
PATH_KEYS = ("path", "file_path", "file", "filename")
CONTENT_KEYS = ("content", "text", "contents")
OLD_KEYS = ("old", "old_string", "old_text", "search")
NEW_KEYS = ("new", "new_string", "new_text", "replace", "replacement")


@dataclass
class Flag:
    flag: str
    reason: str
    evidence: list[int]
    call_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        return {
            "flag": self.flag,
            "reason": self.reason,
            "evidence": sorted(set(self.evidence)),
            "call_id": self.call_id,
            "details": self.details,
        }


def first(d: Any, keys: Iterable[str]) -> Any:
    if not isinstance(d, dict):
        return None
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None
