"""The policy benchmark runs (tiny, no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "bench" / "policy.py"


def test_policy_bench_smoke() -> None:
    res = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    import json

    out = json.loads(res.stdout)
    assert out["policy"]["calls"] == 300
    assert out["policy"]["cold_per_s"] > 0
    assert sum(out["policy"]["decisions"].values()) == 300
