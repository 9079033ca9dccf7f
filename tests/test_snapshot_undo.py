"""Session snapshot (without touching the checkout) and `overseer undo`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from overseer.cli import cli
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.snapshot import plan_restore, restore_snapshot, take_snapshot
from tests.conftest import git


def tree_state(ws: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(ws):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(ws))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def repo(make_repo) -> Path:
    ws = make_repo(
        {"a.txt": "a\n", "b.txt": "b\n", "src/c.py": "c = 1\n", ".gitignore": "build/\n"}
    )
    (ws / "a.txt").write_text("a modified before the session\n")  # uncommitted work
    (ws / "untracked.txt").write_text("the user's untracked notes\n")
    (ws / "b.txt").write_text("b staged\n")
    git(ws, "add", "b.txt")
    (ws / "build").mkdir()
    (ws / "build" / "out.bin").write_text("ignored\n")
    return ws


def test_snapshot_does_not_touch_index_or_working_tree(repo: Path) -> None:
    before_files = tree_state(repo)
    index = (repo / ".git" / "index").read_bytes()
    head, ref = take_snapshot(repo, "sess1")
    assert head == git(repo, "rev-parse", "HEAD").strip()
    assert ref == "refs/overseer/sess1"
    assert tree_state(repo) == before_files
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "status", "--porcelain").splitlines() == [
        " M a.txt",
        "M  b.txt",
        "?? untracked.txt",
    ]
    # The snapshot holds the working tree, untracked files included, ignored ones not.
    files = git(repo, "ls-tree", "-r", "--name-only", ref).split()
    assert set(files) == {".gitignore", "a.txt", "b.txt", "src/c.py", "untracked.txt"}
    assert git(repo, "show", f"{ref}:a.txt") == "a modified before the session\n"
    assert git(repo, "rev-parse", f"{ref}^1").strip() == head


def test_not_a_repository(tmp_path: Path) -> None:
    assert take_snapshot(tmp_path, "s") == (None, None)


def test_unborn_head(tmp_path: Path) -> None:
    ws = tmp_path / "new"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / "f.txt").write_text("first\n")
    head, ref = take_snapshot(ws, "s")
    assert head is None and ref is not None
    (ws / "f.txt").write_text("changed\n")
    (ws / "g.txt").write_text("new\n")
    restore_snapshot(ws, ref)
    assert tree_state(ws) == {"f.txt": hashlib.sha256(b"first\n").hexdigest()}


def test_restore_modified_created_and_deleted(repo: Path) -> None:
    head, ref = take_snapshot(repo, "sess2")
    assert ref
    before = tree_state(repo)
    index_status = git(repo, "status", "--porcelain")
    # What an agent might do during the session.
    (repo / "a.txt").write_text("agent rewrote a\n")
    (repo / "src" / "c.py").unlink()
    (repo / "untracked.txt").unlink()
    (repo / "src" / "new_module.py").write_text("x = 2\n")
    (repo / "newdir" / "deep").mkdir(parents=True)
    (repo / "newdir" / "deep" / "f.txt").write_text("deep\n")
    (repo / "build" / "more.bin").write_text("ignored output\n")
    os.chmod(repo / "b.txt", 0o755)
    git(repo, "add", "-A")

    plan = plan_restore(repo, ref)
    assert plan.modified == ["a.txt", "b.txt"]
    assert plan.removed == ["newdir/deep/f.txt", "src/new_module.py"]
    assert plan.restored == ["src/c.py", "untracked.txt"]
    restore_snapshot(repo, ref)
    after = tree_state(repo)
    # Ignored files are outside the snapshot: left alone.
    assert after.pop("build/more.bin")
    assert after == before
    assert not (repo / "newdir").exists()
    assert not os.access(repo / "b.txt", os.X_OK)
    assert git(repo, "status", "--porcelain") == index_status
    assert plan_restore(repo, ref).empty


def make_session(log: AuditLog, ws: Path, ref: str | None) -> str:
    sid = log.start_session(
        SessionStartedPayload(task="t", agent="test", workspace=str(ws), snapshot_ref=ref)
    )
    log.end_session(sid, "completed")
    return sid


def test_undo_command(repo: Path, log: AuditLog, log_path: Path) -> None:
    sid_placeholder = "undo-test"
    _, ref = take_snapshot(repo, sid_placeholder)
    sid = make_session(log, repo, ref)
    before = tree_state(repo)
    (repo / "a.txt").write_text("changed by the agent\n")
    (repo / "created.txt").write_text("new\n")
    (repo / "src" / "c.py").unlink()
    runner = CliRunner()

    # Declining changes nothing.
    res = runner.invoke(cli, ["--log", str(log_path), "undo", sid[:6]], input="n\n")
    assert res.exit_code != 0
    assert "M a.txt" in res.output and "D created.txt" in res.output and "A src/c.py" in res.output
    assert (repo / "created.txt").exists()

    res = runner.invoke(cli, ["--log", str(log_path), "undo", sid, "--yes"])
    assert res.exit_code == 0, res.output
    assert "restored: 1 rewritten, 1 removed, 1 brought back" in res.output
    assert tree_state(repo) == before
    with AuditLog(log_path) as fresh:
        [notice] = [e.payload for e in fresh.events(sid, kinds=["notice"])]
        assert notice["topic"] == "undo"
        assert notice["data"]["removed"] == ["created.txt"]
        assert fresh.verify(sid)[0].ok


def test_undo_errors_are_clear(tmp_path: Path, repo: Path, log: AuditLog, log_path: Path) -> None:
    runner = CliRunner()
    no_snapshot = make_session(log, repo, None)
    res = runner.invoke(cli, ["--log", str(log_path), "undo", no_snapshot, "--yes"])
    assert res.exit_code == 2 and "has no snapshot" in res.output
    assert "Traceback" not in res.output

    gone = tmp_path / "gone"
    gone.mkdir()
    sid = make_session(log, gone, "refs/overseer/x")
    gone.rmdir()
    res = runner.invoke(cli, ["--log", str(log_path), "undo", sid, "--yes"])
    assert res.exit_code == 2 and "no longer exists" in res.output

    sid = make_session(log, repo, "refs/overseer/deleted")
    res = runner.invoke(cli, ["--log", str(log_path), "undo", sid, "--yes"])
    assert res.exit_code == 2 and "refs/overseer/deleted no longer exists" in res.output

    running = log.start_session(
        SessionStartedPayload(
            task="t", agent="test", workspace=str(repo), snapshot_ref="refs/overseer/x"
        )
    )
    res = runner.invoke(cli, ["--log", str(log_path), "undo", running, "--yes"])
    assert res.exit_code == 2 and "still running" in res.output


def test_workspace_in_a_subdirectory_restores_only_that_subtree(make_repo) -> None:
    repo = make_repo({"outside.txt": "o\n", "ws/inside.txt": "i\n"})
    ws = repo / "ws"
    _, ref = take_snapshot(ws, "sub")
    assert ref
    (repo / "outside.txt").write_text("changed outside\n")
    (ws / "inside.txt").write_text("changed inside\n")
    (ws / "new.txt").write_text("new\n")
    plan = restore_snapshot(ws, ref)
    assert plan.modified == ["ws/inside.txt"] and plan.removed == ["ws/new.txt"]
    assert (ws / "inside.txt").read_text() == "i\n" and not (ws / "new.txt").exists()
    assert (repo / "outside.txt").read_text() == "changed outside\n"
