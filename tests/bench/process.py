"""Benchmark: a mediated call in a whole `overseer run` process vs spawning bash (issue 16).

What a user pays: ``overseer run --agent script:PLAN.json --headless
--approver approve-all`` with a plan of N ``shell true`` steps, as a
separate process (start-up, session start and end, seals, the headless
printer, the flag observer, the watcher — everything). The marginal cost of
one mediated call is (time for N_LARGE steps - time for N_SMALL steps) /
(N_LARGE - N_SMALL), so start-up and session end cancel out.

A second reading of the same quantity, without start-up noise (a process
start varies by tens of ms, which spread over 200 calls is a fraction of a
millisecond per call): the log's own clock, from the first call's proposal
(after a few warm-up calls: the first starts the shell) to the last
call's proposal in the large run, over the calls in between.
Both readings include everything a real run does per call.

The baseline is ``subprocess.run(["bash", "-c", "true"])`` from Python,
timed in the same rounds. Target: marginal mediated call <= 0.5x a spawn.
Rounds alternate (spawns, small run, large run) and the verdict is the
median of the per-round ratios of the log-clock reading: fsync latency on a
shared disk drifts.

The floor, timed in the same rounds (``--floor``): what any mediation of a
call must pay on this machine with no Python of overseer's at all — the
store's own SQL for one call (the fsync'd commit of proposal, decision and
start, then the finish's commit without fsync, through the log's connection
and schema) and one round trip of the raw persistent shell (the tool, no
broker). The ratio of the floor to a spawn says how close 0.5x can come here.

Run: python tests/bench/process.py [--smoke] [--rounds N] [--sandbox auto|none] [--floor]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WARM_CALLS = 5  # the log-clock reading starts after these (shell start-up, caches)


def spawn_ms(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["bash", "-c", "true"], check=True)
    return (time.perf_counter() - t0) / n * 1000


def workspace(root: Path) -> Path:
    ws = root / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("bench\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=ws, check=True, env=env, capture_output=True)
    return ws


def plan(root: Path, n: int) -> Path:
    path = root / f"plan-{n}.json"
    steps = [{"tool": "shell", "args": {"command": "true"}} for _ in range(n)]
    path.write_text(json.dumps({"task": f"{n} x true", "steps": steps, "final": "done"}))
    return path


def run_ms(root: Path, ws: Path, n: int, sandbox: str, home: Path) -> tuple[float, float]:
    """Wall time of one whole `overseer run` of n steps, and the per-call
    interval the log's clock shows between its first and last call."""
    db = root / f"audit-{n}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    env = {**os.environ, "OVERSEER_HOME": str(home), "OVERSEER_LOG": str(db)}
    env.pop("OVERSEER_SHIP", None)
    argv = [sys.executable, "-m", "overseer", "run", "--agent", f"script:{plan(root, n)}"]
    argv += ["--repo", str(ws), "--headless", "--approver", "approve-all", "--sandbox", sandbox]
    t0 = time.perf_counter()
    res = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ws)
    dt = (time.perf_counter() - t0) * 1000
    if res.returncode != 0:
        raise SystemExit(f"overseer run failed ({res.returncode}): {res.stderr[-2000:]}")
    with sqlite3.connect(db) as conn:
        proposed = [
            ts
            for (ts,) in conn.execute(
                "SELECT ts FROM events WHERE kind='action_proposed' ORDER BY seq"
            )
        ]
    if len(proposed) != n:
        raise SystemExit(f"overseer run recorded {len(proposed)} calls, expected {n}")
    # From the second call on: the first one starts the persistent shell.
    skip = min(WARM_CALLS, n - 2)
    return dt, (proposed[-1] - proposed[skip]) / 1e6 / (n - 1 - skip)


def commit_floor_ms(root: Path, n: int) -> float:
    """One call's SQL as the store issues it: a durable 3-row insert, then
    the finish's 1-row insert at synchronous=NORMAL (events of a real call)."""
    sys.path.insert(0, str(ROOT))
    from overseer.events import SessionStartedPayload
    from overseer.log import AuditLog

    with AuditLog(root / "floor.db") as log:
        sid = log.start_session(SessionStartedPayload(task="floor", agent="bench"))
        batch = [
            log._prepare(
                sid,
                "action_proposed",
                {"call_id": "c", "tool": "shell", "args": {"command": "true"}},
            ),
            log._prepare(
                sid, "policy_decided", {"call_id": "c", "decision": "allow", "rule": "inspect"}
            ),
            log._prepare(
                sid,
                "action_started",
                {"call_id": "c", "tool": "shell", "args_hash": "h", "decided_by": "policy"},
            ),
        ]
        finish = [
            log._prepare(sid, "action_finished", {"call_id": "c", "tool": "shell", "status": "ok"})
        ]

        def one() -> None:
            with log._lock:
                log._insert(sid, batch)
                with log._synchronous("NORMAL"):
                    log._insert(sid, finish)

        for _ in range(20):
            one()
        t0 = time.perf_counter()
        for _ in range(n):
            one()
        return (time.perf_counter() - t0) / n * 1000


