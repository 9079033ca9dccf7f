"""The audit log: chain, seals, tamper detection by kind, crash safety,
multi-process appends, redaction, export/import. Real SQLite files and
real processes throughout."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overseer.errors import LogError, LogWriteError
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.log.jsonl import export_session, import_session


def new_session(log: AuditLog, n: int = 10, task: str = "t") -> str:
    sid = log.start_session(SessionStartedPayload(task=task, agent="test"))
    for i in range(n):
        log.append(sid, "user_message", {"text": f"message {i}"})
    return sid


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection an attacker would use, with the append-only triggers dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    return conn


def test_chain_verifies_and_events_round_trip(log):
    sid = new_session(log)
    [res] = log.verify(sid)
    assert res.ok and res.events == 11  # session_started + 10 messages
    kinds = [e.kind for e in log.events(sid)]
    assert kinds[0] == "session_started" and kinds.count("user_message") == 10


def test_append_only_triggers_refuse_changes(log, log_path):
    sid = new_session(log)
    conn = sqlite3.connect(log_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE events SET payload='{}' WHERE session_id=?", (sid,))
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM events WHERE session_id=?", (sid,))


def test_edited_payload_is_a_hash_mismatch(log, log_path):
    sid = new_session(log)
    raw(log_path).execute(
        "UPDATE events SET payload=? WHERE session_id=? AND seq=5",
        ('{"by":"","text":"changed"}', sid),
    )
    [res] = log.verify(sid)
    assert (res.ok, res.first_broken_seq, res.kind) == (False, 5, "hash_mismatch")


def test_deleted_middle_event_is_a_seq_gap(log, log_path):
    sid = new_session(log)
    raw(log_path).execute("DELETE FROM events WHERE session_id=? AND seq=4", (sid,))
    [res] = log.verify(sid)
    assert (res.first_broken_seq, res.kind) == (4, "seq_gap")


def test_swapped_events_break_the_link(log, log_path):
    sid = new_session(log)
    conn = raw(log_path)
    cols = "ts, kind, payload, payload_hash, prev_hash, hash"
    a = conn.execute(f"SELECT {cols} FROM events WHERE session_id=? AND seq=3", (sid,)).fetchone()
    b = conn.execute(f"SELECT {cols} FROM events WHERE session_id=? AND seq=4", (sid,)).fetchone()
    sets = ", ".join(f"{c.strip()}=?" for c in cols.split(","))
    conn.execute(f"UPDATE events SET {sets} WHERE session_id=? AND seq=3", (*b, sid))
    conn.execute(f"UPDATE events SET {sets} WHERE session_id=? AND seq=4", (*a, sid))
    [res] = log.verify(sid)
    assert (res.first_broken_seq, res.kind) == (3, "broken_link")


def test_deleting_the_tail_of_a_sealed_session_is_truncation(log, log_path):
    sid = new_session(log)
    log.end_session(sid, "completed")
    [before] = log.verify(sid)
    assert before.ok and before.unsealed == 0
    conn = raw(log_path)
    last = conn.execute("SELECT max(seq) FROM events WHERE session_id=?", (sid,)).fetchone()[0]
    conn.execute("DELETE FROM events WHERE session_id=? AND seq>?", (sid, last - 3))
    [res] = log.verify(sid)
    assert (res.ok, res.kind, res.first_broken_seq) == (False, "truncated", last - 2)


def test_event_copied_from_another_session_is_detected(log, log_path):
    a = new_session(log, task="a")
    b = new_session(log, task="b")
    conn = raw(log_path)
    row = conn.execute(
        "SELECT ts, kind, payload, payload_hash, prev_hash, hash FROM events WHERE session_id=? AND seq=5",
        (b,),
    ).fetchone()
    conn.execute("DELETE FROM events WHERE session_id=? AND seq=5", (a,))
    conn.execute(
        "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?)",
        (a, 5, *row),
    )
    [res] = log.verify(a)
    assert not res.ok and res.first_broken_seq == 5 and res.kind in ("broken_link", "hash_mismatch")
    assert log.verify(b)[0].ok


def test_forged_seal_is_a_bad_seal(log):
    sid = new_session(log)
    log.end_session(sid, "completed")
    with log.seal_path.open("a") as fh:
        fh.write(
            json.dumps(
                {"session": sid, "seq": 99, "head": "f" * 64, "count": 99, "ts": 1, "mac": "0" * 64}
            )
            + "\n"
        )
    [res] = log.verify(sid)
    assert (res.ok, res.kind) == (False, "bad_seal")


def test_a_whole_deleted_session_is_reported(log, log_path):
    sid = new_session(log)
    log.end_session(sid, "completed")
    conn = raw(log_path)
    conn.execute("DELETE FROM events WHERE session_id=?", (sid,))
    conn.execute("DELETE FROM sessions WHERE id=?", (sid,))
    results = log.verify()
    assert [(r.session_id, r.kind) for r in results] == [(sid, "truncated")]


def test_unsealed_tail_is_counted(log_path):
    with AuditLog(log_path, seal_every=5) as log:
        sid = new_session(log, n=7)
        [res] = log.verify(sid)
    assert res.ok and res.sealed_seq is not None and res.unsealed >= 1


WRITER = r"""
import sys
from overseer.log import AuditLog
from overseer.events import SessionStartedPayload
log = AuditLog(sys.argv[1])
sid = log.start_session(SessionStartedPayload(task="writer", agent="test"))
print("SID", sid, flush=True)
n = int(sys.argv[2])
i = 0
while n < 0 or i < n:
    # Alternate durable and ride-on-next commits, and batches (one transaction
    # each, as the broker writes a call's first records): all must survive kill -9.
    if i % 3 == 2:
        a = log.append_many(sid, [("user_message", {"text": "y" * 500}), ("user_message", {"text": str(i)})])[-1]
    else:
        a = log.append(sid, "user_message", {"text": "x" * 1000 + str(i)}, durable=i % 2 == 0)
    print(a.seq, flush=True)
    i += 1
