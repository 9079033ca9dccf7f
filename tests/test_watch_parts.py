"""The watcher's parts alone: attribution driven with made-up times, the
path filter, the file-state cache, and the change finder over real files and
a real git repository — no observer thread, no log. ``test_watch.py`` drives
the whole watcher through inotify."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from watchdog.events import FileDeletedEvent, FileModifiedEvent, FileMovedEvent

from overseer.watch import Attribution, ChangeFinder, FileStates, WorkspacePaths
from overseer.watch.attribution import KEEP_CLOSED_S, PRUNE_ABOVE
from overseer.watch.changes import Batch, pair_moves
from overseer.watch.refs import ref_changes
from tests.conftest import git


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- attribution -----------------------------------------------------------------


def attribution(ws: str = "/ws") -> Attribution:
    return Attribution(ws, lambda p: os.path.relpath(p, ws), grace_s=0.3)


def test_a_change_belongs_to_the_window_that_holds_it():
    a = attribution()
    a.started("c1", 10.0)
    assert a.attribute(9.9) is None  # before it started: out of band
    assert a.attribute(10.5) == "c1"  # running
    a.finished("c1", 11.0)
    assert a.attribute(11.2) == "c1"  # within the grace after its end
    assert a.attribute(11.4) is None  # after the grace
    assert a.attribute(11.4, extra=0.6) == "c1"  # a deletion's longer grace


def test_of_two_windows_the_declared_writer_wins_else_the_latest():
    a = attribution()
    a.declare("fix", {"writes": ["calc.py"]})
    a.declare("tests", {"writes": []})
    a.started("fix", 1.0)
    a.finished("fix", 2.0)
    a.started("tests", 2.1)
    assert a.attribute(2.2, path="calc.py") == "fix"
    assert a.attribute(2.2, path="report.xml") == "tests"
    assert a.attribute(2.2) == "tests"


def test_windows_closed_long_ago_are_forgotten():
    a = attribution()
    for i in range(PRUNE_ABOVE + 1):
        a.started(f"c{i}", float(i))
        a.finished(f"c{i}", float(i) + 0.1)
    later = PRUNE_ABOVE + KEEP_CLOSED_S + 10.0
    a.started("new", later)
    assert a.attribute(0.05) is None  # c0's window went with the prune
    assert a.attribute(later + 1) == "new"


# -- paths -----------------------------------------------------------------------


def test_the_path_filter_keeps_workspace_files_only(tmp_path: Path):
    ws = tmp_path / "ws"
    (ws / ".git").mkdir(parents=True)
    log = tmp_path / "audit.db"
    paths = WorkspacePaths(ws, log)
    assert paths.rel(str(ws / "src" / "a.py")) == os.path.join("src", "a.py")
    for ignored in (
        ws / ".git" / "config",
        ws / "src" / "__pycache__" / "a.pyc",
        ws / "notes.txt~",
        tmp_path / "outside.txt",
    ):
        assert paths.rel(str(ignored)) is None, ignored
    assert paths.rel(str(log)) is None and paths.rel(f"{log}-wal") is None
    assert paths.is_ref(str(ws / ".git" / "refs" / "heads" / "main.lock"))
    assert paths.is_ref(str(ws / ".git" / "HEAD"))
    assert not paths.is_ref(str(ws / ".git" / "index"))


# -- file states -----------------------------------------------------------------


def test_file_states_hash_text_binary_and_symlinks(tmp_path: Path):
    (tmp_path / "t.txt").write_text("hello\n")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    (tmp_path / "link").symlink_to("t.txt")
    files = FileStates(tmp_path, keep_text_cap=4)
    assert files.state("t.txt") == (sha("hello\n"), 6, "hello\n")
    assert files.state("b.bin")[2] is None  # type: ignore[index]
    assert files.state("link")[0].startswith("symlink:")  # type: ignore[index]
    assert files.state("missing") is None
    files.keep_text("t.txt", "hello\n")
    assert "t.txt" not in files.texts  # over keep_text_cap: hashed, not kept


def test_a_diff_is_bounded(tmp_path: Path):
    files = FileStates(tmp_path, diff_cap=200)
    diff = files.diff("a.txt", "", "".join(f"line {i}\n" for i in range(500)), created=True)
    assert "characters omitted" in diff and len(diff) < 300


# -- the change finder -----------------------------------------------------------


def finder(ws: Path, log: Path) -> ChangeFinder:
    f = ChangeFinder(WorkspacePaths(ws, log), FileStates(ws))
    f.scan([])
    return f


def test_a_batch_settles_into_created_modified_deleted_and_no_touches(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keep.txt").write_text("same\n")
    (ws / "edit.txt").write_text("one\n")
    (ws / "gone.txt").write_text("bye\n")
    f = finder(ws, tmp_path / "audit.db")
    (ws / "edit.txt").write_text("two\n")
    (ws / "gone.txt").unlink()
    (ws / "new.txt").write_text("hi\n")
    batch = Batch()
    for t, name in enumerate(["keep.txt", "edit.txt", "gone.txt", "new.txt"]):
        event = FileDeletedEvent if name == "gone.txt" else FileModifiedEvent
        f.intake(batch, float(t), event(str(ws / name)))
    changes = {p["path"]: (t, p) for t, p in f.settle(batch)}
    assert set(changes) == {"edit.txt", "gone.txt", "new.txt"}  # keep.txt was only touched
    assert changes["edit.txt"][1]["change"] == "modified"
    assert "-one\n+two" in changes["edit.txt"][1]["diff"]
    assert changes["gone.txt"][1]["change"] == "deleted"
    assert changes["new.txt"][1]["change"] == "created" and changes["new.txt"][0] == 3.0
    assert f.settle(batch) == []  # the state moved on: nothing is reported twice


def test_a_move_keeps_its_content_and_its_text(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("content\n")
    f = finder(ws, tmp_path / "audit.db")
    (ws / "a.txt").rename(ws / "b.txt")
    batch = Batch()
    f.intake(batch, 1.0, FileMovedEvent(str(ws / "a.txt"), str(ws / "b.txt")))
    [(_t, moved)] = f.settle(batch)
    assert moved["change"] == "moved" and (moved["path"], moved["dest_path"]) == ("a.txt", "b.txt")
    assert f.files.texts == {"b.txt": "content\n"} and "a.txt" not in f.files.hashes


def test_a_deletion_and_a_creation_of_the_same_content_pair_into_a_move():
    changes = [
        (2.0, {"path": "x", "change": "deleted", "before_hash": "h", "after_hash": None}),
        (
            1.0,
            {"path": "y", "change": "created", "before_hash": None, "after_hash": "h", "size": 3},
        ),
    ]
    [(t, moved)] = pair_moves(changes)
    assert t == 1.0 and moved["change"] == "moved" and moved["dest_path"] == "y"


def test_a_commit_is_a_ref_change_not_git_internals(make_repo, tmp_path: Path):
    ws = make_repo({"a.txt": "one\n"})
    f = finder(ws, tmp_path / "audit.db")
    (ws / "a.txt").write_text("two\n")
    git(ws, "commit", "-qam", "two")
    batch = Batch()
    f.intake(batch, 1.0, FileModifiedEvent(str(ws / ".git" / "index")))
    assert batch.pending == {} and batch.refs_seen is None  # git's index is not news
    branch = git(ws, "symbolic-ref", "HEAD").strip()
    f.intake(batch, 2.0, FileModifiedEvent(str(ws / ".git" / branch)))
    [(t, ref)] = f.settle(batch)
    assert t == 2.0 and ref["change"] == "ref" and ref["path"] == branch
    assert ref["after_hash"] == git(ws, "rev-parse", "HEAD").strip()


def test_a_head_switch_is_resolved_to_commits():
    old = {"HEAD": "ref: refs/heads/main", "refs/heads/main": "a" * 40, "refs/heads/x": "b" * 40}
    new = {**old, "HEAD": "ref: refs/heads/x"}
    [head] = ref_changes(old, new)
    assert head["before_hash"] == "a" * 40 and head["after_hash"] == "b" * 40
    assert head["diff"] == "HEAD: ref: refs/heads/main -> ref: refs/heads/x"