def shell_floor_ms(ws: Path, n: int, sandbox: str) -> float:
    """One raw round trip of the persistent shell (`true`), as the tool runs it."""
    sys.path.insert(0, str(ROOT))
    from overseer.tools.shell import ShellArgs, ShellTool

    from overseer.sandbox import resolve_sandbox
    from overseer.toolapi import ToolContext

    tool = ShellTool()
    ctx = ToolContext(
        workspace=ws, session_id="floor", sandbox=resolve_sandbox(sandbox, protect=[])
    )
    args = ShellArgs(command="true")
    try:
        for _ in range(10):
            tool.run(args, ctx)
        t0 = time.perf_counter()
        for _ in range(n):
            tool.run(args, ctx)
        return (time.perf_counter() - t0) / n * 1000
    finally:
        tool.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "none"])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--floor", action="store_true", help="also time the floor (SQL + raw shell)")
    opts = ap.parse_args(argv)
    small, large = (2, 6) if opts.smoke else (50, 250)
    rounds = 1 if opts.smoke else max(1, opts.rounds)
    ratios: list[float] = []
    marginals: list[float] = []
    clocked: list[float] = []
    wall_ratios: list[float] = []
    spawns: list[float] = []
    floors: list[float] = []
    floor_ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = workspace(root)
        home = root / "home"
        if not opts.smoke:
            run_ms(root, ws, small, opts.sandbox, home)  # warm: key creation, page cache
        for _ in range(rounds):
            spawn = spawn_ms(20 if opts.smoke else 200)
            t_small, _ = run_ms(root, ws, small, opts.sandbox, home)
            t_large, per_call = run_ms(root, ws, large, opts.sandbox, home)
            marginal = (t_large - t_small) / (large - small)
            spawns.append(spawn)
            marginals.append(marginal)
            clocked.append(per_call)
            wall_ratios.append(marginal / spawn)
            ratios.append(per_call / spawn)
            if opts.floor:
                n = 20 if opts.smoke else 300
                floor = commit_floor_ms(root, n) + shell_floor_ms(ws, n, opts.sandbox)
                floors.append(floor)
                floor_ratios.append(floor / spawn)
    ratio = statistics.median(ratios)
    result = {
        "sandbox": opts.sandbox,
        "rounds": rounds,
        "spawn_ms": statistics.median(spawns),
        "mediated_ms": statistics.median(clocked),
        "marginal_wall_ms": statistics.median(marginals),
        "ratio": ratio,
        "ratios": ratios,
        "wall_ratio": statistics.median(wall_ratios),
    }
    if floors:
        result["floor_ms"] = statistics.median(floors)
        result["floor_ratio"] = statistics.median(floor_ratios)
    if opts.json:
        print(json.dumps(result))
        return 0
    print(f"whole `overseer run` process, --sandbox {opts.sandbox}, {rounds} paired rounds")
    print(f"  bash -c true spawn:         {result['spawn_ms']:.3f} ms (median)")
    print(f"  mediated call, log clock:   {result['mediated_ms']:.3f} ms (median)")
    print(f"  per-round ratios: {', '.join(f'{r:.2f}' for r in ratios)}")
    print(
        f"  mediated call, (T{large} - T{small}) / {large - small}: "
        f"{result['marginal_wall_ms']:.3f} ms, {result['wall_ratio']:.2f}x spawn "
        f"(per round: {', '.join(f'{r:.2f}' for r in wall_ratios)})"
    )
    if floors:
        print(
            f"  floor (the store's SQL for a call + raw shell round trip): "
            f"{result['floor_ms']:.3f} ms, {result['floor_ratio']:.2f}x spawn "
            f"(per round: {', '.join(f'{r:.2f}' for r in floor_ratios)})"
        )
    verdict = "(smoke: not judged)" if opts.smoke else ("ok" if ratio <= 0.5 else "MISSED")
    print(f"  mediated / spawn: {ratio:.2f}x  (target <= 0.5x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