"""


def test_append_many_is_one_transaction_in_chain_order(log):
    sid = new_session(log, n=1)
    seen: list[tuple[int, str]] = []
    log.subscribe(lambda _s, seq, _k, p: seen.append((seq, p.get("text"))))
    out = log.append_many(sid, [("user_message", {"text": "a"}), ("user_message", {"text": "b"})])
    assert [a.seq for a in out] == [3, 4]
    assert seen == [(3, "a"), (4, "b")]
    assert [e.payload["text"] for e in log.events(sid, after=2)] == ["a", "b"]
    # A batch too long for one statement takes an explicit transaction.
    many = log.append_many(sid, [("user_message", {"text": str(i)}) for i in range(300)])
    assert [a.seq for a in many] == list(range(5, 305))
    assert log.verify(sid)[0].ok


def test_append_many_writes_all_or_nothing(log):
    sid = new_session(log, n=1)
    before = log.count(sid)
    # A record that does not validate: nothing of the batch is written.
    with pytest.raises(LogWriteError):
        log.append_many(sid, [("user_message", {"text": "a"}), ("action_started", {"x": 1})])
    # A record the database refuses half-way through the transaction: neither.
    log.conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.payload LIKE '%boom%'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    with pytest.raises(LogWriteError, match="refused"):
        log.append_many(sid, [("user_message", {"text": "a"}), ("user_message", {"text": "boom"})])
    log.conn.execute("DROP TRIGGER refuse")
    limit = log.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4096)
    with pytest.raises(LogWriteError, match="too big"):
        log.append_many(
            sid, [("user_message", {"text": "a"}), ("user_message", {"text": "b" * 8000})]
        )
    log.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limit)
    assert log.count(sid) == before
    # The chain goes on from the real head afterwards.
    log.append_many(sid, [("user_message", {"text": "c"}), ("user_message", {"text": "d"})])
    assert log.count(sid) == before + 2 and log.verify(sid)[0].ok


def test_the_wal_is_sized_ahead_and_what_a_crash_leaves_recovers(log_path, tmp_path):
    """The WAL is given its working size with zeros before the first commit
    (so commits overwrite rather than grow the file); SQLite must read a
    crashed WAL with that zero tail exactly as if it were not there."""
    crash = tmp_path / "crash"
    crash.mkdir()
    with AuditLog(log_path) as log:
        sid = new_session(log, n=20)
        log.seal(sid)
        wal = Path(f"{log_path}-wal")
        assert wal.stat().st_size >= 1000 * 4096  # up to the auto-checkpoint
        count = log.count(sid)
        # What kill -9 leaves: the DB, its WAL (zeros after the last frame), the seals.
        for src in (log_path, wal, log.seal_path):
            shutil.copy(src, crash / src.name.replace(log_path.name, "audit.db"))
    with AuditLog(crash / "audit.db") as copy:
        assert copy.count(sid) == count
        res = copy.verify(sid)[0]
        assert res.ok and res.unsealed == 0, res
        assert copy.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copy.append(sid, "user_message", {"text": "after the crash"})
        assert copy.verify(sid)[0].ok


def test_kill_9_mid_stream_loses_nothing_that_was_acknowledged(log_path):
    for round_ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(log_path), "-1"], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        sid = proc.stdout.readline().split()[1]
        acked = []
        deadline = time.monotonic() + 0.05 + 0.03 * round_
        while time.monotonic() < deadline:
            acked.append(int(proc.stdout.readline()))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        acked += [int(x) for x in rest.split()]  # printed before the kill landed
        proc.wait()
        with AuditLog(log_path) as log:
            present = {e.seq for e in log.events(sid)}
            assert set(acked) <= present
            [res] = log.verify(sid)
            assert res.ok, res
            assert log.session(sid)["status"] == "interrupted"
            assert log.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_four_processes_append_to_one_db_without_loss(log_path):
    AuditLog(log_path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(log_path), "1000"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    sids = []
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0
        sids.append(out.split()[1])
    with AuditLog(log_path) as log:
        for sid in sids:
            assert log.count(sid) >= 1001  # session_started + 1000 (+ seals)
            messages = list(log.events(sid, kinds=["user_message"]))
            assert len(messages) == 1000 + len(range(2, 1000, 3))  # every third a pair
        assert all(r.ok for r in log.verify())


def test_secrets_never_reach_the_file(log_path, monkeypatch):
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-9f8e7d6c5b4a")
    with AuditLog(log_path) as log:
        sid = log.start_session(SessionStartedPayload(task="t", agent="test"))
        log.append(
            sid,
            "action_proposed",
            {
                "call_id": "c",
                "tool": "shell",
                "args": {
                    "command": "curl -H 'Authorization: Bearer sk-ant-api03-abcdefghijklmnopqrstuvwx' https://x"
                },
            },
        )
        log.append(
            sid,
            "action_finished",
            {
                "call_id": "c",
                "tool": "shell",
                "status": "ok",
                "output": "token is tok-9f8e7d6c5b4a\nAWS AKIAIOSFODNN7EXAMPLE",
            },
        )
        log.append(
            sid,
            "action_proposed",
            {
                "call_id": "d",
                "tool": "shell",
                "args": {
                    "command": "export DB_PASSWORD=hunter2hunter2 && run",
                    "env": {"STRIPE_SECRET": "whsec_123456"},
                },
            },
        )
        log.put_message({"role": "user", "content": "use ghp_abcdefghijklmnopqrstuvwxyz0123456789"})
        log.end_session(sid, "completed")
        assert log.verify(sid)[0].ok
    data = b"".join(
        p.read_bytes() for p in log_path.parent.iterdir() if p.name.startswith(log_path.name)
    )
    for secret in [
        b"sk-ant-api03",
        b"tok-9f8e7d6c5b4a",
        b"AKIAIOSFODNN7EXAMPLE",
        b"hunter2hunter2",
        b"whsec_123456",
        b"ghp_abcdef",
    ]:
        assert secret not in data, secret
    assert b"[REDACTED:DEPLOY_TOKEN]" in data


def test_export_import_round_trip_keeps_hashes_and_seals(log, tmp_path):
    sid = new_session(log)
    log.end_session(sid, "completed")
    out = tmp_path / "s.jsonl"
    with out.open("w") as fh:
        export_session(log, sid, fh)
    with AuditLog(tmp_path / "other.db") as other:
        res = import_session(other, out)
        assert res.ok and res.sealed_seq == log.head(sid)[0]
        assert other.head(sid) == log.head(sid)
        conn = raw(other.path)
        conn.execute("DELETE FROM events WHERE session_id=? AND seq>?", (sid, res.events - 2))
        assert other.verify(sid)[0].kind == "truncated"


def test_import_refuses_a_tampered_file(log, tmp_path):
    sid = new_session(log)
    out = tmp_path / "s.jsonl"
    with out.open("w") as fh:
        export_session(log, sid, fh)
    out.write_text(out.read_text().replace("message 3", "message 9"))
    with AuditLog(tmp_path / "other.db") as other, pytest.raises(LogError, match="hash_mismatch"):
        import_session(other, out)


def test_non_sqlite_and_foreign_files_give_clear_errors(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello " * 1000)
    with pytest.raises(LogError, match="not a readable overseer audit log"):
        AuditLog(bad)
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE x (a)")
    with pytest.raises(LogError, match="not an overseer audit log"):
        AuditLog(foreign)
    with pytest.raises(LogError, match="no audit log"):
        AuditLog(tmp_path / "missing.db", create=False)


def test_sessions_from_live_processes_stay_running(log):
    sid = new_session(log, n=1)
    with AuditLog(log.path) as again:
        assert again.session(sid)["status"] == "running"
    assert os.getpid()


def test_readers_opening_and_closing_never_hide_a_writers_events(tmp_path):
    """Regression: the schema-creation lock once closed a descriptor of the DB
    file, which drops SQLite's POSIX locks in the writer; a reader closing its
    connection then deleted the writer's WAL and its events vanished."""
    db = tmp_path / "shared.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), "-1"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    sid = proc.stdout.readline().split()[1]
    try:
        seen = []
        for _ in range(15):
            time.sleep(0.02)
            with AuditLog(db) as reader:
                seen.append(reader.count(sid))
        assert seen[-1] > seen[0] > 0
    finally:
        proc.kill()
        proc.wait()
    with AuditLog(db) as log:
        assert log.verify(sid)[0].ok


