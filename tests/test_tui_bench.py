"""The replay benchmark runs on its own (`tests/bench/replay.py --smoke`) and
its generator writes sessions whose hash chains verify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from overseer.log import AuditLog
from tests.bench.replay import generate_session

ROOT = Path(__file__).resolve().parent.parent


def test_generated_sessions_verify_and_have_the_asked_size(log_path: Path) -> None:
    sid = generate_session(log_path, 1_000, session_id="gen")
    with AuditLog(log_path, create=False) as log:
        [result] = log.verify(sid)
        kinds = {e.kind for e in log.events(sid)}
    assert result.ok and result.events == 1_000
    assert {"approval_decided", "file_changed", "flag_raised", "model_turn"} <= kinds


def test_benchmark_smoke_run() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "bench" / "replay.py"), "--smoke", "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "first screen" in res.stdout and "jump to end" in res.stdout
    [timing] = json.loads(res.stdout.strip().splitlines()[-1])
    assert timing["events"] == 300
    assert 0 < timing["first_screen_s"] < 5 and 0 < timing["jump_end_s"] < 5
