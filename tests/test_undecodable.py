"""Undecodable text — a lone surrogate in a str — reaches overseer from a
model's JSON (``"\\udc80"``), from file names and arguments Python decoded
with ``surrogateescape``, and from tool output. It has no UTF-8 form, so it
once made the proposal unwritable, and the broker then failed the whole
session. It must be recorded exactly, verified, exported and read back, and
the session must go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from overseer.approval import DenyAll
from overseer.broker import Broker
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.log.jsonl import import_session
from overseer.toolapi import ToolCall
from tests.helpers.fakes import EchoTool, FixedPolicy
from tests.helpers.sessions import overseer

ODD = "bad \udc80 bytes, caf\u00e9"


def test_a_lone_surrogate_is_recorded_exactly_and_the_session_goes_on(log_path: Path, tmp_path):
    with AuditLog(log_path) as log:
        sid = log.start_session(
            SessionStartedPayload(task="fix \udcff it", agent="test", workspace=str(tmp_path))
        )
        tool = EchoTool()
        broker = Broker(
            log, sid, {"echo": tool}, FixedPolicy({"echo": "allow"}), DenyAll(), tmp_path
        )
        odd = broker.submit(ToolCall(id="c1", name="echo", args={"text": ODD}))
        fine = broker.submit(ToolCall(id="c2", name="echo", args={"text": "fine"}))
        assert odd.status == "ok" and fine.status == "ok" and broker.failure is None
        assert [r.text for r in tool.runs] == [ODD, "fine"]
        proposed = [e.payload for e in log.events(sid, kinds=["action_proposed"])]
        assert proposed[0]["args"] == {"text": ODD}  # exactly what the model sent
        started = next(iter(log.events(sid, kinds=["session_started"]))).payload
        assert started["task"] == "fix \udcff it"
        assert log.session(sid)["task"] == "fix \\udcff it"  # the plain column: a visible escape
        log.end_session(sid, "completed", "done")
        assert log.verify(sid)[0].ok

    # Every reader copes: the transcript (the real command, its output strict
    # UTF-8 as under a typical en_US.UTF-8 locale), the reports, JSONL.
    show = subprocess.run(
        [sys.executable, "-m", "overseer", "show", sid, "--log", str(log_path)],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        timeout=120,
    )
    assert show.returncode == 0, show.stderr
    assert b'text="bad \\udc80 bytes' in show.stdout
    as_json = overseer("show", sid, "--json", "--log", str(log_path))
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["events"][1]["payload"]["args"] == {"text": ODD}
    for fmt in ("html", "md"):
        out = tmp_path / f"report.{fmt}"
        res = overseer("export", sid, "--format", fmt, "-o", str(out), "--log", str(log_path))
        assert res.returncode == 0, res.output
        assert "bad \\udc80 bytes" in out.read_text(encoding="utf-8")
    exported = tmp_path / "s.jsonl"
    res = overseer("export", sid, "--format", "jsonl", "-o", str(exported), "--log", str(log_path))
    assert res.returncode == 0, res.output
    with AuditLog(tmp_path / "other.db") as other:
        assert import_session(other, exported).ok
        args = next(iter(other.events(sid, kinds=["action_proposed"]))).payload["args"]
        assert args == {"text": ODD}
