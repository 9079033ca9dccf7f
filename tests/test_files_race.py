"""Issue 13 item 4, end to end: a process flips a workspace path between a
target inside and one outside while allowed file-tool calls run through the
real session (real broker, shipped default policy, watcher, persistent
shell). Before the fix, 7 of 10 allowed writes landed outside; now none may.

Two attackers: a background loop left running in the real persistent shell
that re-points a symlink (`ln -sfn` + `mv -T`, atomic), and a process that
swaps a real directory with a symlink leading outside (renameat2
RENAME_EXCHANGE: there is never a moment without one or the other).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.session import Session, SessionConfig
from overseer.toolapi import ToolCall
from tests.helpers.records import with_seq as events

CALLS = 120

EXCHANGER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
ws, stop = sys.argv[1], sys.argv[2]
fd = os.open(ws, os.O_RDONLY | os.O_DIRECTORY)
swaps = 0
print("ready", flush=True)
while not os.path.exists(stop):
    if libc.renameat2(fd, b"d", fd, b"d.swap", 2) == 0:  # RENAME_EXCHANGE
        swaps += 1
    # A breath between swaps: flat out, the flood of inotify events buries
    # the session's watcher, and the race is as open with a pause.
    time.sleep(0.001)
print(swaps, flush=True)
"""


def shell_only(req: ApprovalRequest) -> ApprovalDecision:
    """The person approves starting the loop (they did not see it coming);
    every other ask is denied, so only what the policy allowed runs."""
    if req.tool == "shell":
        return ApprovalDecision(decision="approve", by="tester", args_hash=req.args_hash)
    return ApprovalDecision(decision="deny", by="tester", reason="not this time")


class Approver:
    name = "shell-only"

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        return shell_only(req)


def open_session(ws: Path, log_path: Path, *, watch: bool = True) -> Session:
    config = SessionConfig(
        task="race", agent="test", workspace=ws, sandbox="auto", log_path=log_path, watch=watch
    )
    return Session.open(config, approver=Approver())


def decided(session: Session) -> dict[str, str]:
    return {
        e["call_id"]: e["decided_by"] for e in events(session.log, session.id, "action_started")
    }


def finished(session: Session) -> dict[str, Any]:
    return {e["call_id"]: e for e in events(session.log, session.id, "action_finished")}


def test_a_symlink_flipped_by_the_real_shell_sends_no_write_outside(
    make_repo: Any, log_path: Path, tmp_path: Path
) -> None:
    ws = make_repo({"README.md": "# race\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "inside").mkdir()
    (ws / "link").symlink_to("inside")
    session = open_session(ws, log_path)
    try:
        loop = (
            "while [ ! -e stop ]; do ln -sfn inside l.tmp && mv -T l.tmp link; "
            f"ln -sfn {outside} l.tmp && mv -T l.tmp link; done"
        )
        r = session.broker.submit(
            ToolCall(id="flip", name="shell", args={"command": f"({loop}) >/dev/null 2>&1 &"})
        )
        assert r.status == "ok", r.output
        for i in range(CALLS):
            session.broker.submit(
                ToolCall(
                    id=f"w{i}",
                    name="write_file",
                    args={"path": f"link/f{i}.txt", "content": "x\n"},
                )
            )
        (ws / "stop").write_text("")
        time.sleep(0.2)
        assert list(outside.iterdir()) == []
        by = decided(session)
        allowed = [c for c in by if c.startswith("w") and by[c] == "policy"]
        # The race was really run: the policy judged many writes while the
        # link pointed inside, and allowed them...
        assert len(allowed) > 5, by
        # ...and the tool refused each, because it does not follow the link.
        results = finished(session)
        for c in allowed:
            assert results[c]["status"] == "error", results[c]
            assert "symbolic link" in results[c]["output"], results[c]
        assert not list((ws / "inside").iterdir())
    finally:
        (ws / "stop").write_text("")
        session.end("completed")


def test_a_directory_swapped_with_a_symlink_sends_no_read_or_write_outside(
    make_repo: Any, log_path: Path, tmp_path: Path
) -> None:
    ws = make_repo({"README.md": "# race\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n")
    (ws / "d").mkdir()
    (ws / "d" / "secret.txt").write_text("inside\n")
    (ws / "d.swap").symlink_to(outside)
    # No watcher here: thousands of directory swaps a second turn into as
    # many file_changed records, which would make this test slow, not stronger.
    session = open_session(ws, log_path, watch=False)
    proc = subprocess.Popen(
        [sys.executable, "-c", EXCHANGER, str(ws), str(tmp_path / "stop")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        reads = []
        for i in range(CALLS):
            session.broker.submit(
                ToolCall(
                    id=f"w{i}",
                    name="write_file",
                    # A few names, rewritten: each swap makes the watcher
                    # rescan the directory, so it is kept small.
                    args={"path": f"d/f{i % 8}.txt", "content": f"{i}\n"},
                )
            )
            reads.append(
                session.broker.submit(
                    ToolCall(id=f"r{i}", name="read_file", args={"path": "d/secret.txt"})
                )
            )
    finally:
        (tmp_path / "stop").write_text("")
        out, _ = proc.communicate(timeout=30)
        session.end("completed")
    assert int(out.split()[-1]) > 100  # the swap really ran, all along
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "TOP SECRET\n"
    assert all("TOP SECRET" not in r.output for r in reads)
    by = decided(session)
    results = finished(session)
    allowed = [c for c in by if by[c] == "policy"]
    assert len([c for c in allowed if c.startswith("w")]) > 5
    ok_writes = [c for c in allowed if c.startswith("w") and results[c]["status"] == "ok"]
    # What was written went into the directory that was opened (which the
    # swapper may since have renamed to d.swap): inside the workspace.
    found = {name for _dir, _subdirs, names in os.walk(ws) for name in names}
    assert {results[c]["data"]["path"].rsplit("/", 1)[-1] for c in ok_writes} <= found
    assert any(r.output == "inside\n" for r in reads)
