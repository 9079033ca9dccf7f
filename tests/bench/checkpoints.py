"""Benchmark: what signed checkpoints cost (issue 15).

Prints, from one run:
- the mean cost of a mediated ``shell true`` call (broker, shipped default
  policy, durable records, persistent shell) in a session sealed the old way
  (HMAC seal lines, no tree) and in one sealed with signed checkpoints over
  the Merkle tree, the two taking turns every 10 calls through rounds long
  enough to seal several times (a mean, not a median, so the seals count);
  the verdict is the median of the per-round ratios; target <= 1.05x;
- the time to verify a 100k-event session with a checkpoint every 500
  events (chain, Merkle root of every checkpoint, signatures); target <= 1.5 s;
- the time to build an inclusion proof for one event of that session, in a
  freshly opened log as `overseer prove` does (and a consistency proof, for
  the record); target <= 50 ms.

Run: python tests/bench/checkpoints.py [--smoke]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit import build_session  # noqa: E402
from shell import mediated_session  # noqa: E402

from overseer.canonical import GENESIS  # noqa: E402
from overseer.log import AuditLog, seals  # noqa: E402


def hmac_seal(log: AuditLog, session_id: str) -> Any:
    """How a session was sealed before checkpoints: a seal event with the
    head, and an HMAC line in the sidecar (the "before" of this benchmark)."""
    with log._lock:  # noqa: SLF001
        head = log.head(session_id)
        if head is None:
            return None
        seq, h = head
        sealed = log.append(session_id, "seal", {"seq": seq, "head": h, "count": seq})
        log._since_seal[session_id] = (0, sealed.ts)  # noqa: SLF001
        return seals.append_seal(
            log.seal_path, log.key, session_id, sealed.seq, sealed.hash, sealed.seq, sealed.ts
        )


def timed(call: Any, start: int, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        call(start + i)
    return time.perf_counter() - t0


def mediated_ratio(root: Path, rounds: int, n: int) -> list[tuple[float, float, float]]:
    """(new/old, old ms, new ms) per round, sorted. Within a round the two
    sessions take turns every 10 calls (the order swapping each turn), so a
    slow spell of the shared disk or CPU lands on both alike; each side's
    cost is its mean over the round, seals included."""
    out = []
    with (
        mediated_session(root / "old", "none", watch=False) as old,
        mediated_session(root / "new", "none", watch=False) as new,
    ):
        old_log = old.session.log
        old_log.seal = types.MethodType(hmac_seal, old_log)
        for call in (old, new):
            timed(call, 10_000_000, 30)  # warm up: shell, caches, WAL
        step = 10
        for r in range(rounds):
            spent = {id(old): 0.0, id(new): 0.0}
            for turn in range(n // step):
                pair = (old, new) if turn % 2 == 0 else (new, old)
                for call in pair:
                    spent[id(call)] += timed(call, r * 100_000 + turn * step, step)
            a, b = (spent[id(c)] / (n // step * step) * 1000 for c in (old, new))
            out.append((b / a, a, b))
        seals_new = sum(1 for e in new.session.log.events(new.session.id, kinds=["seal"]))
    print(f"  ({seals_new} checkpoints signed in the checkpointed session's {rounds * n} calls)")
    return sorted(out)


def chain_only(db: Path, sid: str) -> float:
    """The verification of before checkpoints, as a baseline: the hash chain
    alone (payload hash and chain hash of every event, text payloads)."""
    conn = sqlite3.connect(db)
    sha = hashlib.sha256
    sid_json = json.dumps(sid)
    t0 = time.perf_counter()
    prev = GENESIS
    for seq, ts, kind, payload, ph, prev_hash, h in conn.execute(
        "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
        " WHERE session_id=? ORDER BY seq",
        (sid,),
    ):
        body = (
            f'{{"kind":{json.dumps(kind)},"payload":{payload},"session_id":{sid_json},"ts":{ts}}}'
        )
        ok = prev_hash == prev and sha(body.encode()).hexdigest() == ph
        if not ok or sha(f"{prev_hash}:{seq}:{ph}".encode()).hexdigest() != h:
            raise SystemExit(f"baseline chain broken at {seq}")
        prev = h
    dt = time.perf_counter() - t0
    conn.close()
    return dt


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    opts = ap.parse_args(argv)
    n_calls, rounds = (20, 2) if opts.smoke else (300, 9)
    n_events = 2_000 if opts.smoke else 100_000
    with tempfile.TemporaryDirectory(prefix="overseer-bench-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("OVERSEER_HOME", str(root / "home"))
        pairs = mediated_ratio(root, rounds, n_calls)
        ratio, a, b = pairs[len(pairs) // 2]
        print(
            f"mediated shell call, mean of {n_calls} per round: HMAC seals {a:.3f} ms, "
            f"signed checkpoints {b:.3f} ms; ratio {ratio:.3f}x (median of {rounds} paired "
            f"rounds, {pairs[0][0]:.3f}x..{pairs[-1][0]:.3f}x; target <= 1.05x)"
        )

        db = root / "big.db"
        sid = build_session(db, n_events)
        with AuditLog(db) as log:
            t0 = time.perf_counter()
            with log._lock:  # noqa: SLF001
                for size in [*range(500, n_events, 500), n_events]:
                    log.checkpointer.checkpoint(sid, size)
            sign_s = time.perf_counter() - t0
        runs = []
        for _ in range(1 if opts.smoke else 3):  # alternate, take the best of each
            base_s = chain_only(db, sid)
            with AuditLog(db) as log:
                t0 = time.perf_counter()
                [res] = log.verify(sid)
                runs.append((time.perf_counter() - t0, base_s))
        assert res.ok and res.sealed_seq and res.sealed_seq >= n_events, res
        verify_s, base_s = min(r[0] for r in runs), min(r[1] for r in runs)
        print(
            f"verify {n_events:,} events with {res.checkpoints} checkpoints: {verify_s:.3f} s "
            f"(target <= 1.5 s for 100k); the chain alone, as verified before checkpoints: "
            f"{base_s:.3f} s (ratio {verify_s / base_s:.2f}x); signing the checkpoints as the "
            f"session grew took {sign_s:.3f} s"
        )

        from overseer.log.proofs import prove_consistency, prove_inclusion, verify_proof

        times = []
        seqs = [1, n_events // 3, n_events // 2 + 7, n_events - 1, n_events]
        for seq in seqs:
            with AuditLog(db) as log:  # a fresh process's view, as `overseer prove` has
                t0 = time.perf_counter()
                doc = prove_inclusion(log, sid, seq)
                times.append(time.perf_counter() - t0)
            assert verify_proof(doc, []).kind == "untrusted_key"  # math fine, no key given
        with AuditLog(db) as log:
            t0 = time.perf_counter()
            prove_consistency(log, sid, n_events // 3)
            cons_ms = (time.perf_counter() - t0) * 1000
        print(
            f"inclusion proof for one event of {n_events:,}: median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {len(seqs)} events (target <= 50 ms); "
            f"consistency proof {cons_ms:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
