"""Unified diffs whose cost is bounded, whatever the text.

Diffs are made on the approval path (a write's preview) and by the watcher
(each changed text file). difflib's matcher is quadratic on some inputs — a
20,000-line file with every other line changed took 14 s — and on a file of
many equal lines it treats them as junk and rewrites the whole file for a
one-line change. So the common head and tail are set aside first (an edit in
one place of a big file diffs only that place), difflib matches only the
lines between, and when those are too many to match line by line they are
shown as one change replacing the old lines with the new: still a valid
patch, just not a minimal one. Hunks and context are then laid out exactly
as ``difflib.unified_diff`` lays them out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Any

# difflib matches changed regions up to this many line pairs (2,000 x 2,000
# lines: about 0.1 s at worst); bigger ones become a single replacement.
MAX_PAIRS = 4_000_000

Opcode = tuple[str, int, int, int, int]


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_suffix(a: Sequence[Any], b: Sequence[Any], prefix: int) -> int:
    n = min(len(a), len(b)) - prefix
    i = 0
    while i < n and a[-1 - i] == b[-1 - i]:
        i += 1
    return i


class _Laid(difflib.SequenceMatcher):  # type: ignore[type-arg]
    """difflib's hunk grouping over opcodes computed elsewhere."""

    def __init__(self, opcodes: list[Opcode]) -> None:
        super().__init__(None, "", "")
        self._opcodes = opcodes

    def get_opcodes(self) -> list[Opcode]:  # type: ignore[override]
        return self._opcodes


def opcodes(old: Sequence[Any], new: Sequence[Any], *, autojunk: bool = True) -> list[Opcode]:
    """``SequenceMatcher(None, old, new, autojunk).get_opcodes()``, in bounded time."""
    head = _common_prefix(old, new)
    tail = _common_suffix(old, new, head)
    end_old, end_new = len(old) - tail, len(new) - tail
    ops: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    if end_old - head or end_new - head:
        if (end_old - head) * (end_new - head) <= MAX_PAIRS:
            core = difflib.SequenceMatcher(
                None, old[head:end_old], new[head:end_new], autojunk=autojunk
            )
            ops += [
                (tag, i1 + head, i2 + head, j1 + head, j2 + head)
                for tag, i1, i2, j1, j2 in core.get_opcodes()
            ]
        else:
            ops.append(("replace", head, end_old, head, end_new))
    if tail:
        ops.append(("equal", end_old, len(old), end_new, len(new)))
    return ops


def _range(start: int, stop: int) -> str:
    """A hunk range as difflib writes it (1-based; an empty one names the line before)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"


def unified_diff(
    old: Sequence[str],
    new: Sequence[str],
    fromfile: str = "",
    tofile: str = "",
    *,
    n: int = 3,
    lineterm: str = "\n",
) -> Iterator[str]:
    """``difflib.unified_diff(old, new, fromfile, tofile, n=n, lineterm=...)``,
    in bounded time (see the module docstring)."""
    started = False
    for group in _Laid(opcodes(old, new)).get_grouped_opcodes(n):
        if not started:
            started = True
            yield f"--- {fromfile}{lineterm}"
            yield f"+++ {tofile}{lineterm}"
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@{lineterm}"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                for line in old[i1:i2]:
                    yield " " + line
                continue
            if tag in ("replace", "delete"):
                for line in old[i1:i2]:
                    yield "-" + line
            if tag in ("replace", "insert"):
                for line in new[j1:j2]:
                    yield "+" + line
