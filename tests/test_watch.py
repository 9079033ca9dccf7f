"""The watcher: file changes become file_changed events, attributed to the
running action; changes outside any action raise out_of_band."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from overseer.tools.shell import ShellArgs, ShellTool

from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.toolapi import ToolContext
from overseer.watch import Watcher
from tests.conftest import git
from tests.helpers.records import wait_for
from tests.helpers.records import with_seq as events


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def session(log: AuditLog, make_repo) -> Iterator[tuple[AuditLog, str, Path, Watcher]]:
    ws = make_repo({"a.txt": "one\n", "keep.txt": "keep\n"})
    sid = log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(ws)))
    watcher = Watcher(log, sid, ws).start()
    yield log, sid, ws, watcher
    watcher.stop()


class Action:
    """What the broker records around a tool call."""

    def __init__(self, log: AuditLog, sid: str, call_id: str, tool: str = "shell") -> None:
        self.log, self.sid, self.call_id, self.tool = log, sid, call_id, tool

    def __enter__(self) -> Action:
        self.log.append(
            self.sid,
            "action_started",
            {
                "call_id": self.call_id,
                "tool": self.tool,
                "args": {},
                "args_hash": "x",
                "decided_by": "policy",
            },
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append(
            self.sid,
            "action_finished",
            {"call_id": self.call_id, "tool": self.tool, "status": "ok"},
        )


def test_changes_are_attributed_to_the_running_action(session) -> None:
    log, sid, ws, watcher = session
    with Action(log, sid, "c1"):
        (ws / "new.txt").write_text("hello\n")
        (ws / "a.txt").write_text("one\ntwo\n")
        (ws / "keep.txt").unlink()
    assert watcher.flush()
    changes = {e["path"]: e for e in events(log, sid, "file_changed")}
    assert set(changes) == {"new.txt", "a.txt", "keep.txt"}
    assert all(e["call_id"] == "c1" for e in changes.values())
    assert changes["new.txt"]["change"] == "created"
    assert (
        changes["new.txt"]["after_hash"] == sha("hello\n")
        and changes["new.txt"]["before_hash"] is None
    )
    assert "+hello" in changes["new.txt"]["diff"]
    a = changes["a.txt"]
    assert (a["change"], a["before_hash"], a["after_hash"]) == (
        "modified",
        sha("one\n"),
        sha("one\ntwo\n"),
    )
    assert "+two" in a["diff"] and a["size"] == 8
    assert changes["keep.txt"]["change"] == "deleted" and changes["keep.txt"]["after_hash"] is None
    assert not events(log, sid, "flag_raised")


def test_shell_write_is_attributed_and_background_write_is_out_of_band(session) -> None:
    log, sid, ws, watcher = session
    tool = ShellTool()
    ctx = ToolContext(workspace=ws, session_id=sid)
    try:
        with Action(log, sid, "call-write"):
            assert tool.run(ShellArgs(command="echo from-shell > written.txt"), ctx).status == "ok"
        with Action(log, sid, "call-bg"):
            r = tool.run(ShellArgs(command="(sleep 1; echo x > late.txt) &"), ctx)
            assert r.status == "ok"
        finished = time.monotonic()
        late = wait_for(
            lambda: [e for e in events(log, sid, "file_changed") if e["path"] == "late.txt"],
            timeout=5,
        )
        assert time.monotonic() - finished >= 0.7
    finally:
        tool.close()
    written = [e for e in events(log, sid, "file_changed") if e["path"] == "written.txt"]
    assert [e["call_id"] for e in written] == ["call-write"]
    assert late[0]["call_id"] is None and late[0]["change"] == "created"
    flags = wait_for(lambda: events(log, sid, "flag_raised"))
    assert flags[0]["flag"] == "out_of_band"
    assert flags[0]["evidence"] == [late[0]["seq"]]
    assert "late.txt" in flags[0]["reason"]


def test_moves_touches_duplicates_and_ignored_paths(session) -> None:
    log, sid, ws, watcher = session
    with Action(log, sid, "c2"):
        (ws / "a.txt").rename(ws / "b.txt")
        (ws / "keep.txt").touch()  # same content: not a change
        for i in range(20):  # many writes in a burst: one event
            (ws / "burst.txt").write_text(f"{i}\n")
        (ws / "__pycache__").mkdir()
        (ws / "__pycache__" / "x.pyc").write_bytes(b"\x00junk")
        (ws / "sub" / "deep").mkdir(parents=True)
        (ws / "sub" / "deep" / "f.txt").write_text("deep\n")
    assert watcher.flush()
    changes = events(log, sid, "file_changed")
    by_path = {e["path"]: e for e in changes}
    assert by_path["a.txt"]["change"] == "moved" and by_path["a.txt"]["dest_path"] == "b.txt"
    assert by_path["a.txt"]["before_hash"] == by_path["a.txt"]["after_hash"] == sha("one\n")
    assert [e["path"] for e in changes].count("burst.txt") == 1
    assert by_path["burst.txt"]["after_hash"] == sha("19\n")
    assert "keep.txt" not in by_path
    assert not any("__pycache__" in e["path"] for e in changes)
    assert by_path[str(Path("sub/deep/f.txt"))]["change"] == "created"


def test_git_refs_are_reported_not_git_internals(session) -> None:
    log, sid, ws, watcher = session
    old = git(ws, "rev-parse", "HEAD").strip()
    with Action(log, sid, "commit"):
        (ws / "a.txt").write_text("changed\n")
        git(ws, "commit", "-qam", "change a")
        git(ws, "checkout", "-q", "-b", "feature")
    assert watcher.flush()
    new = git(ws, "rev-parse", "HEAD").strip()
    changes = events(log, sid, "file_changed")
    assert not any(e["path"].startswith(".git") for e in changes)
    refs = {e["path"]: e for e in changes if e["change"] == "ref"}
    assert (
        refs["refs/heads/main"]["before_hash"] == old
        and refs["refs/heads/main"]["after_hash"] == new
    )
    assert refs["refs/heads/feature"]["before_hash"] is None
    assert "refs/heads/feature" in refs["HEAD"]["diff"]
    assert all(e["call_id"] == "commit" for e in changes)


def test_changes_after_the_grace_period_are_out_of_band(session) -> None:
    log, sid, ws, watcher = session
    with Action(log, sid, "quick"):
        pass
    time.sleep(watcher.grace_s + 0.2)
    (ws / "sneaky.txt").write_text("x\n")
    assert watcher.flush()
    [change] = events(log, sid, "file_changed")
    assert change["call_id"] is None
    [flag] = events(log, sid, "flag_raised")
    assert flag["flag"] == "out_of_band" and flag["evidence"] == [change["seq"]]


def test_watcher_ignores_other_sessions_actions(log: AuditLog, make_repo) -> None:
    ws = make_repo()
    sid = log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(ws)))
    other = log.start_session(SessionStartedPayload(task="o", agent="test", workspace=str(ws)))
    with Watcher(log, sid, ws) as watcher, Action(log, other, "not-mine"):
        (ws / "f.txt").write_text("x\n")
        assert watcher.flush()
    [change] = events(log, sid, "file_changed")
    assert change["call_id"] is None
    assert not events(log, other, "file_changed")


def test_moves_between_directories_and_out_of_the_workspace(session, tmp_path: Path) -> None:
    log, sid, ws, watcher = session
    (ws / "src").mkdir()
    (ws / "src" / "m.py").write_text("x = 1\n")
    (ws / "newtop").mkdir()
    assert watcher.flush()
    flags_before = len(events(log, sid, "flag_raised"))  # the setup above was out of band
    with Action(log, sid, "c4"):
        (ws / "src" / "m.py").rename(ws / "newtop" / "m.py")
        (ws / "keep.txt").rename(tmp_path / "moved-out.txt")  # seen as a deletion, 0.5 s late
    assert watcher.flush(settle=0.8)
    changes = [e for e in events(log, sid, "file_changed") if e["call_id"] == "c4"]
    summary = {(e["path"], e["change"], e.get("dest_path")) for e in changes}
    assert summary == {("src/m.py", "moved", "newtop/m.py"), ("keep.txt", "deleted", None)}
    assert len(events(log, sid, "flag_raised")) == flags_before


def test_plain_directory_without_git(log: AuditLog, tmp_path: Path) -> None:
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / "f.txt").write_text("a\n")
    sid = log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(ws)))
    with Watcher(log, sid, ws) as watcher:
        with Action(log, sid, "p1"):
            (ws / "f.txt").write_text("b\n")
        assert watcher.flush()
    [change] = events(log, sid, "file_changed")
    assert (change["path"], change["change"], change["call_id"]) == ("f.txt", "modified", "p1")
    assert change["diff"].splitlines()[-2:] == ["-a", "+b"]


def test_two_actions_editing_one_file_get_one_change_each(session) -> None:
    """Edits of one file by consecutive actions are recorded as two changes,
    each credited to its action with its own diff (they were once merged into
    one change credited to the first). The watcher flushes its batch when an
    action starts; the wait below stands for the agent's turn between calls,
    so the test does not depend on how fast inotify is on a loaded machine."""
    log, sid, ws, watcher = session
    with Action(log, sid, "first"):
        (ws / "a.txt").write_text("one\ntwo\n")
    assert wait_for(lambda: events(log, sid, "file_changed"))
    with Action(log, sid, "second"):
        (ws / "a.txt").write_text("one\ntwo\nthree\n")
    watcher.flush()
    changes = [c for c in events(log, sid, "file_changed") if c["path"] == "a.txt"]
    assert [c["call_id"] for c in changes] == ["first", "second"]
    assert "+three" not in (changes[0]["diff"] or "") and "+three" in changes[1]["diff"]


def test_a_change_seen_after_the_next_action_started_goes_to_the_one_that_declared_it(
    log: AuditLog, tmp_path: Path
) -> None:
    """A write's event can reach the watcher after the next action started
    (faster calls make that likelier): between the ended action and the new
    one, the one whose facts said it writes the path gets the change."""
    sid = log.start_session(SessionStartedPayload(task="t", agent="test"))
    watcher = Watcher(log, sid, tmp_path)  # not started: its log hook is called directly
    note = watcher._on_log_event  # noqa: SLF001 - driving the attribution alone
    fix = {"call_id": "fix", "facts": {"writes": [str(tmp_path / "calc.py")]}}
    note(sid, 1, "policy_decided", fix)
    note(sid, 2, "action_started", {"call_id": "fix"})
    note(sid, 3, "action_finished", {"call_id": "fix"})
    note(sid, 4, "policy_decided", {"call_id": "tests", "facts": {"writes": []}})
    note(sid, 5, "action_started", {"call_id": "tests"})
    seen = time.monotonic()
    assert watcher.attribute(seen, path="calc.py") == "fix"
    assert watcher.attribute(seen, path="report.xml") == "tests"
    assert watcher.attribute(seen) == "tests"
    assert watcher.attribute(seen + 5, path="calc.py") == "tests"  # fix's grace is over
