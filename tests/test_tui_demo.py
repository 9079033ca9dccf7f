"""`overseer demo` in a real terminal: tmux at 120x40, the approvals and the
question answered with keys, and "first bad commit" read off the screen —
what a person trying overseer for the first time sees."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to drive a real terminal"),
]

OVERSEER = Path(sys.executable).with_name("overseer")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen(name: str) -> str:
    return tmux("capture-pane", "-p", "-t", name)


def test_demo_in_tmux_answers_with_keys_and_shows_the_first_bad_commit(tmp_path: Path) -> None:
    name = f"overseer-demo-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    command = (
        f"{OVERSEER} demo --dir {tmp_path / 'shopcart'} --log {tmp_path / 'audit.db'}; "
        f"echo $? > {done}; sleep 600"
    )
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "40", command],
        check=True,
        env=env,
    )
    answered: list[str] = []
    report = ""
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            text = screen(name)
            # The report is drawn over a few frames: wait until all of it is there.
            if (
                "Session" in text
                and re.search(r"first bad commit [0-9a-f]{40}", text)
                and "Speed up discount computation" in text
                and "Evidence from the audit log" in text
            ):
                report = text
                break
            call = re.search(r"call (b\d+)", text)
            if "Approval needed" in text and call and call.group(1) not in answered:
                answered.append(call.group(1))
                tmux("send-keys", "-t", name, "y")
            elif "The agent asks" in text and call and call.group(1) not in answered:
                answered.append(call.group(1))
                tmux("send-keys", "-t", name, "1")  # yes: draft the revert
            time.sleep(0.3)
        assert report, f"the final report never appeared; last screen:\n{screen(name)}"
        first_bad = re.search(r"first bad commit ([0-9a-f]{40})", report)
        assert first_bad, report
        assert "Speed up discount computation" in report  # the planted regression
        assert len(answered) >= 2, answered  # the question and at least one approval, by keys
        tmux("send-keys", "-t", name, "q")  # on the report, q quits
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.exists(), f"overseer did not exit after q:\n{screen(name)}"
        assert done.read_text().strip() == "0"
        # The report is printed once more when the UI closes, and only once.
        after = screen(name)
        assert len(re.findall(rf"^first bad commit {first_bad.group(1)}$", after, re.M)) == 1, after
    finally:
        tmux("kill-session", "-t", name)
