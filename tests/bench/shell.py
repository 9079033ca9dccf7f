"""Benchmark: a mediated persistent-shell call vs spawning bash (issue 4).

Prints, from one run, median round trips of:
- ``subprocess.run(["bash", "-c", "true"])`` (the baseline: spawn a shell);
- the raw ``shell`` tool running ``true`` in its persistent bash;
- a mediated ``shell`` call through a real session: broker, the shipped
  default policy, the durable records (action_proposed, policy_decided,
  action_started, action_finished), the watcher's log subscription and the
  persistent shell (and the same in the bubblewrap sandbox when usable);
- the same raw call with pexpect's default ``delaybeforesend`` (50 ms), to
  show why the shell sets it to None.

Target: mediated <= 0.5x the spawn baseline. The two are timed in paired
rounds (a block of spawns, then a block of mediated calls in one session),
and the median of the per-round ratios is the verdict: fsync latency on a
shared disk drifts over a run, and a drift should move one round, not it.

Run: python tests/bench/shell.py [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from overseer.toolapi import ToolCall, ToolContext  # noqa: E402


def median_ms(fn: Callable[[int], object], n: int, warmup: int = 5) -> float:
    for i in range(warmup):
        fn(-1 - i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def spawn(n: int) -> float:
    return median_ms(lambda _i: subprocess.run(["bash", "-c", "true"], check=True), n)


def raw_tool(ws: Path, n: int, delay: float | None = None) -> float:
    from overseer.tools.shell import STATE_KEY, ShellArgs, ShellTool

    tool = ShellTool()
    ctx = ToolContext(workspace=ws, session_id="bench")
    args = ShellArgs(command="true")
    try:
        tool.run(args, ctx)
        if delay is not None:
            for shell in ctx.state[STATE_KEY].shells.values():
                shell.proc.delaybeforesend = delay
        return median_ms(lambda _i: tool.run(args, ctx), n, warmup=1 if delay else 5)
    finally:
        tool.close()


def make_repo(root: Path) -> Path:
    ws = root / "repo"
    ws.mkdir(parents=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    (ws / "README.md").write_text("bench\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *cmd], cwd=ws, check=True, env=env, capture_output=True)
    return ws


def durable_append(root: Path, n: int) -> float:
    from overseer.events import SessionStartedPayload
    from overseer.log import AuditLog

    with AuditLog(root / "append.db") as log:
        sid = log.start_session(SessionStartedPayload(task="bench", agent="bench"))
        payload = {"call_id": "c", "tool": "shell", "status": "ok", "exit_code": 0}
        return median_ms(lambda _i: log.append(sid, "action_finished", payload), n)


@contextlib.contextmanager
def mediated_session(root: Path, sandbox: str, watch: bool = True) -> Iterator[Any]:
    """A real session (default policy, deny-all approver: `true` is allowed
    without asking); yields a function making one mediated `shell true` call."""
    from overseer.session import Session, SessionConfig

    name = f"{sandbox}-{'watch' if watch else 'nowatch'}"
    ws = make_repo(root / f"ws-{name}")
    config = SessionConfig(
        task="bench",
        agent="bench",
        workspace=ws,
        approver="deny-all",
        sandbox=sandbox,
        log_path=root / f"audit-{name}.db",
        watch=watch,
    )
    session = Session.open(config)
    try:

        def call(i: int) -> None:
            r = session.broker.submit(ToolCall(id=f"c{i}", name="shell", args={"command": "true"}))
            if r.status != "ok":
                raise SystemExit(f"mediated call was not allowed/ok: {r.status} {r.output}")

        call.session = session  # type: ignore[attr-defined]
        yield call
    finally:
        session.end("completed")


def mediated(root: Path, n: int, sandbox: str, watch: bool = True) -> tuple[float, int]:
    with mediated_session(root, sandbox, watch) as call:
        ms = median_ms(call, n)
        return ms, call.session.log.count(call.session.id)


def paired(
    root: Path, rounds: int, n: int, sandbox: str = "none"
) -> list[tuple[float, float, float]]:
    """(ratio, spawn ms, mediated ms) per round, sorted. Each round times a
    block of spawns and then a block of mediated calls, so a slow spell of
    the disk or the host moves one round's pair, not the verdict."""
    out = []
    with mediated_session(root, sandbox) as call:
        median_ms(call, 20)  # warm up: the shell, the caches, the WAL
        for r in range(rounds):
            base = spawn(n)
            med = median_ms(lambda i, r=r: call(r * 100_000 + i), n, warmup=10)
            out.append((med / base, base, med))
    return sorted(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    opts = ap.parse_args(argv)
    n = 20 if opts.smoke else 150
    with tempfile.TemporaryDirectory(prefix="overseer-bench-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("OVERSEER_HOME", str(root / "home"))
        ws = root / "raw"
        ws.mkdir()
        rounds = 3 if opts.smoke else 11
        pairs = paired(root, rounds, n)
        ratio, base, med = pairs[len(pairs) // 2]
        raw = raw_tool(ws, n)
        unwatched, _ = mediated(root, n, "none", watch=False)
        append = durable_append(root, n)
        print(f"subprocess.run(['bash','-c','true']):            {base:7.3f} ms (median of {n})")
        print(f"persistent shell tool, raw:                      {raw:7.3f} ms")
        print(f"mediated shell call (broker, policy, log, watcher): {med:7.3f} ms")
        print(f"  same without the watcher:                      {unwatched:7.3f} ms")
        print(
            f"  one durable append (synchronous=FULL):         {append:7.3f} ms; a call makes "
            "4 records, 1 fsync'd commit (proposal+decision+start; the finish rides on the next)"
        )
        print(
            f"ratio mediated / spawn (median of {rounds} paired rounds): {ratio:.2f}x "
            f"(target <= 0.50x; rounds ranged {pairs[0][0]:.2f}x..{pairs[-1][0]:.2f}x)"
        )
        from overseer.sandbox import bwrap_status

        if bwrap_status()[0]:
            # What `--sandbox auto` gives where bubblewrap works, timed the same way.
            boxed = paired(root, rounds, n, "bwrap")
            b_ratio, _b_base, b_med = boxed[len(boxed) // 2]
            print(
                f"mediated shell call in the bwrap sandbox:        {b_med:7.3f} ms "
                f"({b_ratio:.2f}x spawn, median of {rounds} paired rounds; "
                f"{boxed[0][0]:.2f}x..{boxed[-1][0]:.2f}x)"
            )
        slow = raw_tool(ws, 3 if opts.smoke else 10, delay=0.05)
        print(f"raw shell with pexpect's default delaybeforesend=0.05: {slow:7.3f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
