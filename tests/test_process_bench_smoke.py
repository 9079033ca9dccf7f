"""The whole-process mediation benchmark runs (tiny, no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "bench" / "process.py"


def test_process_bench_smoke() -> None:
    res = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", "--sandbox", "none", "--floor"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rounds"] == 1 and out["spawn_ms"] > 0 and len(out["ratios"]) == 1
    assert out["floor_ms"] > 0 and out["floor_ratio"] > 0
