"""Bounded unified diffs: always a valid patch (applying it to the old text
gives the new one), the same as difflib's for ordinary edits, and quick on
the inputs where difflib is quadratic or degenerate."""

from __future__ import annotations

import difflib
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from overseer.textdiff import unified_diff

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply(old: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff (lines with their endings) to ``old``, checking
    every context and removed line against it."""
    out: list[str] = []
    pos = 0
    lines = diff[2:]  # --- and +++
    i = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        assert m, lines[i]
        start, count = int(m.group(1)), int(m.group(2) or 1)
        begin = start - 1 if count else start
        out += old[pos:begin]
        pos = begin
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][0], lines[i][1:]
            if tag in " -":
                assert old[pos] == text, (pos, old[pos], text)
                pos += 1
            if tag in " +":
                out.append(text)
            i += 1
    return out + old[pos:]


LINES = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "pass\n", "x = 1\n", "\n"]), max_size=30)


@settings(max_examples=300, deadline=None)
@given(LINES, LINES)
def test_every_diff_is_a_patch_that_turns_old_into_new(old: list[str], new: list[str]) -> None:
    diff = list(unified_diff(old, new, "a/f", "b/f"))
    assert (diff == []) == (old == new)
    if diff:
        assert apply(old, diff) == new


def test_an_ordinary_edit_diffs_as_difflib_does() -> None:
    old = [f"line {i}\n" for i in range(200)]
    new = old[:50] + ["inserted\n"] + old[50:120] + old[121:]
    new[150] = "changed\n"
    assert list(unified_diff(old, new, "a/f", "b/f")) == list(
        difflib.unified_diff(old, new, "a/f", "b/f")
    )


def test_a_one_line_change_in_a_file_of_equal_lines_is_one_line() -> None:
    old = ["    pass\n"] * 20_000
    new = old[:]
    new[100] = "    return 1\n"
    diff = list(unified_diff(old, new, "a/f", "b/f"))
    assert [d for d in diff if d[0] in "+-" and not d.startswith(("+++", "---"))] == [
        "-    pass\n",
        "+    return 1\n",
    ]
    assert apply(old, diff) == new


def test_inputs_that_make_difflib_quadratic_finish_and_still_patch() -> None:
    """20,000 lines with every other one changed took difflib 14 s; here it
    must finish well inside the timeout (a hang is what this catches)."""
    code = (
        "import random\n"
        "from overseer.textdiff import unified_diff\n"
        "random.seed(1)\n"
        "old = [f'line {random.random()}\\n' for _ in range(20000)]\n"
        "new = [('changed ' + l) if i % 2 == 0 else l for i, l in enumerate(old)]\n"
        "diff = list(unified_diff(old, new, 'a/f', 'b/f'))\n"
        "print(len(diff))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-500:]
    # One replacement: ---, +++, @@, the 19,999 old lines, the 19,999 new ones
    # and the one unchanged last line as context.
    assert int(res.stdout) == 3 + 2 * 19_999 + 1
