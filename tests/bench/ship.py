"""Benchmark: shipping to a PostgreSQL team store (issue 18).

Starts a throwaway PostgreSQL cluster (as tests/helpers/pg.py does) and
prints, from one run:
- shipping throughput: events/s of ``ship_existing`` (session row, head
  check, the store's hash-and-link trigger, referenced blobs) for a local
  session, against three bare psycopg loops that read the same rows from
  the same SQLite file in the same batches and only COPY them (``BARE``):
  into a plain table of the same columns and unique index, in text and in
  binary COPY, and into the store's own events table with its triggers.
  Target >= 0.7x against the last (the fair comparison: what is left is the
  shipper's own cost); the plain-table ratios add what the store's checks
  cost, which no shipper can skip (they are what makes the store refuse a
  rewritten history);
- the per-call mediation cost (a broker call with a no-op tool: policy and
  the durable records) with a background shipper attached vs without;
  target <= 1.05x.

Ratios are medians over rounds; a round runs every arm once, in an order
rotated round to round (the machine is shared and noisy).

Run: python tests/bench/ship.py [--smoke] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from overseer.canonical import GENESIS, canonical_json, chain_hash, event_body, sha256_hex  # noqa: E402
from overseer.events import SessionStartedPayload  # noqa: E402
from overseer.log import AuditLog, open_team_store  # noqa: E402
from overseer.log.shipper import BATCH, COPY_BINARY, ship_existing, start_shipper  # noqa: E402
from overseer.toolapi import Facts, Tool, ToolCall, ToolContext, ToolResult  # noqa: E402
from tests.helpers.pg import Cluster  # noqa: E402

PAYLOAD = {
    "call_id": "c1",
    "tool": "shell",
    "status": "ok",
    "exit_code": 0,
    "output": ("lorem ipsum dolor sit amet " * 36)[:960],
    "duration_ms": 12,
}


def build_session(path: Path, n: int) -> str:
    """A valid n-event session of ~1 KB events (written with executemany)."""
    with AuditLog(path) as log:
        sid = log.start_session(SessionStartedPayload(task="ship bench", agent="bench"))
        seq, prev = log.head(sid) or (0, GENESIS)
        text = canonical_json(PAYLOAD)
        rows = []
        for i in range(n - 1):
            seq += 1
            ts = 1_700_000_000_000_000_000 + i
            ph = sha256_hex(event_body(sid, ts, "action_finished", text))
            h = chain_hash(prev, seq, ph)
            rows.append((sid, seq, ts, "action_finished", text, ph, prev, h))
            prev = h
        log.conn.execute("BEGIN")
        log.conn.executemany(
            "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
            " VALUES (?,?,?,?,?,?,?,?)",
            rows,
        )
        log.conn.execute("COMMIT")
    return sid


class Cost:
    """Wall time and CPU time (this process's, and the store backend's from
    /proc: the server runs on this machine) of one shipping run. CPU time
    hardly moves when other work shares the machine; wall time does."""

    def __init__(self, conn: Any) -> None:
        self.pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])

    def _server(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Cost:
        self.t0, self.c0, self.s0 = time.perf_counter(), time.process_time(), self._server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0 + self._server() - self.s0


_PLAIN = (
    "CREATE TABLE bare_events (id bigserial PRIMARY KEY, session_id text NOT NULL,"
    " seq bigint NOT NULL, ts bigint NOT NULL, kind text NOT NULL, payload text NOT NULL,"
    " payload_hash text NOT NULL, prev_hash text NOT NULL, hash text NOT NULL,"
    " UNIQUE (session_id, seq))"
)
_COLUMNS = "(session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
_TYPES = ["text", "int8", "int8", "text", "text", "text", "text", "text"]

# The bare loops: the same rows, read from the same SQLite file in the same
# batches, one COPY and one transaction a batch, nothing else.
#   plain-text:   into a plain table of the same columns and unique index, the
#                 COPY psycopg does by default (the loop issue 18 names);
#   plain-binary: the same with binary COPY (the fastest bare loop here);
#   store:        into the store's own events table, with its chain-checking
#                 and append-only triggers, in the COPY format the shipper
#                 uses: what is left is the shipper's own cost.
BARE = ("plain-text", "plain-binary", "store")


def bare(db: Path, sid: str, url: str, kind: str) -> tuple[float, float]:
    """One bare loop (see ``BARE``): (events/s, CPU s/event)."""
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    if kind == "store":
        with open_team_store(url):
            pass  # creates the schema, as a shipper's first connection does
    with psycopg.connect(url, autocommit=True) as conn:
        if kind == "store":
            table, binary = "overseer.events", COPY_BINARY
            row = src.execute(
                "SELECT id, task, agent, model, workspace, started, ended, status, policy,"
                " owner_host FROM sessions WHERE id=?",
                (sid,),
            ).fetchone()
            conn.execute(
                "INSERT INTO overseer.sessions (id, task, agent, model, workspace, started,"
                " ended, status, policy, host) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                row,
            )
        else:
            conn.execute(_PLAIN)
            table, binary = "bare_events", kind == "plain-binary"
        copy_sql = f"COPY {table} {_COLUMNS} FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
        after, n = 0, 0
        with Cost(conn) as cost:
            while True:
                rows = src.execute(
                    "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
                    " WHERE session_id=? AND seq>? ORDER BY seq LIMIT ?",
                    (sid, after, BATCH),
                ).fetchall()
                if not rows:
                    break
                with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as copy:
                    if binary:
                        copy.set_types(_TYPES)
                    for r in rows:
                        copy.write_row((sid, *r))
                n += len(rows)
                after = rows[-1][0]
    src.close()
    return n / cost.wall, cost.cpu / n


def ours(db: Path, sid: str, url: str) -> tuple[float, float]:
    with AuditLog(db, create=False) as log, open_team_store(url) as store:
        with Cost(store.conn) as cost:
            [report] = ship_existing(log, store, [sid])
        assert report.sent == log.count(sid), report
        assert store.verify(sid)[0].ok
    return report.sent / cost.wall, cost.cpu / report.sent


class _Args(BaseModel):
    command: str


class _Noop(Tool):
    name = "shell"
    Args = _Args

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return Facts(commands=[args.command])

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return ToolResult(output="ok")


def mediated(tmp: Path, n: int, url: str | None) -> float:
    """Median seconds per mediated call, shipping to ``url`` or not."""
    from overseer.approval import ApproveAll
    from overseer.broker import Broker
    from overseer.policy import load_policy

    ws = tmp / "ws"
    ws.mkdir(exist_ok=True)
    commands = ["git status", "ls -la src", "python -m pytest -q", "rg TODO src", "cat README.md"]
    with AuditLog(tmp / f"calls-{time.perf_counter_ns()}.db") as log:
        sid = log.start_session(SessionStartedPayload(task="bench", agent="bench"))
        shipper = start_shipper(log, sid, url) if url else None
        broker = Broker(log, sid, {"shell": _Noop()}, load_policy("default"), ApproveAll(), ws)
        samples = []
        for i in range(n):
            t = time.perf_counter()
            res = broker.submit(
                ToolCall(id=f"c{i}", name="shell", args={"command": commands[i % len(commands)]})
            )
            samples.append(time.perf_counter() - t)
            assert res.status == "ok", res.output
        broker.close()
        if shipper is not None:
            status = shipper.close(timeout=30)
            assert status.lag == 0, status
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    opts = ap.parse_args(argv)
    n_events = 500 if opts.smoke else 20_000
    n_calls = 30 if opts.smoke else 600
    rounds = 1 if opts.smoke else opts.rounds
    cluster = Cluster()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("OVERSEER_HOME", tmp)
            d = Path(tmp)
            db = d / "local.db"
            sid = build_session(db, n_events)
            # Each round runs every loop once, in an order rotated round to
            # round (what runs later pays for the earlier ones' checkpoints
            # and autovacuum); a round's ratios compare runs of that round.
            arms = ["ours", *BARE]
            ratios: dict[str, list[float]] = {k: [] for k in BARE}
            cpu_ratios: dict[str, list[float]] = {k: [] for k in BARE}
            rates: dict[str, list[float]] = {k: [] for k in arms}
            for i in range(rounds):
                got: dict[str, tuple[float, float]] = {}
                for arm in arms[i % len(arms) :] + arms[: i % len(arms)]:
                    url = cluster.new_database()
                    got[arm] = ours(db, sid, url) if arm == "ours" else bare(db, sid, url, arm)
                    rates[arm].append(got[arm][0])
                for k in BARE:
                    ratios[k].append(got["ours"][0] / got[k][0])
                    cpu_ratios[k].append(got[k][1] / got["ours"][1] if got["ours"][1] else 0.0)
            call_pairs = []
            for i in range(rounds):
                if i % 2:
                    with_ship = mediated(d, n_calls, cluster.new_database())
                    without = mediated(d, n_calls, None)
                else:
                    without = mediated(d, n_calls, None)
                    with_ship = mediated(d, n_calls, cluster.new_database())
                call_pairs.append((with_ship / without, without, with_ship))
            call_pairs.sort()
            call_ratio, without, with_ship = call_pairs[len(call_pairs) // 2]
    finally:
        cluster.close()
    med = statistics.median
    result: dict[str, Any] = {
        "events": n_events,
        "copy_format": "binary" if COPY_BINARY else "text",
        "shipped_events_per_s": round(med(rates["ours"])),
        **{f"bare_{k.replace('-', '_')}_events_per_s": round(med(rates[k])) for k in BARE},
        **{f"ship_ratio_{k.replace('-', '_')}": round(med(ratios[k]), 3) for k in BARE},
        **{f"ship_cpu_ratio_{k.replace('-', '_')}": round(med(cpu_ratios[k]), 3) for k in BARE},
        "calls": n_calls,
        "call_ms_without_ship": round(without * 1000, 3),
        "call_ms_with_ship": round(with_ship * 1000, 3),
        "call_ratio": round(call_ratio, 3),
        "rounds": rounds,
    }
    if opts.json:
        print(json.dumps(result, indent=2))
        return 0
    what = {
        "store": "bare COPY into the store's own table (same triggers, same COPY)",
        "plain-text": "bare text COPY into a plain table (no checks)",
        "plain-binary": "bare binary COPY into a plain table (no checks)",
    }
    print(
        f"shipping {n_events} events, median of {rounds} rounds: ship_existing "
        f"{med(rates['ours']):,.0f}/s ({result['copy_format']} COPY); against"
    )
    for k in BARE:
        target = "  (target >= 0.70x)" if k == "store" else ""
        print(
            f"  {what[k]:68s} {med(rates[k]):>8,.0f}/s  ratio {med(ratios[k]):.2f}x"
            f"  CPU bare/ship {med(cpu_ratios[k]):.2f}x{target}"
        )
    print(
        f"mediated call, median of {n_calls} (median of {rounds} paired rounds): without ship "
        f"{without * 1000:.3f} ms  with --ship {with_ship * 1000:.3f} ms  ratio {call_ratio:.3f}x "
        "(target <= 1.05x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
