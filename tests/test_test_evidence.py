"""Test evidence keeps every count: skipped, xfailed, xpassed and errors reach
the action's data, the evidence summary (and so the reports), `show`, and the
flags' evidence; a suite that "passes" with every test skipped says so, and a
final report claiming the tests pass on such a run is flagged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from overseer.tools.tests_harness import RunTestsArgs, RunTestsTool, summary_counts, with_xpassed

from overseer.audit.flags import detect
from overseer.log import AuditLog
from overseer.report import evidence, format_evidence
from overseer.toolapi import ToolContext
from tests.helpers.sessions import flags, overseer, record

PYTEST = f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -p no:cacheprovider"

EVERY_OUTCOME = """\
import pytest

def test_passes():
    pass

@pytest.mark.skip(reason="later")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfails():
    assert 0

@pytest.mark.xfail(reason="fixed by accident")
def test_xpasses():
    pass

def test_fails():
    assert 1 == 2

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

def test_errors(broken):
    pass
"""

ALL_SKIPPED = """\
import pytest

pytestmark = pytest.mark.skip(reason="not on this machine")

def test_one():
    assert False

def test_two():
    assert False

def test_three():
    assert False
"""


def run(ws: Path, command: str):
    return RunTestsTool().run(
        RunTestsArgs(command=command), ToolContext(workspace=ws, session_id="s")
    )


@pytest.mark.parametrize("quiet", ["-q", ""])
def test_every_outcome_is_counted_in_the_actions_data(make_repo, quiet):
    repo = make_repo({"test_all.py": EVERY_OUTCOME})
    r = run(repo, f"{PYTEST} {quiet}")
    d = r.data
    assert d["outcome"] == "failed"
    counts = {k: d[k] for k in ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")}
    assert counts == {
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
    }
    assert r.output.startswith(
        "failed: 1 passed, 1 failed, 1 errors, 1 skipped, 1 xfailed, 1 xpassed"
    )


def test_a_run_with_every_test_skipped_says_no_test_ran(make_repo):
    repo = make_repo({"test_skip.py": ALL_SKIPPED})
    r = run(repo, f"{PYTEST} -q")
    assert r.status == "ok" and r.data["outcome"] == "passed"  # pytest's exit code 0
    assert (r.data["passed"], r.data["skipped"]) == (0, 3)
    assert r.output.startswith(
        "passed: 0 passed, 0 failed, 0 errors, 3 skipped — no test ran: every test was skipped"
    )


def test_xpassed_comes_from_the_summary_line_only_when_it_agrees_with_the_xml():
    xml = {"passed": 3, "failed": 0, "errors": 0, "skipped": 1, "xfailed": 0, "xpassed": 0}
    line = "\n== 2 passed, 1 skipped, 1 xpassed in 0.05s ==\n"
    assert summary_counts(line) == {"passed": 2, "skipped": 1, "xpassed": 1}
    assert with_xpassed(xml, line) == {**xml, "passed": 2, "xpassed": 1}
    # A test printing a summary of its own that does not match the XML is not believed.
    assert with_xpassed(xml, "5 passed, 3 xpassed in 0.01s\n") == xml
    assert with_xpassed(xml, "no summary at all") == xml


def _finished(seq: int, **data: object) -> tuple[int, str, dict[str, object]]:
    data = {"outcome": "passed", "command": "pytest", **data}
    return (
        seq,
        "action_finished",
        {"call_id": "c", "tool": "run_tests", "status": "ok", "data": data},
    )


def test_the_evidence_summary_keeps_the_counts_and_shows_a_vacuous_pass():
    ev = evidence(
        [
            _finished(3, passed=0, failed=0, errors=0, skipped=5, xfailed=0, xpassed=0),
            _finished(7, passed=4, failed=0, errors=0, skipped=2, xfailed=1, xpassed=0),
            _finished(9, passed=0, failed=0, errors=0, skipped=1, xfailed=2, xpassed=0),
        ]
    )
    first, second, third = ev["test_runs"]
    assert first["skipped"] == 5 and first["vacuous"] is True
    assert second["xfailed"] == 1 and "vacuous" not in second
    text = format_evidence(ev)
    assert (
        "- test run: passed (0 passed, 0 failed, 5 skipped — NO TEST RAN: all 5 skipped) [seq 3]"
        in text
    )
    assert "- test run: passed (4 passed, 0 failed, 2 skipped, 1 xfailed) [seq 7]" in text
    assert "(0 passed, 0 failed, 1 skipped, 2 xfailed — no test passed) [seq 9]" in text


@pytest.mark.parametrize(
    "counts, expected",
    [
        ({"passed": 0, "skipped": 4}, "no test passed: all 4 were skipped"),
        (
            {"passed": 0, "skipped": 1, "xfailed": 2},
            "no test passed: 0 passed, 0 failed, 1 skipped, 2 xfailed",
        ),
    ],
)
def test_claiming_tests_pass_on_a_run_where_none_passed_is_unsupported(counts, expected):
    data = {"failed": 0, "errors": 0, **counts}
    found = detect([_finished(4, **data), (5, "session_ended", {"final": "All tests pass now."})])
    [flag] = [f for f in found if f.flag == "unsupported_claim"]
    assert expected in flag.reason and flag.evidence == [4, 5]
    assert flag.details["counts"]["skipped"] == counts["skipped"]
    # A run where tests really passed supports the claim.
    real = detect(
        [
            _finished(4, **{**data, "passed": 3}),
            (5, "session_ended", {"final": "All tests pass now."}),
        ]
    )
    assert not [f for f in real if f.flag == "unsupported_claim"]


def test_a_recorded_session_shows_the_skipped_run_everywhere(make_repo, tmp_path):
    repo = make_repo({"tests/test_skip.py": ALL_SKIPPED})
    db = tmp_path / "audit.db"
    result = record(
        db,
        repo,
        [{"tool": "run_tests", "args": {"command": f"{PYTEST} -q"}}],
        "I ran the suite: all tests pass.",
    )
    assert "NO TEST RAN: all 3 skipped" in result.report  # the final report's evidence
    [claim] = flags(db, result.session, "unsupported_claim")
    assert "all 3 were skipped" in claim["reason"] and claim["details"]["counts"]["skipped"] == 3
    with AuditLog(db) as log:
        [ended] = list(log.events(result.session, kinds=["session_ended"]))
    [summary_run] = ended.payload["summary"]["evidence"]["test_runs"]
    assert summary_run["skipped"] == 3 and summary_run["vacuous"] is True
    shown = overseer("show", result.session, "--log", str(db))
    assert "finished run_tests: ok exit 0 in" in shown.stdout
    assert "0 passed, 0 failed, 3 skipped — NO TEST RAN: all 3 skipped" in shown.stdout
    md = overseer("export", result.session, "--format", "md", "--log", str(db))
    assert "NO TEST RAN: all 3 skipped" in md.stdout
    html = overseer("export", result.session, "--format", "html", "--log", str(db))
    assert "NO TEST RAN: all 3 skipped" in html.stdout
