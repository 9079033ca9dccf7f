"""bisect: finds the planted regression in a generated history, skips revisions
that cannot run, and never touches the user's checkout."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from overseer.tools.bisect import BisectArgs, BisectTool

from overseer.toolapi import ToolContext
from tests.conftest import git

TEST_CMD = f"PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {sys.executable} -m pytest -q -p no:cacheprovider test_mod.py"
TEST_FILE = "from mod import f\n\n\ndef test_f():\n    assert f() == 1\n"


def build_history(repo: Path, n: int, module: Callable[[int], str]) -> list[str]:
    """A repository of ``n`` commits made in one `git fast-import` (fast); returns the shas."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    chunks: list[bytes] = []
    for i in range(1, n + 1):
        msg = f"commit {i}\n".encode()
        chunks.append(f"commit refs/heads/main\nmark :{i}\n".encode())
        stamp = 1_700_000_000 + i * 60
        chunks.append(f"author Dev {i} <dev{i}@example.com> {stamp} +0000\n".encode())
        chunks.append(f"committer Dev {i} <dev{i}@example.com> {stamp} +0000\n".encode())
        chunks.append(b"data %d\n%s" % (len(msg), msg))
        if i > 1:
            chunks.append(f"from :{i - 1}\n".encode())
        files = {"mod.py": module(i)}
        if i == 1:
            files["test_mod.py"] = TEST_FILE
        for path, text in files.items():
            data = text.encode()
            chunks.append(
                f"M 100644 inline {path}\n".encode() + b"data %d\n%s\n" % (len(data), data)
            )
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(chunks), check=True)
    git(repo, "reset", "-q", "--hard", "main")
    return git(repo, "rev-list", "--reverse", "main").split()


def module_source(regression: int, broken: range = range(0)) -> Callable[[int], str]:
    def source(i: int) -> str:
        head = "import module_that_does_not_exist  # broken build\n" if i in broken else ""
        value = 2 if i >= regression else 1
        return f"{head}VERSION = {i}\n\n\ndef f():\n    return {value}\n"

    return source


def fingerprint(repo: Path) -> dict[str, str]:
    """Everything the user could see: files (bytes and mode), HEAD, index, refs, worktrees."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(repo))] = (
                f"{p.stat().st_mode:o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
            )
    out[".git/HEAD"] = (repo / ".git" / "HEAD").read_text()
    out[".git/index"] = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    out["refs"] = git(repo, "for-each-ref")
    out["worktrees"] = git(repo, "worktree", "list", "--porcelain")
    return out


def run_bisect(repo: Path, good: str, bad: str = "HEAD"):
    streamed: list[str] = []
    ctx = ToolContext(workspace=repo, session_id="s", stream=streamed.append)
    result = BisectTool().run(BisectArgs(test=TEST_CMD, good=good, bad=bad), ctx)
    return result, "".join(streamed)


def test_finds_the_planted_commit_in_at_most_7_runs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shas = build_history(repo, 64, module_source(regression=37))
    (repo / "notes.txt").write_text("uncommitted work\n")  # the user's untracked file
    (repo / "mod.py").write_text((repo / "mod.py").read_text() + "# local edit\n")
    before = fingerprint(repo)
    t0 = time.monotonic()
    result, streamed = run_bisect(repo, good=shas[0])
    elapsed = time.monotonic() - t0
    assert result.status == "ok", result.output
    assert result.data["first_bad"]["sha"] == shas[36]
    assert result.data["first_bad"]["subject"] == "commit 37"
    assert result.data["first_bad"]["author"] == "Dev 37 <dev37@example.com>"
    assert "mod.py" in result.data["first_bad"]["diffstat"]
    assert result.data["runs"] <= 7
    assert f"first bad commit {shas[36]}" in result.output
    assert streamed.count("step ") == result.data["runs"]
    assert [t["sha"] for t in result.data["tested"]] == [s["sha"] for s in result.data["steps"]]
    assert fingerprint(repo) == before, "the user's checkout changed"
    assert not (repo / ".git" / "refs" / "bisect").exists()
    assert not (repo / ".git" / "BISECT_LOG").exists()
    assert elapsed < 20


def test_unrunnable_revisions_are_skipped_not_blamed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shas = build_history(repo, 64, module_source(regression=45, broken=range(28, 37)))
    before = fingerprint(repo)
    result, _ = run_bisect(repo, good=shas[0])
    assert result.status == "ok", result.output
    assert result.data["first_bad"]["sha"] == shas[44]
    assert result.data["skipped"], "the first midpoint lands in the broken stretch"
    assert set(result.data["skipped"]) <= set(shas[27:36])
    assert all(
        t["outcome"] == "could_not_run"
        for t in result.data["tested"]
        if t["sha"] in result.data["skipped"]
    )
    assert fingerprint(repo) == before

    # A plain `git bisect run` of the same command blames the broken stretch.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "bisect", "start", "HEAD", shas[0])
    plain = subprocess.run(
        ["git", "bisect", "run", "bash", "-c", TEST_CMD], cwd=clone, capture_output=True, text=True
    )
    first = [
        line.split()[0] for line in plain.stdout.splitlines() if "is the first bad commit" in line
    ]
    assert first and first[0] != shas[44]
    assert first[0] in shas[27:36]


def test_bad_revision_that_passes_is_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shas = build_history(repo, 3, module_source(regression=100))
    result, _ = run_bisect(repo, good=shas[1])
    assert result.status == "failed"
    assert "passes" in result.output and "no regression" in result.output


def test_bad_arguments_are_clear_errors(tmp_path: Path, make_repo) -> None:
    repo = tmp_path / "repo"
    shas = build_history(repo, 3, module_source(regression=3))
    r, _ = run_bisect(repo, good="no-such-rev")
    assert r.status == "error" and "unknown revision 'no-such-rev'" in r.output
    r, _ = run_bisect(repo, good=shas[2], bad=shas[0])
    assert r.status == "error" and "is not an ancestor" in r.output
    plain = tmp_path / "plain"
    plain.mkdir()
    r = BisectTool().run(
        BisectArgs(test="true", good="HEAD~1"), ToolContext(workspace=plain, session_id="s")
    )
    assert r.status == "error" and "not inside a git repository" in r.output


@pytest.mark.parametrize("n", [2])
def test_adjacent_commits(tmp_path: Path, n: int) -> None:
    repo = tmp_path / "repo"
    shas = build_history(repo, n, module_source(regression=2))
    result, _ = run_bisect(repo, good=shas[0])
    assert result.status == "ok" and result.data["first_bad"]["sha"] == shas[1]
    assert result.data["runs"] == 1  # the bad end is checked once when the answer rests on it


def test_regression_in_the_bad_commit_itself_is_found(tmp_path: Path) -> None:
    """Regression: when every midpoint passes, the answer is `bad` itself, and
    the final check must run at `bad`, not where the last bisect step left the
    worktree."""
    repo = tmp_path / "repo"
    shas = build_history(repo, 9, module_source(regression=9))
    result, _ = run_bisect(repo, good=shas[0])
    assert result.status == "ok", result.output
    assert result.data["first_bad"]["sha"] == shas[-1]
