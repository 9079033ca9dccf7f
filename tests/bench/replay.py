"""Replay benchmark: time to the first screen and to jump to the end.

Generates sessions of 1k, 10k and 100k events straight into an audit DB
(``executemany`` with valid hash chains computed by ``overseer.canonical``),
opens each in ``ReplayApp`` headless at 120x40 and measures

- first screen: from opening the session to the timeline's first paint;
- jump to end: from pressing ``end`` to the paint showing the last event.

Targets (DESIGN.md): 100k events, first screen <= 1 s, jump to end <= 0.3 s.

    .venv/bin/python tests/bench/replay.py            # 1k, 10k, 100k
    .venv/bin/python tests/bench/replay.py --smoke    # one tiny session
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `tests` and `overseer` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from overseer.canonical import GENESIS, canonical_json, chain_hash, event_body, sha256_hex
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog

BASE_TS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, fixed so snapshots do not drift
TARGET_FIRST_S = 1.0
TARGET_JUMP_S = 0.3

COMMANDS = [
    "pytest -x tests/test_cart.py",
    "git log --oneline -5",
    "ls -la src",
    "cat src/cart.py",
    "git diff HEAD~1",
    "python -m pip list",
    "grep -rn discount src",
]


def _payloads(i: int) -> list[tuple[str, dict[str, Any]]]:
    """The events of the i-th tool call: a realistic mix of allows, asks,
    denials, file changes, model turns and the odd flag."""
    call = f"c{i}"
    command = COMMANDS[i % len(COMMANDS)]
    args = {"command": command, "timeout": 120}
    out: list[tuple[str, dict[str, Any]]] = []
    if i % 5 == 0:
        out.append(
            (
                "model_turn",
                {
                    "turn": i // 5,
                    "text": f"Step {i}: running {command.split()[0]} to check.",
                    "tool_calls": [{"name": "shell", "id": call}],
                    "duration_ms": 900,
                },
            )
        )
    out.append(
        ("action_proposed", {"call_id": call, "tool": "shell", "args": args, "source": "agent"})
    )
    ahash = sha256_hex(canonical_json({"args": args, "tool": "shell"}))
    asked = i % 4 == 1
    decision = "ask" if asked else "allow"
    out.append(
        (
            "policy_decided",
            {
                "call_id": call,
                "decision": decision,
                "rule": "shell.tests" if not asked else None,
                "reason": "runs the tests" if not asked else "not known to be safe",
                "parts": [],
                "args_hash": ahash,
                "facts": {"commands": [command]},
            },
        )
    )
    if asked:
        denied = i % 12 == 1
        out.append(
            (
                "approval_requested",
                {
                    "call_id": call,
                    "tool": "shell",
                    "args": args,
                    "args_hash": ahash,
                    "preview": command,
                    "rule": None,
                    "reason": "not known to be safe",
                    "parts": [],
                    "approver": "tui",
                    "timeout_s": 600,
                },
            )
        )
        out.append(
            (
                "approval_decided",
                {
                    "call_id": call,
                    "decision": "deny" if denied else "approve",
                    "by": "alice@host" if i % 3 else "bob@host",
                    "reason": "not in this task" if denied else "",
                    "args_hash": ahash,
                    "latency_ms": 1500 + i % 700,
                },
            )
        )
        if denied:
            out.append(
                (
                    "action_finished",
                    {
                        "call_id": call,
                        "tool": "shell",
                        "status": "denied",
                        "output": "denied by alice@host: not in this task",
                        "output_size": 38,
                        "error": "denied by alice@host: not in this task",
                    },
                )
            )
            return out
    out.append(
        (
            "action_started",
            {
                "call_id": call,
                "tool": "shell",
                "args": args,
                "args_hash": ahash,
                "decided_by": "policy" if not asked else "approver:alice@host",
                "sandbox": "none",
            },
        )
    )
    output = "".join(f"line {n} of output for {command}\n" for n in range(1 + i % 6))
    out.append(
        (
            "action_finished",
            {
                "call_id": call,
                "tool": "shell",
                "status": "ok" if i % 9 else "failed",
                "exit_code": 0 if i % 9 else 1,
                "output": output,
                "output_size": len(output),
                "duration_ms": 40 + i % 300,
            },
        )
    )
    if i % 7 == 3:
        out.append(
            (
                "file_changed",
                {
                    "path": "src/cart.py",
                    "change": "modified",
                    "call_id": call,
                    "diff": f"--- a/src/cart.py\n+++ b/src/cart.py\n@@ -1,2 +1,2 @@\n-rate = {i}\n+rate = {i + 1}\n",
                },
            )
        )
    if i % 97 == 50:
        out.append(
            (
                "flag_raised",
                {
                    "flag": "reward_hacking",
                    "reason": "a test was skipped",
                    "evidence": [],
                    "call_id": call,
                },
            )
        )
    return out


def generate_session(
    path: Path, n_events: int, session_id: str = "bench0000001", task: str = "benchmark session"
) -> str:
    """Write a session of about ``n_events`` events (exactly, counting the
    start and end) into the audit DB at ``path``, hash chain intact."""
    with AuditLog(path):
        pass  # creates the schema
    conn = sqlite3.connect(str(path), isolation_level=None)
    started = SessionStartedPayload(
        task=task,
        agent="script",
        policy_name="default",
        workspace="/work/shopcart",
        sandbox="none",
        versions={"python": "3.11"},
    )
    events: list[tuple[str, dict[str, Any]]] = [
        ("session_started", started.model_dump(mode="json"))
    ]
    i = 0
    while len(events) < n_events - 1:
        events += _payloads(i)
        i += 1
    del events[n_events - 1 :]
    events.append(
        ("session_ended", {"status": "completed", "final": "done", "summary": {}, "error": None})
    )
    rows = []
    prev = GENESIS
    for seq, (kind, payload) in enumerate(events, 1):
        ts = BASE_TS + seq * 250_000_000
        text = canonical_json(payload, check=False)
        ph = sha256_hex(event_body(session_id, ts, kind, text))
        h = chain_hash(prev, seq, ph)
        rows.append((session_id, seq, ts, kind, text, ph, prev, h))
        prev = h
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO sessions (id, task, agent, model, workspace, started, ended, status, policy)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (
            session_id,
            task,
            "script",
            None,
            "/work/shopcart",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T07:00:00.000Z",
            "completed",
            "default",
        ),
    )
    conn.executemany(
        "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()
    return session_id


@dataclass
class Timing:
    events: int
    first_screen_s: float
    jump_end_s: float


async def measure(path: Path, session_id: str, size: tuple[int, int] = (120, 40)) -> Timing:
    from overseer.tui.index import EventIndex
    from overseer.tui.replay import ReplayApp
    from overseer.tui.timeline import Timeline

    start = time.monotonic()
    app = ReplayApp(EventIndex.from_db(path, session_id))
    async with app.run_test(size=size) as pilot:
        timeline = app.query_one(Timeline)
        while timeline.rendered_at == 0.0:
            await asyncio.sleep(0.001)
        first = timeline.rendered_at - start
        await pilot.pause()
        pressed = time.monotonic()
        await pilot.press("end")
        last = timeline.row_count - 1
        while not (timeline.cursor == last and timeline.rendered_at > pressed):
            await asyncio.sleep(0.001)
        jump = timeline.rendered_at - pressed
        await pilot.press("q")
    return Timing(len(app.index), first, jump)


def run(sizes: list[int], workdir: Path) -> list[Timing]:
    timings = []
    for n in sizes:
        db = workdir / f"replay-{n}.db"
        t0 = time.monotonic()
        sid = generate_session(db, n, session_id=f"bench{n:07d}")
        gen = time.monotonic() - t0
        timing = asyncio.run(measure(db, sid))
        timings.append(timing)
        print(
            f"{n:>8,} events  first screen {timing.first_screen_s * 1000:7.1f} ms   "
            f"jump to end {timing.jump_end_s * 1000:7.1f} ms   (generated in {gen:.2f} s)"
        )
    if len(timings) > 1:
        a, b = timings[0], timings[-1]
        print(
            f"growth {a.events:,} -> {b.events:,} events (x{b.events / a.events:.0f}): "
            f"first screen x{b.first_screen_s / a.first_screen_s:.2f}, jump x{b.jump_end_s / a.jump_end_s:.2f}"
        )
    big = [t for t in timings if t.events >= 100_000]
    for t in big:
        ok = t.first_screen_s <= TARGET_FIRST_S and t.jump_end_s <= TARGET_JUMP_S
        print(
            f"target at {t.events:,}: first screen <= {TARGET_FIRST_S} s, jump <= {TARGET_JUMP_S} s: "
            + ("met" if ok else "MISSED")
        )
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="one 300-event session, for CI")
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1_000, 10_000, 100_000]
    )
    parser.add_argument("--json", action="store_true", help="print the timings as JSON too")
    args = parser.parse_args(argv)
    sizes = [300] if args.smoke else args.sizes
    os.environ.setdefault("OVERSEER_HOME", tempfile.mkdtemp(prefix="overseer-bench-home-"))
    with tempfile.TemporaryDirectory(prefix="overseer-bench-replay-") as tmp:
        timings = run(sizes, Path(tmp))
    if args.json:
        print(json.dumps([t.__dict__ for t in timings]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
