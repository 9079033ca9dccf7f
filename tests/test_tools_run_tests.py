"""run_tests: structured pytest results, passed / failed / could_not_run, and rev worktrees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from overseer.tools.tests_harness import RunTestsArgs, RunTestsTool, is_pytest

from overseer.toolapi import ToolContext
from tests.conftest import git

PYTEST = f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider"

TESTS = """\
import pytest

def test_ok():
    assert 1 + 1 == 2

def test_bad():
    assert 1 + 1 == 3, "arithmetic is broken"

class TestGroup:
    def test_inner(self):
        assert True

@pytest.mark.skip(reason="later")
def test_skipped():
    pass
"""


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"test_calc.py": TESTS})


def run(ws: Path, command: str, **kw):
    return RunTestsTool().run(
        RunTestsArgs(command=command, **kw), ToolContext(workspace=ws, session_id="s")
    )


def test_pytest_results_are_structured(repo: Path) -> None:
    r = run(repo, PYTEST)
    assert r.status == "failed"
    d = r.data
    assert d["outcome"] == "failed" and d["pytest"] is True
    assert (d["passed"], d["failed"], d["errors"], d["skipped"]) == (2, 1, 0, 1)
    assert d["failing"] == ["test_calc.py::test_bad"]
    assert "arithmetic is broken" in d["failures"][0]["text"]
    assert r.output.startswith("failed: 2 passed, 1 failed, 0 errors, 1 skipped")
    assert "FAILED test_calc.py::test_bad" in r.output
    assert "--junitxml=" in d["ran"] and d["command"] == PYTEST
    r = run(repo, f"{PYTEST} -k 'ok or inner'")
    assert r.status == "ok" and r.data["outcome"] == "passed" and r.data["passed"] == 2


def test_collection_error_no_tests_and_missing_command_could_not_run(repo: Path) -> None:
    (repo / "test_broken.py").write_text("import module_that_does_not_exist\n")
    r = run(repo, f"{PYTEST} test_broken.py")
    assert r.data["outcome"] == "could_not_run" and r.data["exit_code"] == 2
    assert "collection" in r.data["reason"]
    r = run(repo, f"{PYTEST} --continue-on-collection-errors test_broken.py")
    assert r.data["outcome"] == "could_not_run" and "only collection errors" in r.data["reason"]
    (repo / "test_empty.py").write_text("x = 1\n")
    r = run(repo, f"{PYTEST} test_empty.py")
    assert r.data["outcome"] == "could_not_run" and r.data["exit_code"] == 5
    r = run(repo, "no-such-test-runner --all")
    assert r.data["outcome"] == "could_not_run" and r.data["exit_code"] == 127


def test_other_commands_by_exit_code(repo: Path) -> None:
    r = run(repo, "test -f test_calc.py")
    assert r.data["outcome"] == "passed" and r.data["pytest"] is False and "passed" not in r.data
    r = run(repo, "echo some output; exit 3")
    assert r.data["outcome"] == "failed" and r.exit_code == 3 and "some output" in r.output


def test_timeout_is_failed(repo: Path) -> None:
    t0 = time.monotonic()
    r = run(repo, "sleep 30", timeout=1)
    assert time.monotonic() - t0 < 4
    assert r.status == "timeout" and r.data["outcome"] == "failed" and r.data["timed_out"]


def test_rev_runs_in_a_temporary_worktree(repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "test_calc.py").write_text("def test_only():\n    assert True\n")
    git(repo, "commit", "-qam", "fix tests")
    (repo / "test_calc.py").write_text("def test_local():\n    assert False\n")  # uncommitted
    r = run(repo, PYTEST, rev="HEAD~1")
    assert r.data["sha"] == first and r.data["failed"] == 1 and r.data["passed"] == 2
    r = run(repo, PYTEST, rev="HEAD")
    assert r.data["outcome"] == "passed" and r.data["passed"] == 1
    # Removed afterwards, also when the run times out; the checkout is untouched.
    run(repo, "sleep 30", rev="HEAD", timeout=1)
    assert git(repo, "worktree", "list").count("\n") == 1
    assert "assert False" in (repo / "test_calc.py").read_text()
    r = run(repo, PYTEST, rev="nope")
    assert r.status == "error" and "unknown revision" in r.output


def test_facts_and_preview(repo: Path) -> None:
    ctx = ToolContext(workspace=repo, session_id="s")
    tool = RunTestsTool()
    assert tool.facts(RunTestsArgs(command="pytest -x"), ctx).commands == ["pytest -x"]
    assert "temporary worktree" in (
        tool.preview(RunTestsArgs(command="pytest", rev="v1"), ctx) or ""
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest", True),
        ("pytest -x tests/", True),
        (".venv/bin/pytest -q", True),
        ("python -m pytest", True),
        ("python3.11 -m pytest -k 'a or b'", True),
        ("FOO=1 BAR=2 pytest", True),
        ("timeout 60 pytest", True),
        ("uv run pytest", True),
        ("make test", False),
        ("pytest && echo done", False),
        ("pytest | tee log", False),
        ("pytest > out.txt", False),
        ("cd sub; pytest", False),
        ("python -c 'import pytest'", False),
        ("pytest $(cat args)", False),
    ],
)
def test_is_pytest(command: str, expected: bool) -> None:
    assert is_pytest(command) is expected
