"""Signed checkpoints end to end: real logs, the real CLI (in process), and
an attacker with write access to the DB, the sidecar and the export file —
but not the signing key. Every kind of tamper is named by verify."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from overseer.broker import Broker
from overseer.canonical import chain_hash, event_body, sha256_hex
from overseer.cli import cli
from overseer.errors import LogWriteError
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog, keys, seals
from overseer.log.checkpoints import Checkpoint
from overseer.log.note import Signer
from overseer.paths import protected_paths, signing_key_path
from overseer.policy import parse_policy
from overseer.toolapi import Facts, ToolCall
from tests.helpers.fakes import EchoTool, FixedPolicy
from tests.test_merkle import mth


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.output


def new_session(log: AuditLog, n: int = 10) -> str:
    sid = log.start_session(SessionStartedPayload(task="t", agent="test"))
    for i in range(n):
        log.append(sid, "user_message", {"text": f"message {i}"})
    return sid


def notes(log: AuditLog, sid: str) -> list[str]:
    return seals.read_seals(log.seal_path, None).notes[sid]


def raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    return conn


@pytest.fixture
def ended(log_path: Path) -> tuple[AuditLog, str]:
    log = AuditLog(log_path, seal_every=7)
    sid = new_session(log, 20)
    log.end_session(sid, "completed")
    yield log, sid
    log.close()


def test_checkpoints_sign_the_rfc_root_of_the_chain_hashes(ended):
    log, sid = ended
    hashes = [bytes.fromhex(e.hash) for e in log.events(sid)]
    cps = [Checkpoint.parse(n) for n in notes(log, sid)]
    assert cps[0].size == 1  # right after session_started
    assert cps[-1].size == len(hashes)  # through the final seal event
    assert len(cps) >= 4 and [c.size for c in cps] == sorted(c.size for c in cps)
    for cp in cps:
        assert cp.origin == f"overseer/{sid}"
        assert cp.root == mth(hashes[: cp.size])
        assert cp.open([keys.local_verifier()]).ok
    seal_events = [e for e in log.events(sid) if e.kind == "seal"]
    for e in seal_events:  # the chain records size and root of what came before
        assert e.payload["count"] == e.seq - 1
        assert base64.b64decode(e.payload["root"]) == mth(hashes[: e.seq - 1])
    [res] = log.verify(sid)
    assert res.ok and res.sealing == "checkpoint" and res.unsealed == 0
    assert res.sealed_seq == len(hashes) and res.signed_by == [keys.local_verifier().label]


def test_the_signing_key_is_private_and_named(overseer_home):
    signer = keys.load_signer(create=True, name="overseer-ci@example")
    path = signing_key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_signer(create=False).verifier == signer.verifier
    code, out = run("key", "show", "--pem")
    assert code == 0 and out.splitlines()[0] == signer.verifier.vkey
    assert "-----BEGIN PUBLIC KEY-----" in out
    code, out = run("key", "show", "--name", "someone-else")
    assert code == 2 and "is named 'overseer-ci@example'" in out


def test_the_agent_can_never_reach_the_signing_key(log, tmp_path, overseer_home):
    keys.load_signer(create=True)
    key = signing_key_path()
    assert key.resolve() in protected_paths()
    allow_all = parse_policy(
        'default = "allow"\n[[rules]]\nname = "all"\ndecision = "allow"\n', source="t.toml"
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    from overseer.policy.loader import facts_from_args

    for tool, args in (
        ("read_file", {"path": str(key)}),
        ("write_file", {"path": str(key), "content": "x"}),
        ("shell", {"command": f"cat {key}"}),
    ):
        facts = facts_from_args(tool, args)
        if tool == "shell":
            facts = Facts(commands=[args["command"]])
        v = allow_all.decide(tool, args, facts, ws)
        assert v.decision == "deny" and v.rule == "overseer:protected-path", (tool, v)
    sid = log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(ws)))
    tool = EchoTool()
    broker = Broker(log, sid, {"echo": tool}, FixedPolicy(default="allow"), None, ws)
    tool.paths = [str(key)]
    assert broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"})).status == "denied"
    assert tool.runs == []


def test_checkpoint_command_prints_the_notes_exactly(ended, log_path):
    log, sid = ended
    all_notes = notes(log, sid)
    code, out = run("checkpoint", sid, "--log", str(log_path))
    assert code == 0 and out == all_notes[-1]
    code, out = run("checkpoint", sid, "--all", "--log", str(log_path))
    assert code == 0 and out == "\n".join(all_notes)
    assert out.count("\n\n") == 2 * len(all_notes) - 1  # one inside each note, one between


# -- tampering with the DB and the sidecar ---------------------------------------


def rewrite_from(conn: sqlite3.Connection, sid: str, seq: int, text: str) -> None:
    """Change event ``seq`` and recompute every hash after it, as an attacker
    without the key would: the chain verifies, the signed roots do not."""
    rows = conn.execute(
        "SELECT seq, ts, kind, payload, prev_hash FROM events WHERE session_id=? AND seq>=? ORDER BY seq",
        (sid, seq),
    ).fetchall()
    prev = rows[0][4]
    for s, ts, kind, payload, _ in rows:
        if s == seq:
            payload = json.dumps({"by": None, "text": text}, separators=(",", ":"))
        ph = sha256_hex(event_body(sid, ts, kind, payload))
        h = chain_hash(prev, s, ph)
        conn.execute(
            "UPDATE events SET payload=?, payload_hash=?, prev_hash=?, hash=? WHERE session_id=? AND seq=?",
            (payload, ph, prev, h, sid, s),
        )
        prev = h


def test_a_rewritten_history_with_a_recomputed_chain_is_a_root_mismatch(ended, log_path):
    log, sid = ended
    rewrite_from(raw(log_path), sid, 12, "nothing to see")
    [res] = log.verify(sid)
    assert (res.ok, res.kind) == (False, "root_mismatch"), res
    assert res.first_broken_seq <= 12 < res.first_broken_seq + 10


def test_a_deleted_tail_is_truncation_against_the_signed_size(ended, log_path):
    log, sid = ended
    raw(log_path).execute("DELETE FROM events WHERE session_id=? AND seq>20", (sid,))
    [res] = log.verify(sid)
    assert (res.ok, res.kind, res.first_broken_seq) == (False, "truncated", 21)


def test_a_flipped_signature_is_a_bad_signature(ended):
    log, sid = ended
    text = log.seal_path.read_text()
    last = json.loads(text.splitlines()[-1])
    sig_line = last["note"].rsplit(" ", 1)[1]
    raw_sig = bytearray(base64.b64decode(sig_line))
    raw_sig[10] ^= 1
    forged = last["note"].replace(sig_line, base64.b64encode(raw_sig).decode() + "\n")
    with log.seal_path.open("a") as fh:
        fh.write(json.dumps({**last, "note": forged}) + "\n")
    [res] = log.verify(sid)
    assert (res.ok, res.kind) == (False, "bad_signature")


def test_events_added_under_a_checkpoint_from_a_second_key_are_untrusted(ended, log_path):
    log, sid = ended
    conn = raw(log_path)
    seq, prev = log.head(sid)
    ts = 1_800_000_000_000_000_000
    payload = '{"by":null,"text":"approved by nobody"}'
    ph = sha256_hex(event_body(sid, ts, "user_message", payload))
    h = chain_hash(prev, seq + 1, ph)
    conn.execute(
        "INSERT INTO events (session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (sid, seq + 1, ts, "user_message", payload, ph, prev, h),
    )
    hashes = [bytes.fromhex(e.hash) for e in log.events(sid)]
    mallory = Signer.generate("overseer-root@victim")  # a lookalike name, another key
    note = mallory.sign(f"overseer/{sid}\n{seq + 1}\n{base64.b64encode(mth(hashes)).decode()}\n")
    with log.seal_path.open("a") as fh:
        fh.write(json.dumps({"session": sid, "size": seq + 1, "head": h, "note": note}) + "\n")
    [res] = log.verify(sid)
    assert (res.ok, res.kind, res.first_broken_seq) == (False, "untrusted_key", seq + 1)
    assert "overseer-root@victim+" in res.detail
    # Trusting mallory's key (as an auditor told to would) makes it verify.
    [res] = log.verify(sid, trusted=[mallory.verifier])
    assert res.ok, res


def test_a_checkpoint_moved_from_another_session_is_refused(ended, log_path):
    log, sid = ended
    other = new_session(log, 3)
    with log.seal_path.open("a") as fh:
        fh.write(json.dumps({"session": sid, "size": 1, "note": notes(log, other)[0]}) + "\n")
    [res] = log.verify(sid)
    assert (res.ok, res.kind) == (False, "bad_checkpoint") and other in res.detail


def test_sessions_sealed_with_hmac_still_verify_and_say_so(log, log_path, overseer_home):
    sid = new_session(log, 5)
    head_seq, head = log.head(sid)
    # What an older overseer left: HMAC seal lines, no checkpoints.
    text = "".join(
        line + "\n" for line in log.seal_path.read_text().splitlines() if sid not in line
    )
    log.seal_path.write_text(text)
    seals.append_seal(log.seal_path, seals.load_key(create=True), sid, head_seq, head, head_seq, 1)
    [res] = log.verify(sid)
    assert res.ok and res.sealing == "hmac" and res.sealed_seq == head_seq
    code, out = run("verify", sid, "--log", str(log_path))
    assert code == 0 and "with HMAC" in out
    (overseer_home / "config" / "seal.key").unlink()
    [res] = log.verify(sid)
    assert (res.ok, res.kind) == (False, "bad_seal") and "no seal key" in res.detail


# -- exported files, anywhere -----------------------------------------------------


def export(log_path: Path, sid: str, out: Path) -> Path:
    code, msg = run("export", sid, "-o", str(out), "--log", str(log_path))
    assert code == 0, msg
    return out


@pytest.fixture
def exported(ended, log_path, tmp_path, monkeypatch):
    log, sid = ended
    vkey = keys.local_verifier().vkey
    path = export(log_path, sid, tmp_path / "s.jsonl")
    # The auditor's machine: never ran overseer, has only the file and the key.
    monkeypatch.setenv("OVERSEER_HOME", str(tmp_path / "auditor"))
    return sid, path, vkey


def test_an_export_verifies_with_only_the_verifier_key(exported, tmp_path):
    sid, path, vkey = exported
    code, out = run("verify", str(path), "--key", vkey)
    assert code == 0 and f"{sid}  ok" in out and "NOT checked" not in out
    keyfile = tmp_path / "trusted.keys"
    keyfile.write_text(f"# the team's keys\n{Signer.generate('x').verifier.vkey}\n{vkey}\n")
    assert run("verify", str(path), "--key", str(keyfile))[0] == 0
    code, out = run("verify", str(path))
    assert code == 0 and "signatures NOT checked against a trusted key" in out
    assert not (tmp_path / "auditor" / "config" / "signing.key").exists()  # no secret needed


def test_an_export_signed_by_another_key_is_untrusted(exported):
    sid, path, _ = exported
    code, out = run("verify", str(path), "--key", Signer.generate("auditor").verifier.vkey)
    assert code == 3 and "untrusted_key" in out


def drop_last_events(lines: list[str], n: int) -> list[str]:
    events = [i for i, ln in enumerate(lines) if '"type":"event"' in ln]
    return [ln for i, ln in enumerate(lines) if i not in events[-n:]]


def edit_lines(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(fn(lines)))


@pytest.mark.parametrize(
    "tamper,kind",
    [
        (lambda ls: [ln.replace("message 3", "message 9") for ln in ls], "hash_mismatch"),
        (lambda ls: [ln for i, ln in enumerate(ls) if i != 5], "seq_gap"),
        (lambda ls: drop_last_events(ls, 2), "truncated"),
        (lambda ls: [ln for ln in ls if '"type":"checkpoint"' not in ln], "unsigned"),
        (
            lambda ls: [
                ln.replace('"note":"overseer/', '"note":"overseer/x') if "checkpoint" in ln else ln
                for ln in ls
            ],
            "bad_checkpoint",
        ),
    ],
    ids=["edited", "deleted", "tail", "no-checkpoints", "other-origin"],
)
def test_each_tamper_of_an_export_is_named(exported, tamper, kind):
    sid, path, vkey = exported
    edit_lines(path, tamper)
    code, out = run("verify", str(path), "--key", vkey)
    assert code == 3 and "BROKEN at seq" in out and kind in out, out


def test_a_rewritten_export_fails_its_signed_root(exported, tmp_path, log_path):
    sid, path, vkey = exported
    rewrite_from(raw(log_path), sid, 9, "rewritten")
    conn = sqlite3.connect(log_path)
    rewritten = {
        r[0]: r
        for r in conn.execute(
            "SELECT seq, payload, payload_hash, prev_hash, hash FROM events WHERE session_id=?",
            (sid,),
        )
    }

    def swap(lines: list[str]) -> list[str]:
        out = []
        for ln in lines:
            rec = json.loads(ln)
            if rec.get("type") == "event" and rec["seq"] >= 9:
                s, payload, ph, prev, h = rewritten[rec["seq"]]
                ln = (
                    ln.split(',"payload":')[0]
                    + f',"payload":{payload},"payload_hash":"{ph}","prev_hash":"{prev}","hash":"{h}"}}\n'
                )
            out.append(ln)
        return out

    edit_lines(path, swap)
    code, out = run("verify", str(path), "--key", vkey)
    assert code == 3 and "root_mismatch" in out, out


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe not utf-8\n", b'{"type":"session","id":"x"}\n{"type":"event","seq":1,', b""],
    ids=["binary", "cut-mid-line", "empty"],
)
def test_unreadable_exports_are_one_line_and_exit_3(tmp_path, content):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    code, out = run("verify", str(bad), "--key", Signer.generate("k").verifier.vkey)
    assert code == 3 and len(out.strip().splitlines()) == 1 and "Traceback" not in out, out


@pytest.mark.parametrize(
    "key",
    [
        "nobody+00000000+AAAA",  # too short
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # wrong length
        "not-a-key-or-file",
    ],
    ids=["short", "wrong-id", "wrong-length", "neither"],
)
def test_bad_keys_are_usage_errors(exported, key):
    _sid, path, _ = exported
    code, out = run("verify", str(path), "--key", key)
    assert code == 2 and len(out.strip().splitlines()) == 1, out


def test_import_keeps_the_files_checkpoints_and_signs_its_own(exported, tmp_path):
    sid, path, vkey = exported
    db = tmp_path / "auditor.db"
    code, out = run("import", str(path), "--log", str(db))
    assert code == 0, out
    with AuditLog(db) as log:
        kept = notes(log, sid)
        [res] = log.verify(sid)
    assert res.ok and vkey.split("+")[0] + "+" + vkey.split("+")[1] in res.untrusted
    assert len(kept) >= 5 and res.signed_by == [keys.local_verifier().label]
    code, out = run("verify", sid, "--log", str(db), "--key", vkey)
    assert code == 0 and "not trusted here" not in out


# -- proofs -------------------------------------------------------------------------


def prove(log_path: Path, *args: str) -> dict:
    code, out = run("prove", *args, "--log", str(log_path))
    assert code == 0, out
    return json.loads(out)


def check(tmp_path: Path, doc: dict, *keys_: str) -> tuple[int, str]:
    f = tmp_path / "proof.json"
    f.write_text(json.dumps(doc))
    return run("verify", "--proof", str(f), *[a for k in keys_ for a in ("--key", k)])


def test_an_inclusion_proof_stands_alone(ended, log_path, tmp_path):
    log, sid = ended
    vkey = keys.local_verifier().vkey
    doc = prove(log_path, sid, "13")
    assert doc["event"]["seq"] == 13 and doc["leaf_index"] == 12
    assert doc["tree_size"] == log.head(sid)[0]
    code, out = check(tmp_path, doc, vkey)
    assert code == 0 and "event 13 (user_message)" in out
    assert check(tmp_path, doc)[1].count("NOT checked") == 1
    assert check(tmp_path, doc, Signer.generate("x").verifier.vkey)[0] == 3


def flip(b64: str, bit: int = 0) -> str:
    raw_ = bytearray(base64.b64decode(b64))
    raw_[bit] ^= 1
    return base64.b64encode(raw_).decode()


def test_every_bit_flip_in_a_proof_fails(ended, log_path, tmp_path):
    log, sid = ended
    vkey = keys.local_verifier().vkey
    doc = prove(log_path, sid, "5")
    for i in range(len(doc["audit_path"])):
        bad = json.loads(json.dumps(doc))
        bad["audit_path"][i] = flip(bad["audit_path"][i], i)
        code, out = check(tmp_path, bad, vkey)
        assert code == 3 and "root_mismatch" in out, out
    for field, value, kind in (
        (
            "payload_json",
            doc["event"]["payload_json"].replace("message", "massage"),
            "hash_mismatch",
        ),
        ("payload", {"text": "something else", "by": None}, "hash_mismatch"),
        ("hash", "0" * 64, "hash_mismatch"),
        ("seq", 6, "hash_mismatch"),
    ):
        bad = json.loads(json.dumps(doc))
        bad["event"][field] = value
        code, out = check(tmp_path, bad, vkey)
        assert code == 3 and kind in out, (field, out)
    bad = {**doc, "session_id": new_session(log, 1)}  # a proof passed off as another session's
    code, out = check(tmp_path, bad, vkey)
    assert code == 3 and ("bad_checkpoint" in out or "hash_mismatch" in out), out
    bad = {**doc, "checkpoint": doc["checkpoint"].replace("\n\n", "\n")}
    code, out = check(tmp_path, bad, vkey)
    assert code == 3 and "bad_checkpoint" in out


def test_consistency_between_every_pair_of_a_sessions_checkpoints(ended, log_path, tmp_path):
    log, sid = ended
    vkey = keys.local_verifier().vkey
    cps = [Checkpoint.parse(n) for n in notes(log, sid)]
    for old in cps:
        doc = prove(log_path, sid, "--consistency", str(old.size))
        assert doc["old_checkpoint"] == old.note and doc["old_root"] == old.root_b64
        code, out = check(tmp_path, doc, vkey)
        assert code == 0, out
    doc = prove(log_path, sid, "--consistency", "3")  # no checkpoint at 3: root only
    assert doc["old_checkpoint"] is None
    assert check(tmp_path, doc, vkey)[0] == 0
    bad = {**doc, "old_root": flip(doc["old_root"])}
    code, out = check(tmp_path, bad, vkey)
    assert code == 3 and "root_mismatch" in out
    if doc["proof"]:
        bad = {**doc, "proof": [flip(doc["proof"][0]), *doc["proof"][1:]]}
        assert check(tmp_path, bad, vkey)[0] == 3


@pytest.mark.parametrize(
    "content", [b"\x80\x81", b"{not json", b'{"format":"something/else"}', b"[]"]
)
def test_unreadable_proofs_are_one_line_and_exit_3(tmp_path, content):
    f = tmp_path / "p.json"
    f.write_bytes(content)
    code, out = run("verify", "--proof", str(f), "--key", Signer.generate("k").verifier.vkey)
    assert code == 3 and len(out.strip().splitlines()) == 1 and "Traceback" not in out, out


def test_prove_refuses_what_it_cannot_prove(ended, log_path):
    log, sid = ended
    size = log.head(sid)[0]
    for args in ((sid, str(size + 1)), (sid, "0"), (sid, "--consistency", "0"), (sid,)):
        code, out = run("prove", *args, "--log", str(log_path))
        assert code == 2 and len(out.strip().splitlines()) == 1, (args, out)


def test_a_proof_from_a_large_session_reads_tiles_not_every_event(log_path):
    with AuditLog(log_path, seal_every=400) as log:
        sid = new_session(log, 1300)
        log.end_session(sid, "completed")
        tiles = log.conn.execute(
            "SELECT count(*) FROM merkle_tiles WHERE session_id=? AND height=8", (sid,)
        ).fetchone()[0]
        assert tiles == log.head(sid)[0] // 256
        from overseer.log.proofs import prove_inclusion

        reads = []
        log.conn.set_trace_callback(lambda sql: reads.append(sql) if "SELECT hash" in sql else None)
        doc = prove_inclusion(log, sid, 700)
        log.conn.set_trace_callback(None)
        assert len(reads) <= 3, reads
    assert run("verify", "--proof", _write(log_path.parent / "p.json", doc))[0] == 0


def _write(path: Path, doc: dict) -> str:
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_new_process_continues_a_sessions_tree(log_path):
    with AuditLog(log_path, seal_every=50) as log:
        sid = new_session(log, 300)
    with AuditLog(log_path, seal_every=50) as log:  # `overseer undo` does this
        log.append(sid, "user_message", {"text": "later"})
        log.seal(sid)
        [res] = log.verify(sid)
    assert res.ok and res.unsealed == 0, res
    assert os.path.getsize(log_path) > 0


def test_benchmark_smoke():
    import subprocess
    import sys

    bench = Path(__file__).parent / "bench" / "checkpoints.py"
    res = subprocess.run(
        [sys.executable, str(bench), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    assert "ratio" in res.stdout and "inclusion proof for one event" in res.stdout


def test_odd_json_in_exports_and_proofs_is_a_clean_failure(exported, tmp_path):
    _sid, path, vkey = exported
    bad = tmp_path / "list.jsonl"
    bad.write_text("[1, 2]\n")
    code, out = run("verify", str(bad), "--key", vkey)
    assert code == 3 and "not a JSON object" in out
    proof = tmp_path / "p.json"
    proof.write_text(json.dumps({"format": "overseer-inclusion-proof/1", "verifier_keys": 7}))
    code, out = run("verify", "--proof", str(proof))
    assert code == 3 and "bad_proof" in out and "Traceback" not in out


def test_a_corrupt_signing_key_stops_the_record_not_a_traceback(log_path, overseer_home):
    keys.load_signer(create=True)
    signing_key_path().write_text("PRIVATE+KEY+broken\n")
    with AuditLog(log_path) as log, pytest.raises(LogWriteError, match="cannot sign"):
        log.start_session(SessionStartedPayload(task="t", agent="test"))
    code, out = run("key", "show")
    assert code == 2 and "corrupt" in out
