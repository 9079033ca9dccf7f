"""The shipping benchmark runs (tiny, against a real PostgreSQL; no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "bench" / "ship.py"


def test_ship_bench_smoke() -> None:
    res = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    figures = json.loads(res.stdout)
    assert figures["shipped_events_per_s"] > 0 and figures["call_ratio"] > 0
