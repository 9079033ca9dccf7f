"""Shipping to a real PostgreSQL store: runners on separate homes, a remote
approval through the store, an outage mid-run, concurrent runners, and a
shipper killed with -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from overseer.log import AuditLog, open_store
from overseer.log.note import Verifier
from tests.helpers.sessions import overseer

OVERSEER = [sys.executable, "-m", "overseer"]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OVERSEER_LOG", "OVERSEER_SHIP")}
    return {**env, "OVERSEER_HOME": str(home), **extra}


def cli(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OVERSEER, *args], capture_output=True, text=True, timeout=120, env=env_for(home, **extra)
    )


def runner_keys(*homes: Path) -> list[Verifier]:
    """The verifier keys of runners' homes: what a team gives its auditors."""
    return [
        Verifier.parse((home / "config" / "signing.vkey").read_text().strip()) for home in homes
    ]


def keyring(tmp: Path, *homes: Path) -> str:
    """Those keys as a file, for `verify --key FILE`."""
    path = tmp / "team.vkeys"
    path.write_text("".join(v.vkey + "\n" for v in runner_keys(*homes)))
    return str(path)


def plan_file(tmp: Path, name: str, steps: list[dict[str, Any]]) -> Path:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"steps": steps, "final": "done"}))
    return path


def runner(
    repo: Path, plan: Path, home: Path, url: str, *, approver: str = "approve-all"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *OVERSEER,
            "run",
            f"task for {repo.name}",
            "--agent",
            f"script:{plan}",
            "--approver",
            approver,
            "--headless",
            "--json",
            "--repo",
            str(repo),
            "--sandbox",
            "none",
            "--ship",
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(home),
    )


