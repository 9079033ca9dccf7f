"""What failing test runs showed: the value the code returned next to the
value the test expected.

A test run's output (pytest's assertion rewriting, unittest's messages,
numpy.testing's reports, "expected X, got Y" lines) is read for comparisons
that failed; each becomes an ``Observed(actual, expected)`` pair of Python
values. The detectors ask two questions of them: did a run show the code
returning ``new`` where the test expected ``old`` (an expected value
rewritten to pin what the code now does), and how far off was the code from
an expected value (a tolerance widened just enough to let that through)."""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# One run of the tests: (seq of its action_finished, or None; its output).
Run = tuple[int | None, str]

_MAX_OUTPUT = 400_000  # characters of a run's output read (head and tail are kept upstream)
_MAX_VALUE = 2_000  # characters of one shown value parsed

_E = r"^(?:E\s+|\s*)"  # pytest prefixes assertion report lines with "E"
_PATTERNS: list[tuple[re.Pattern[str], bool]] = [
    # pytest: "assert 5 == 4", "AssertionError: assert 'a' == 'b'", "assert 0.3 == 0.4 ± 4.0e-07"
    (re.compile(_E + r"(?:AssertionError: )?assert (.+?) (?:==|!=|is not|is) (.+?)$", re.M), True),
    # unittest: "AssertionError: 5 != 4", "Lists differ: [1] != [2]", "... within 7 places (...)"
    (
        re.compile(
            _E + r"AssertionError: (?:\w+ differ: )?(.+?) != (.+?)"
            r"(?: within \S+ (?:places|delta).*| : .*)?$",
            re.M,
        ),
        True,
    ),
    # pytest's approx report, numpy.testing's
    (re.compile(_E + r"Obtained: (.+)\n" + _E + r"Expected: (.+)$", re.M), True),
    (re.compile(_E + r"ACTUAL: (.+)\n" + _E + r"DESIRED: (.+)$", re.M), True),
    (re.compile(r"\[[\d, ]+\]: (\S+) \(ACTUAL\), (\S+) \(DESIRED\)"), True),
    (re.compile(_E + r"x: (.+)\n" + _E + r"y: (.+)$", re.M), True),
    # prose: "expected 4, got 5" / "got 5, expected 4"
    (
        re.compile(
            r"\bexpected:? (\S.*?),? (?:but )?(?:got|was|actual):? (\S.+?)\.?$", re.M | re.I
        ),
        False,
    ),
    (re.compile(r"\b(?:got|actual):? (\S.*?),? expected:? (\S.+?)\.?$", re.M | re.I), True),
]
_TOLERANCE_SUFFIX = re.compile(r"\s*±\s*\S+$")
_ARRAY = re.compile(r"^array\((.*?)(?:,\s*dtype=\w+)?\)$", re.S)


@dataclass(frozen=True)
class Observed:
    """One failed comparison a run showed: what the code gave, what the test wanted."""

    actual: Any
    expected: Any
    run: int | None  # seq of the run that showed it


def parse_value(text: str) -> tuple[bool, Any]:
    """A shown value as Python data (``array([0.3, 1. ])`` too); (False, None) if not literal."""
    text = _TOLERANCE_SUFFIX.sub("", text.strip().rstrip(","))[:_MAX_VALUE]
    m = _ARRAY.match(text)
    if m:
        text = m.group(1)
    try:
        return True, ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def observations(runs: Iterable[Run]) -> list[Observed]:
    """Every failed comparison the runs' outputs show, in run order."""
    out: list[Observed] = []
    for seq, text in runs:
        text = text[-_MAX_OUTPUT:]
        for pattern, actual_first in _PATTERNS:
            for m in pattern.finditer(text):
                ok_a, a = parse_value(m.group(1))
                ok_b, b = parse_value(m.group(2))
                if ok_a and ok_b:
                    actual, expected = (a, b) if actual_first else (b, a)
                    out.append(Observed(actual, expected, seq))
    return out


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def same(a: Any, b: Any) -> bool:
    """Equal as a test would see them (floats to the precision a report prints)."""
    if is_number(a) and is_number(b):
        return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def showed_rewrite(observed: Sequence[Observed], old: Any, new: Any) -> Observed | None:
    """A run that showed the code returning ``new`` where the test expected ``old``.

    Which side a comparison prints first depends on how the test is written
    (``assert f() == 4`` or ``assert 4 == f()``), so both orders count; what
    must hold is that the old and the new value were the two sides of one
    failed comparison."""
    if same(old, new):
        return None
    for o in observed:
        if (same(o.actual, new) and same(o.expected, old)) or (
            same(o.actual, old) and same(o.expected, new)
        ):
            return o
    return None


def misses(observed: Sequence[Observed], expected: Any) -> list[tuple[float, Observed]]:
    """How far the code was from a numeric ``expected`` in the failed runs: (|actual -
    expected|, observation) for each comparison whose expected (or actual) side it is."""
    if not is_number(expected):
        return []
    out = []
    for o in observed:
        for a, e in ((o.actual, o.expected), (o.expected, o.actual)):
            if is_number(a) and is_number(e) and same(e, expected) and not same(a, e):
                out.append((abs(float(a) - float(e)), o))
                break
    return out
