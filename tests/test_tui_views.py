"""One-line call summaries: what the transcript, the side panel, the replay
timeline and the headless log say about a call."""

from __future__ import annotations

import pytest
from overseer.tui.views import compact_args

from overseer.render import call_summary, describe

SHA = "63c6fbe47530af911b645d40907c28423cd1b98a"


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("run_tests", {"command": "python -m pytest -q", "rev": SHA, "timeout": 900},
         "python -m pytest -q @ 63c6fbe"),
        ("run_tests", {"command": "pytest", "rev": "HEAD~3"}, "pytest @ HEAD~3"),
        ("run_tests", {"command": "pytest", "rev": None}, "pytest"),
        ("bisect", {"test": "pytest -x", "good": "852b70a900fa", "bad": "HEAD", "step_timeout": 600},
         "852b70a..HEAD: pytest -x"),
        ("ask_human", {"question": "Which branch?", "choices": ["main", "dev"]},
         "Which branch? [main / dev]"),
        ("write_file", {"content": "def test_x():\n    assert True\n", "path": "tests/test_x.py"},
         "tests/test_x.py  content=<2 lines, 30 chars>"),
        ("edit_file", {"path": "a.py", "new": "x = 2", "old": "x = 1"},
         'a.py  old="x = 1"  new="x = 2"'),
        ("shell", {"command": "ls -la", "timeout": 120}, "ls -la"),
        # A misspelt key shows its name: a malformed call never reads like a valid one.
        ("shell", {"comand": "ls"}, "comand=ls"),
        ("git_log", {"rev": "HEAD", "max_count": 5, "paths": []}, "rev=HEAD  max_count=5"),
    ],
)  # fmt: skip
def test_call_summary(tool: str, args: dict[str, object], expected: str) -> None:
    assert call_summary(tool, args) == expected
    assert compact_args(tool, args) == expected


def test_summary_is_bounded_and_one_line() -> None:
    text = call_summary("shell", {"command": "echo " + "x" * 500 + "\nls"}, limit=60)
    assert len(text) == 60 and text.endswith("…") and "\n" not in text


def test_headless_lines_show_the_revision_and_the_range() -> None:
    proposed = {"tool": "run_tests", "args": {"command": "pytest", "rev": SHA}, "call_id": "b3"}
    assert describe("action_proposed", proposed) == "proposed run_tests: pytest @ 63c6fbe [b3]"
    bisect = {"tool": "bisect", "args": {"test": "pytest", "good": SHA, "bad": "HEAD"}}
    assert "63c6fbe..HEAD: pytest" in describe("action_started", bisect)


def test_a_call_line_moves_its_outcome_below_when_the_pane_is_narrow() -> None:
    from overseer.tui.transcript import CallHead
    from rich.console import Console
    from rich.text import Text

    what = Text("✓ run_tests  python -m pytest -q -x @ 63c6fbe")
    outcome = Text("[b3]  failed · exit 1 · 913 ms")

    def lines(width: int) -> list[str]:
        console = Console(width=width, record=True, color_system=None)
        console.print(CallHead(what, outcome))
        return console.export_text().rstrip("\n").splitlines()

    wide = lines(100)
    assert len(wide) == 1 and "@ 63c6fbe" in wide[0] and wide[0].rstrip().endswith("913 ms")
    narrow = lines(44)
    assert narrow[0].startswith("✓ run_tests  python -m pytest -q -x @")
    assert narrow[1].strip() == "[b3]  failed · exit 1 · 913 ms"