def test_an_idle_session_is_sealed_in_the_background(log_path, monkeypatch):
    monkeypatch.setattr(AuditLog, "SEAL_INTERVAL_NS", 300_000_000)
    with AuditLog(log_path) as log:
        sid = new_session(log, n=3)
        head = log.head(sid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and log.verify(sid)[0].unsealed:
            time.sleep(0.1)
        res = log.verify(sid)[0]
        assert res.ok and res.unsealed == 0 and res.sealed_seq and res.sealed_seq > head[0]


def test_benchmark_smoke():
    bench = Path(__file__).parent / "bench" / "audit.py"
    res = subprocess.run(
        [sys.executable, str(bench), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert "durable appends/s" in res.stdout and "ratio" in res.stdout
    assert "pre-sizes its WAL" in res.stdout and "verify 2,000 events" in res.stdout


def test_inbox_takes_see_every_post_and_skip_the_claim_when_nothing_arrived(log, log_path):
    """Empty takes (several per call) do not open a write transaction; a post
    from this connection, another connection or another process is still
    taken exactly once, by kind."""
    sid = new_session(log, n=1)
    statements: list[str] = []
    log.conn.set_trace_callback(statements.append)
    assert log.take(sid, "message") == []
    statements.clear()
    for _ in range(5):
        assert log.take(sid, "message") == []
    assert not [s for s in statements if s.startswith("BEGIN")], statements
    log.conn.set_trace_callback(None)

    log.post(sid, "message", {"text": "same connection"}, by="dev")
    assert [r["payload"]["text"] for r in log.take(sid, "message")] == ["same connection"]
    assert log.take(sid, "message") == []
    with AuditLog(log_path) as other:
        other.post(sid, "revoke", {"grant_id": "g1"}, by="auditor")
        other.post(sid, "message", {"text": "other connection"}, by="auditor")
    assert [r["payload"]["text"] for r in log.take(sid, "message")] == ["other connection"]
    assert [r["payload"]["grant_id"] for r in log.take(sid, "revoke")] == ["g1"]
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from overseer.log import AuditLog; "
            "AuditLog(sys.argv[1]).post(sys.argv[2], 'message', {'text': 'process'}, by='x')",
            str(log_path),
            sid,
        ],
        check=True,
    )
    assert [r["payload"]["text"] for r in log.take(sid, "message")] == ["process"]
    assert log.take(sid, "message") == [] and log.take(sid, "revoke") == []
