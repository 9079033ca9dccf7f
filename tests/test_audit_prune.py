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


# -- the record's signatures: Ed25519 now, HMAC rows from before still checked --------


def prunes_line(log: AuditLog, trusted=None):
    return {r.session_id: r for r in log.verify(trusted=trusted)}["(prunes)"]


def test_a_prune_is_signed_with_the_signing_key_and_checks_with_its_public_key(
    log, populated, log_path, overseer_home, tmp_path, monkeypatch
):
    from overseer.log import keys
    from overseer.log.note import open_note
    from overseer.log.prune_record import note_text
    from overseer.paths import seal_key_path

    prune(log, 30)
    [row] = prune_records(log)
    assert row["mac"] == "" and row["sig"]
    own = keys.local_verifier()
    assert own is not None
    opened = open_note(row["sig"], [own])
    assert opened.ok and opened.text == note_text(row["hash"])
    assert not seal_key_path().exists()  # the old HMAC key is neither needed nor made
    line = prunes_line(log)
    assert line.ok and line.signed_by == [own.label] and line.sealing == "checkpoint"
    res = overseer("verify", "--all", "--log", str(log_path))
    assert (
        res.returncode == 0
        and f"(prunes)  ok  1 prune record(s), chained and signed by {own.label}" in res.stdout
    )

    # Another machine: the log and its seals, no key of its own.
    monkeypatch.setenv("OVERSEER_HOME", str(tmp_path / "elsewhere"))
    assert keys.local_verifier() is None
    line = prunes_line(log)
    assert not line.ok and line.kind == "untrusted_key" and own.label in line.detail
    # Nothing the record accounts for until it is trusted: the pruned seals show.
    assert {r.session_id: r for r in log.verify()}[populated["old1"]].kind == "truncated"
    assert prunes_line(log, trusted=[own]).ok
    res = overseer("verify", "--all", "--key", own.vkey, "--log", str(log_path))
    assert res.returncode == 0 and "(prunes)  ok" in res.stdout, res.stdout
    assert not (tmp_path / "elsewhere" / "config" / "signing.key").exists()


def test_a_forged_copied_or_foreign_signature_is_refused(log, populated, log_path):
    """Each way a row's signature can be wrong is named; none accounts for a session."""
    from overseer.log import keys
    from overseer.log.note import Signer
    from overseer.log.prune_record import sign

    prune(log, 30)
    [row] = prune_records(log)
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER prunes_append_only_update")
    own = keys.local_verifier()

    # The signature's bytes changed: the trusted key's signature fails.
    text, _, sigline = row["sig"].rstrip("\n").rpartition("\n")
    name, b64 = sigline[2:].split(" ")
    flipped = b64[:-4] + ("AAAA" if b64[-4:] != "AAAA" else "BBBB")
    conn.execute("UPDATE prunes SET sig=?", (f"{text}\n\u2014 {name} {flipped}\n",))
    line = prunes_line(log)
    assert line.kind == "bad_signature" and "does not verify" in line.detail

    # A valid signature, but of another row's hash.
    conn.execute("UPDATE prunes SET sig=?", (sign(keys.load_signer(), "ab" * 32),))
    assert prunes_line(log).kind == "bad_signature"
    assert "another row" in prunes_line(log).detail

    # Signed by a key nobody trusts: refused unless that key is given.
    other = Signer.generate("someone-else")
    conn.execute("UPDATE prunes SET sig=?", (sign(other, row["hash"]),))
    line = prunes_line(log)
    assert line.kind == "untrusted_key" and other.verifier.label in line.detail
    assert prunes_line(log, trusted=[other.verifier]).ok
    assert own is not None and prunes_line(log, trusted=[own]).kind == "untrusted_key"

    # Not a signed note at all.
    conn.execute("UPDATE prunes SET sig='not a note'")
    assert prunes_line(log).kind == "bad_signature"
    # A broken record accounts for nothing: the pruned sessions' seals show again.
    assert {r.session_id: r for r in log.verify()}[populated["old1"]].kind == "truncated"


LEGACY_SCHEMA = """
CREATE TABLE prunes (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL);
CREATE TRIGGER prunes_append_only_update BEFORE UPDATE ON prunes
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
CREATE TRIGGER prunes_append_only_delete BEFORE DELETE ON prunes
BEGIN SELECT RAISE(ABORT, 'the prune record is append-only'); END;
"""


def legacy_row(log: AuditLog, key: bytes, body: dict, prev: str = "0" * 64) -> str:
    """A prune row the way overseer wrote them before signed checkpoints."""
    from overseer.canonical import canonical_json
    from overseer.log.prune_record import _chain, _mac

    text = canonical_json(body)
    h = _chain(prev, text)
    cols = "ts, body, prev_hash, hash, mac"
    log.conn.execute(
        f"INSERT INTO prunes ({cols}) VALUES (1, ?, ?, ?, ?)", (text, prev, h, _mac(key, h))
    )
    return h


def test_hmac_prune_records_from_before_checkpoints_still_verify_where_the_old_key_is(
    log, populated, log_path
):
    from overseer.log import seals
    from overseer.paths import seal_key_path

    key = seals.load_key(create=True)
    assert key is not None
    log.conn.executescript(LEGACY_SCHEMA)
    legacy_row(log, key, {"by": "old@host", "sessions": [{"id": "gone-long-ago"}]})
    line = prunes_line(log)
    assert line.ok and line.sealing == "hmac" and line.signed_by == []
    res = overseer("verify", "--all", "--log", str(log_path))
    assert "(prunes)  ok  1 prune record(s), chained and signed (HMAC" in res.stdout, res.stdout

    # Without the old key it cannot be checked, and says so.
    saved = seal_key_path().read_bytes()
    seal_key_path().unlink()
    line = prunes_line(log)
    assert line.kind == "bad_seal" and "no seal key" in line.detail
    seal_key_path().write_bytes(saved)

    # A new prune extends the old table (it gains the sig column) with a signed row.
    res = prune(log, 30)
    assert res.record_id == 2
    old, new = prune_records(log)
    assert old["sig"] == "" and old["mac"] and new["mac"] == "" and new["sig"]
    assert new["prev_hash"] == old["hash"]
    line = prunes_line(log)
    assert line.ok and line.events == 2 and line.signed_by and line.sealing == "checkpoint"
    results = {r.session_id: r for r in log.verify()}
    assert set(results) == {populated["new"], "(prunes)"} and all(r.ok for r in results.values())


def test_the_old_key_cannot_extend_a_signed_record(log, populated):
    from overseer.log import seals

    prune(log, 30)
    [signed] = prune_records(log)
    key = seals.load_key(create=True)
    assert key is not None
    # Someone with the old seal key (but not the signing key) appends an HMAC row.
    legacy_row(log, key, {"by": "intruder", "sessions": [{"id": populated["new"]}]}, signed["hash"])
    line = prunes_line(log)
    assert line.kind == "bad_seal" and line.first_broken_seq == 2
    assert "after Ed25519-signed" in line.detail


def test_a_prune_that_cannot_sign_deletes_nothing(log, populated, overseer_home):
    from overseer.errors import LogWriteError
    from overseer.paths import signing_key_path

    # A signing key that does not parse (the checkpoints' key is loaded once per log).
    signing_key_path().write_text("PRIVATE+KEY+broken\n")
    with AuditLog(log.path) as fresh:
        before = counts(fresh)
        with pytest.raises(LogWriteError, match="cannot sign"):
            prune(fresh, 30)
        assert counts(fresh) == before and prune_records(fresh) == []
