"""Retention: prune deletes whole old sessions, records itself in a chained,
signed table, and leaves every remaining session (and the search index)
consistent and verifiable."""

from __future__ import annotations

import json
import sqlite3

import pytest

from overseer.audit import prune, search
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog, fts
from tests.helpers.sessions import overseer

OLD = "2020-01-01T00:00:00.000Z"


def make_session(log: AuditLog, word: str, blobs: list[bytes], *, end: bool = True) -> str:
    sid = log.start_session(
        SessionStartedPayload(task=f"task {word}", agent="test", workspace="/w")
    )
    log.append(
        sid,
        "action_proposed",
        {"call_id": "c1", "tool": "shell", "args": {"command": f"echo {word}"}},
    )
    for i, data in enumerate(blobs):
        h = log.put_blob(data)
        log.append(
            sid,
            "action_finished",
            {
                "call_id": f"c{i}",
                "tool": "shell",
                "status": "ok",
                "output": f"{word} output",
                "output_blob": h,
            },
        )
    msg = log.put_message({"role": "user", "content": f"{word} message"})
    log.append(sid, "model_turn", {"turn": 1, "messages": [msg], "text": word})
    log.post(sid, "message", {"text": "hello"}, by="someone")
    if end:
        log.end_session(sid, "completed", f"{word} done")
    return sid


def age(log: AuditLog, sid: str) -> None:
    log.conn.execute("UPDATE sessions SET started=?, ended=? WHERE id=?", (OLD, OLD, sid))


@pytest.fixture
def populated(log: AuditLog) -> dict[str, str]:
    shared = b"shared output " * 100
    ids = {
        "old1": make_session(log, "alpha", [b"only alpha " * 100, shared]),
        "old2": make_session(log, "bravo", [b"only bravo " * 100]),
        "new": make_session(log, "charlie", [shared]),
    }
    assert search(log, "alpha")  # the index exists before the prune
    age(log, ids["old1"])
    age(log, ids["old2"])
    return ids


def counts(log: AuditLog) -> dict[str, int]:
    return {
        t: log.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("sessions", "events", "blobs", "messages", "inbox")
    }


def test_prune_deletes_old_sessions_and_keeps_the_rest_verifiable(log, populated):
    before = counts(log)
    plan = prune(log, 30, dry_run=True)
    assert {c.id for c in plan.sessions} == {populated["old1"], populated["old2"]}
    assert counts(log) == before  # a dry run changes nothing
    res = prune(log, 30, by="auditor@example")
    assert res.record_id == 1 and res.blobs == 2 and res.messages == 2
    after = counts(log)
    assert (
        after["sessions"] == 1
        and after["blobs"] == 1
        and after["messages"] == 1
        and after["inbox"] == 1
    )
    assert [s["id"] for s in log.sessions()] == [populated["new"]]
    results = {r.session_id: r for r in log.verify()}
    assert set(results) == {populated["new"], "(prunes)"}, results
    assert all(r.ok for r in results.values()), results
    [rec] = prune_records(log)
    assert rec["by"] == "auditor@example"
    heads = {s["id"]: s for s in rec["sessions"]}
    assert set(heads) == {populated["old1"], populated["old2"]}
    assert all(s["head_hash"] and s["sealed_head"] == s["head_hash"] for s in heads.values())
    # The index forgot the pruned events and is still consistent.
    assert search(log, "alpha") == [] and search(log, "charlie")
    log.conn.execute(f"INSERT INTO {fts.TABLE}({fts.TABLE}) VALUES ('integrity-check')")
    # The remaining session goes on, and new events are found.
    log.append(populated["new"], "user_message", {"text": "delta after prune"})
    assert search(log, "delta")
    assert log.verify(populated["new"])[0].ok


def prune_records(log: AuditLog) -> list[dict]:
    from overseer.log.prune import records

    return records(log.conn)


def test_a_deletion_without_prune_is_still_truncation(log, populated):
    prune(log, 30)
    log.conn.execute("DROP TRIGGER events_append_only_delete")
    log.conn.execute("DELETE FROM events WHERE session_id=?", (populated["new"],))
    log.conn.execute("DELETE FROM sessions WHERE id=?", (populated["new"],))
    results = {r.session_id: r for r in log.verify()}
    assert results[populated["new"]].kind == "truncated"
    assert results["(prunes)"].ok


def test_tampered_or_forged_prune_records_are_caught(log, populated, log_path):
    prune(log, 30)
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER prunes_append_only_update")
    body = json.loads(conn.execute("SELECT body FROM prunes").fetchone()[0])
    body["by"] = "someone else"
    conn.execute(
        "UPDATE prunes SET body=?", (json.dumps(body, sort_keys=True, separators=(",", ":")),)
    )
    results = {r.session_id: r for r in log.verify()}
    assert results["(prunes)"].kind == "hash_mismatch"
    # A tampered record accounts for nothing: the pruned sessions' seals show again.
    assert results[populated["old1"]].kind == "truncated"
    res = overseer("verify", "--all", "--log", str(log_path))
    assert res.returncode == 3 and "(prunes)  BROKEN at prune #" in res.stdout, res.stdout


def test_a_prune_record_forged_without_the_key_is_refused(log, populated, log_path):
    from overseer.log.prune_record import _chain, ensure_table

    ensure_table(log.conn)
    log.conn.execute("DROP TRIGGER events_append_only_delete")
    log.conn.execute("DELETE FROM events WHERE session_id=?", (populated["old1"],))
    body = json.dumps({"sessions": [{"id": populated["old1"]}]})
    h = _chain("0" * 64, body)
    log.conn.execute(
        "INSERT INTO prunes (ts, body, prev_hash, hash, mac) VALUES (1, ?, ?, ?, ?)",
        (body, "0" * 64, h, "f" * 64),
    )
    results = {r.session_id: r for r in log.verify()}
    assert results["(prunes)"].kind == "bad_seal"
    assert results[populated["old1"]].kind == "truncated"


def test_running_sessions_are_never_pruned(log):
    live = make_session(log, "echo", [], end=False)
    age(log, live)
    res = prune(log, 1)
    assert res.sessions == [] and res.skipped_running == [live]
    assert log.count(live) > 0


def test_reused_event_ids_after_pruning_the_newest_are_indexed(log):
    keep = make_session(log, "kilo", [])
    newest = make_session(log, "lima", [])
    assert search(log, "lima")
    age(log, newest)
    prune(log, 30)
    # SQLite hands out the pruned ids again: the index must not skip them.
    log.append(keep, "user_message", {"text": "mike"})
    assert [h.session_id for h in search(log, "mike")] == [keep]


def test_prune_cli(log_path, tmp_path):
    with AuditLog(log_path) as log:
        old = make_session(log, "november", [])
        make_session(log, "oscar", [])
        age(log, old)
    res = overseer("prune", "--older-than", "30", "--log", str(log_path))
    assert (
        res.returncode == 0
        and "would delete 1 session" in res.stdout
        and "nothing deleted" in res.stdout
    )
    res = overseer("prune", "--older-than", "30", "--yes", "--json", "--log", str(log_path))
    out = json.loads(res.stdout)
    assert out["deleted"] and [s["id"] for s in out["sessions"]] == [old] and out["record"] == 1
    res = overseer("verify", "--all", "--log", str(log_path))
    assert res.returncode == 0 and "(prunes)  ok  1 prune record(s)" in res.stdout, res.stdout
    res = overseer("prune", "--older-than", "-3", "--log", str(log_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
