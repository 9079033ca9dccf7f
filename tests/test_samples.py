"""The sample sessions shipped in logs/samples/ import and verify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = sorted((Path(__file__).resolve().parent.parent / "logs" / "samples").glob("*.jsonl"))


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_imports_and_verifies(sample, tmp_path):
    db = str(tmp_path / "a.db")
    imported = subprocess.run(
        [sys.executable, "-m", "overseer", "import", str(sample), "--log", db],
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    verified = subprocess.run(
        [sys.executable, "-m", "overseer", "verify", "--all", "--log", db],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0 and " ok " in verified.stdout, verified.stdout
    session_id = imported.stdout.split()[2].rstrip(":")  # "imported session ID: N events..."
    shown = subprocess.run(
        [sys.executable, "-m", "overseer", "show", session_id, "--log", db],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and "session ended: completed" in shown.stdout


def test_there_is_a_bisect_sample():
    assert any("bisect" in p.name for p in SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_sample_verifies_anywhere_with_its_verifier_key(sample, tmp_path):
    """What logs/README.md promises an auditor: the file and the key, no DB."""
    env = {**os.environ, "OVERSEER_HOME": str(tmp_path / "never-ran-overseer")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "overseer",
            "verify",
            str(sample),
            "--key",
            str(sample.with_suffix(".vkey")),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 0 and "signed checkpoint at tree size" in res.stdout, res.stdout
    assert not (tmp_path / "never-ran-overseer").exists()
