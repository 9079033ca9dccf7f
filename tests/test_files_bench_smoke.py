"""The file-tools benchmark runs (tiny, no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent / "bench" / "files.py"


def test_files_bench_smoke() -> None:
    res = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.endswith("x")]
    assert any(r.startswith("read_file (walk)") for r in rows), res.stdout
    assert any(r.startswith("write_file") for r in rows), res.stdout