def count(url: str, sid: str | None = None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('overseer.events') IS NOT NULL").fetchone()[0]:
            return 0  # no shipper has created the schema yet
        if sid is None:
            return int(conn.execute("SELECT count(*) FROM overseer.events").fetchone()[0])
        q = "SELECT count(*) FROM overseer.events WHERE session_id = %s"
        return int(conn.execute(q, (sid,)).fetchone()[0])


def count_kind(url: str, kind: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('overseer.events') IS NOT NULL").fetchone()[0]:
            return 0
        q = "SELECT count(*) FROM overseer.events WHERE kind = %s"
        return int(conn.execute(q, (kind,)).fetchone()[0])


def in_home(home: Path, *args: str, **env: str) -> Any:
    """An overseer command in this process (no interpreter start-up), as
    the person whose OVERSEER_HOME is ``home``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OVERSEER_HOME", str(home))
        for name, value in env.items():
            mp.setenv(name, value)
        return overseer(*args)


def test_two_runners_with_their_own_homes_ship_to_one_store(make_repo, tmp_path, pg_url) -> None:
    runs = []
    for name in ("alpha", "beta"):
        repo = make_repo({"app.py": "x = 1\n"}, name=name)
        steps = [
            {"tool": "shell", "args": {"command": f"echo quokka-{name} > note.txt"}},
            {"tool": "read_file", "args": {"path": "app.py"}},
        ]
        home = tmp_path / f"home-{name}"
        runs.append((runner(repo, plan_file(tmp_path, name, steps), home, pg_url), home))
    sids = []
    for proc, home in runs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        result = json.loads(out)
        assert "the store has all" in result["shipping"], result
        sids.append(result["session"])
        # The local log (under that home) is still the record, and verifies.
        assert in_home(home, "verify", result["session"]).exit_code == 0
    auditor = tmp_path / "home-auditor"
    listed = json.loads(in_home(auditor, "sessions", "--json", "--log", pg_url).stdout)
    assert sorted(r["id"] for r in listed) == sorted(sids)
    assert all(r["status"] == "completed" for r in listed)
    # The auditor trusts the runners' keys (a team keyring), not the store.
    res = in_home(auditor, "verify", "--all", "--log", pg_url)
    assert res.exit_code == 3 and res.stdout.count("untrusted_key") == 2, res.stdout
    team = keyring(tmp_path, *(home for _proc, home in runs))
    res = in_home(auditor, "verify", "--all", "--log", pg_url, "--key", team)
    assert res.exit_code == 0, res.stdout + res.stderr
    hits = json.loads(in_home(auditor, "search", "quokka", "--json", "--log", pg_url).stdout)
    assert {h["session_id"] for h in hits} == set(sids)


def test_a_reviewer_elsewhere_approves_through_the_store(make_repo, tmp_path, pg_url) -> None:
    repo = make_repo({"app.py": "x = 1\n"})
    steps = [
        {"tool": "shell", "args": {"command": "git commit --allow-empty -m via-store"}, "id": "c1"}
    ]
    proc = runner(
        repo, plan_file(tmp_path, "ask", steps), tmp_path / "runner", pg_url, approver="remote"
    )
    reviewer = tmp_path / "reviewer"
    try:
        deadline = time.monotonic() + 60
        while count_kind(pg_url, "approval_requested") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        res = in_home(reviewer, "pending", "--json", "--log", pg_url)
        [req] = json.loads(res.stdout)
        assert req["call_id"] == "c1" and req["tool"] == "shell"
        res = in_home(
            reviewer, "approve", req["session"], "c1", "--log", pg_url, LOGNAME="reviewer"
        )
        approved_at = time.time_ns()
        assert res.exit_code == 0, res.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    sid = json.loads(out)["session"]
    with AuditLog(tmp_path / "runner" / "data" / "audit.db", create=False) as log:
        [decided] = [e.payload for e in log.events(sid, kinds=["approval_decided"])]
        started = next(log.events(sid, kinds=["action_started"]))
    assert decided["decision"] == "approve" and decided["by"].startswith("reviewer@")
    assert (started.ts - approved_at) / 1e9 <= 1.0, "the runner took over 1 s to act on it"
    with open_store(pg_url) as store:
        [shipped] = [e.payload for e in store.events(sid, kinds=["approval_decided"])]
        assert shipped["by"] == decided["by"]
        assert store.verify(sid, trusted=runner_keys(tmp_path / "runner"))[0].ok


# A runner without an agent: a local log, a shipper, and N appends paced
# like tool calls. Prints the longest time one append took.
RUNNER = """
import json, sys, time
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.log.shipper import start_shipper
db, url, n, pace = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
log = AuditLog(db)
sid = log.start_session(SessionStartedPayload(task="load", agent="bench", policy_name="p",
    policy_text="", policy_hash="h", workspace="/w"))
notes = []
def notice(text):
    notes.append(text)
    log.append(sid, "notice", {"topic": "ship", "message": text})
shipper = start_shipper(log, sid, url, notice=notice)
print(json.dumps({"session": sid}), flush=True)
slowest = 0.0
for i in range(n - 1):
    t = time.perf_counter()
    log.append(sid, "notice", {"topic": "load", "message": f"event {i}"})
    slowest = max(slowest, time.perf_counter() - t)
    time.sleep(pace)
log.end_session(sid, "completed")
status = shipper.close(timeout=60)
print(json.dumps({"slowest": slowest, "lag": status.lag, "notes": notes,
    "local": log.head(sid)[0]}), flush=True)
"""


def count_local(db: Path, sid: str) -> int:
    with AuditLog(db, create=False) as log:
        return log.count(sid)


def start_runner(tmp: Path, url: str, name: str, n: int, pace: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp / f"{name}.db"), url, str(n), str(pace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_for(tmp / f"home-{name}"),
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, dict[str, Any]]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    first, last = out.strip().splitlines()[:2]
    return json.loads(first)["session"], json.loads(last)


def test_the_store_stopped_mid_run_loses_nothing(tmp_path, pg_url, pg_cluster) -> None:
    proc = start_runner(tmp_path, pg_url, "outage", 400, 0.01)
    try:
        assert proc.stdout is not None
        sid = json.loads(proc.stdout.readline())["session"]
        deadline = time.monotonic() + 30
        while count(pg_url, sid) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        pg_cluster.stop()
        stopped_with = count_local(tmp_path / "outage.db", sid)
        time.sleep(1.5)
        during = count_local(tmp_path / "outage.db", sid)
    finally:
        pg_cluster.start()
    assert during > stopped_with, "the run stopped while the store was down"
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["lag"] == 0, report
    assert any("paused" in n for n in report["notes"]) and any(
        "resumed" in n for n in report["notes"]
    )
    assert report["slowest"] < 0.5, "an append waited on the store"
    assert count(pg_url, sid) == report["local"]
    with open_store(pg_url) as store:
        assert store.verify(sid, trusted=runner_keys(tmp_path / "home-outage"))[0].ok
        kinds = [e.payload.get("topic") for e in store.events(sid, kinds=["notice"])]
        assert kinds.count("ship") >= 2  # the pause and the catch-up are in the record


def test_four_concurrent_runners_of_500_events_lose_none(tmp_path, pg_url) -> None:
    procs = [start_runner(tmp_path, pg_url, f"r{i}", 500, 0.0) for i in range(4)]
    results = [finish(p) for p in procs]
    with open_store(pg_url) as store:
        for sid, report in results:
            # 500 events of the runner's own, plus the seals the log adds
            assert report["lag"] == 0 and report["local"] >= 500
            assert store.count(sid) == report["local"]
            loads = [e for e in store.events(sid, kinds=["notice"]) if e.payload["topic"] == "load"]
            assert len(loads) == 499, report["notes"]
        verified = store.verify(trusted=runner_keys(*(tmp_path / f"home-r{i}" for i in range(4))))
    assert len(verified) == 4 and all(r.ok for r in verified)
    assert open_store(pg_url).integrity()[1] == "ok"


def test_a_shipper_killed_mid_stream_loses_nothing(tmp_path, pg_url) -> None:
    from overseer.events import SessionStartedPayload

    home = tmp_path / "home"
    db = home / "data" / "audit.db"
    os.environ["OVERSEER_HOME"] = str(home)  # the seal key of this home
    with AuditLog(db) as log:
        sid = log.start_session(
            SessionStartedPayload(
                task="big",
                agent="t",
                policy_name="p",
                policy_text="",
                policy_hash="h",
                workspace="/w",
            )
        )
        for i in range(0, 4_000, 500):
            log.append_many(
                sid, [("notice", {"topic": "t", "message": f"e{i + j}"}) for j in range(500)]
            )
        log.end_session(sid, "completed")
        total = log.head(sid)[0]
    proc = subprocess.Popen(
        [*OVERSEER, "ship", "--all", "--to", pg_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env_for(home, OVERSEER_SHIP_BATCH="100"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if count(pg_url) >= 400:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = count(pg_url)
    assert 0 < partial < total, f"the kill did not land mid-stream ({partial} of {total})"
    res = in_home(home, "ship", sid, "--to", pg_url, "--json")
    assert res.exit_code == 0, res.stderr
    [again] = json.loads(res.stdout)["sessions"]
    assert again["already"] == partial and again["sent"] == total - partial
    assert in_home(home, "verify", sid, "--log", pg_url).exit_code == 0
    # And once more: nothing left to send.
    [done] = json.loads(in_home(home, "ship", "--all", "--to", pg_url, "--json").stdout)["sessions"]
    assert done["sent"] == 0 and done["already"] == total


def test_a_store_that_cannot_be_reached_only_costs_a_notice(make_repo, tmp_path) -> None:
    repo = make_repo({"app.py": "x = 1\n"})
    # The second call lasts long enough for the shipper's first try to fail
    # and say so while the session is still open (a run that ends first is
    # told in its result instead, as asserted below).
    steps = [
        {"tool": "read_file", "args": {"path": "app.py"}},
        {"tool": "shell", "args": {"command": "sleep 1"}},
    ]
    home = tmp_path / "home"
    proc = runner(
        repo, plan_file(tmp_path, "p", steps), home, "postgresql://u@/x?host=/nonexistent"
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "completed"
    assert result["shipping"].startswith("NOT fully shipped"), result["shipping"]
    assert "overseer ship" in result["shipping"]
    with AuditLog(home / "data" / "audit.db", create=False) as log:
        notices = [e.payload for e in log.events(result["session"], kinds=["notice"])]
    assert in_home(home, "verify", result["session"]).exit_code == 0
    [paused] = [n for n in notices if n["topic"] == "ship"]
    assert "paused" in paused["message"] and "cannot reach the team store" in paused["message"]
