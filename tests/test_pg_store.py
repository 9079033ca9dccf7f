"""The team store on a real PostgreSQL: its schema, what it refuses, its
grants, and every reading and deciding command through --log URL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from overseer.canonical import GENESIS, canonical_json, chain_hash, event_body, sha256_hex
from overseer.log import AuditLog, keys, merkle, open_store, open_team_store
from overseer.log.checkpoints import b64, checkpoint_text
from overseer.log.note import Signer, Verifier
from overseer.log.pg_schema import HASH_CONSTRAINTS, SCHEMA_VERSION
from overseer.log.shipper import ship_existing
from tests.helpers.sessions import calc_repo, isolated_home, overseer, record

ROOT = Path(__file__).resolve().parents[1]
STEPS = [
    {"tool": "read_file", "args": {"path": "calc.py"}},
    {"tool": "shell", "args": {"command": "git status --short"}},
    {"tool": "run_tests", "args": {"command": "python -m pytest -q tests/test_calc.py"}},
]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A real recorded session in a local log (recorded once for the module),
    and the runner's verifier key (an auditor elsewhere is given it)."""
    root = tmp_path_factory.mktemp("recorded")
    with isolated_home(root):
        log_path = root / "local.db"
        run = record(log_path, calc_repo(root), STEPS, "looked at the calculator")
        runner = keys.local_verifier()
    assert runner is not None
    return log_path, run.session, runner.vkey


@pytest.fixture
def runner_key(recorded: tuple[Path, str, str]) -> str:
    return recorded[2]


@pytest.fixture
def shipped(recorded: tuple[Path, str, str], tmp_path: Path, pg_url: str) -> tuple[Path, str, str]:
    """That session, in a copy of its log, shipped to a fresh store."""
    import shutil

    source, sid, _key = recorded
    log_path = tmp_path / "local.db"
    shutil.copy(source, log_path)
    shutil.copy(f"{source}.seals", f"{log_path}.seals")
    with AuditLog(log_path) as log, open_team_store(pg_url) as store:
        [report] = ship_existing(log, store, [sid])
    assert report.sent > 10 and report.already == 0 and report.attestations >= 1
    return log_path, sid, pg_url


def sql(url: str, query: str, params: tuple[object, ...] | None = None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def test_readers_see_the_session_as_the_local_log_does(
    shipped, runner_key: str, tmp_path: Path
) -> None:
    log_path, sid, url = shipped
    local = json.loads(overseer("show", sid, "--json", "--log", str(log_path)).stdout)
    remote = json.loads(overseer("show", sid[:6], "--json", "--log", url).stdout)
    assert remote["events"] == local["events"]
    assert remote["session"]["task"] == local["session"]["task"]
    rows = json.loads(overseer("sessions", "--json", "--log", url).stdout)
    assert [r["id"] for r in rows] == [sid] and rows[0]["events"] == len(local["events"])
    # The auditor trusts the runner's key: chain, roots and signatures hold.
    res = overseer("verify", "--all", "--log", url, "--key", runner_key)
    assert res.exit_code == 0, res.output
    assert "store schema check: ok" in res.output and f"{sid}  ok" in res.output
    assert "signed checkpoint at tree size" in res.output
    # Without it, nothing vouches for who wrote what the store holds.
    res = overseer("verify", sid, "--log", url)
    assert res.exit_code == 3 and "untrusted_key" in res.output, res.output
    notes = overseer("checkpoint", sid, "--all", "--log", url).stdout
    assert notes.count(f"overseer/{sid}\n") >= 2  # the first event's, a seal's, the end's
    # Search: PostgreSQL full-text over the same fields as the local FTS5 index.
    for query in ("calc.py", "git status", '"git status"', "pytest"):
        here = json.loads(overseer("search", query, "--json", "--log", str(log_path)).stdout)
        there = json.loads(overseer("search", query, "--json", "--log", url).stdout)
        assert [(h["seq"], h["tool"]) for h in there] == [(h["seq"], h["tool"]) for h in here], (
            query
        )
        assert there, query
    assert overseer("flags", "--json", "--log", url).exit_code == 0
    audit = overseer("audit", sid, "--policy", "strict", "--json", "--log", url)
    assert audit.exit_code == 0 and json.loads(audit.stdout)
    # An export from the store imports into a fresh local log and verifies there.
    out = tmp_path / "s.jsonl"
    assert overseer("export", sid, "-o", str(out), "--log", url).exit_code == 0
    fresh = tmp_path / "fresh.db"
    res = overseer("import", str(out), "--log", str(fresh))
    assert res.exit_code == 0, res.output
    html = tmp_path / "s.html"
    assert overseer("export", sid, "--format", "html", "-o", str(html), "--log", url).exit_code == 0
    assert "verif" in html.read_text().lower()


def test_the_replay_index_reads_a_session_from_the_store(shipped, runner_key: str) -> None:
    from overseer.tui.index import EventIndex

    log_path, sid, url = shipped
    with open_store(url) as store:
        index = EventIndex.from_store(store, sid[:5])
    local = EventIndex.from_db(log_path, sid)
    assert list(index.kinds) == list(local.kinds) and len(index) > 10
    assert index.verify(trusted=[Verifier.parse(runner_key)]).ok
    assert index.verify().kind == "untrusted_key"
    finished = [s for s, k in zip(index.seqs, index.kinds, strict=True) if k == "action_finished"]
    assert index.payload(finished[0]) == local.payload(finished[0])


@pytest.mark.parametrize("batch", [2000, 2])
def test_text_that_copy_formats_treat_specially_ships_byte_for_byte(
    tmp_path: Path, pg_url: str, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipper COPYs in binary: tabs, newlines, backslashes, quotes,
    non-ASCII and line separators reach the store as the local log holds
    them (the store re-hashes every row, so a changed byte would be refused,
    not stored). With small batches the read-ahead thread reads every batch
    after the first."""
    from overseer.events import NoticePayload, SessionStartedPayload
    from overseer.log import ship_source

    monkeypatch.setattr(ship_source, "BATCH", batch)

    awkward = 'tab\there\nnew line \\N \\. back\\slash "quoted" \u00e9t\u00e9 \u65e5\u672c \u2028 \U0001f600'
    with isolated_home(tmp_path), AuditLog(tmp_path / "local.db") as log:
        sid = log.start_session(SessionStartedPayload(task=awkward, agent="t"))
        for i in range(3):
            log.append(sid, "notice", NoticePayload(topic=f"t{i}", message=awkward * (i + 1)))
        log.end_session(sid, "completed", awkward, None, None)
        local = [(e.seq, e.kind, e.payload) for e in log.events(sid)]
        with open_team_store(pg_url) as store:
            [report] = ship_existing(log, store, [sid])
            assert report.sent == len(local)
            assert [(e.seq, e.kind, e.payload) for e in store.events(sid)] == local
            assert store.verify(sid, trusted=[keys.local_verifier()])[0].ok
    stored = sql(url=pg_url, query="SELECT payload FROM overseer.events ORDER BY seq")
    assert any(awkward in json.loads(p).get("message", "") for (p,) in stored)


def test_the_store_refuses_events_that_do_not_follow_and_changes(shipped, runner_key) -> None:
    _log_path, sid, url = shipped
    [(seq, ts, kind, payload, ph, prev, h)] = sql(
        url,
        "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM overseer.events"
        " WHERE session_id = %s ORDER BY seq DESC LIMIT 1",
        (sid,),
    )
    insert = (
        "INSERT INTO overseer.events (session_id, seq, ts, kind, payload, payload_hash,"
        " prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    # Copies of the last event as the next one, each with its hashes made to
    # follow but for one defect (so each check is what refuses it).
    edited = payload.replace("}", ',"x":1}', 1)
    other = sha256_hex(event_body("nobody", ts, kind, payload))
    cases = {
        "broken_link": (sid, seq + 1, ts, kind, payload, ph, prev, chain_hash(prev, seq + 1, ph)),
        "seq_gap": (sid, seq + 2, ts, kind, payload, ph, h, chain_hash(h, seq + 2, ph)),
        "events_payload_hash": (sid, seq + 1, ts, kind, edited, ph, h, chain_hash(h, seq + 1, ph)),
        "events_chain_hash": (sid, seq + 1, ts, kind, payload, ph, h, h),
        "no such session": ("nobody", 1, ts, kind, payload, other, GENESIS,
                            chain_hash(GENESIS, 1, other)),
    }  # fmt: skip
    for why, row in cases.items():
        with pytest.raises(psycopg.IntegrityError, match=why):
            sql(url, insert, row)
    for change in (
        "UPDATE overseer.events SET payload = payload WHERE session_id = %s",
        "DELETE FROM overseer.events WHERE session_id = %s",
        "TRUNCATE overseer.blobs",
        "TRUNCATE overseer.events CASCADE",
    ):
        params = (sid,) if "%s" in change else None
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            sql(url, change, params)
    with pytest.raises(psycopg.errors.CheckViolation):
        sql(url, "INSERT INTO overseer.blobs VALUES (%s, 1, 'x')", ("0" * 64,))
    assert overseer("verify", sid, "--log", url, "--key", runner_key).exit_code == 0


def _continue(sid: str, seq: int, prev: str, n: int) -> list[list[object]]:
    """n valid events after (seq, prev): rows as a shipper COPYs them."""
    rows: list[list[object]] = []
    for i in range(1, n + 1):
        payload = canonical_json({"topic": "t", "message": f"m{i}"})
        ts = 1_700_000_000_000_000_000 + i
        ph = sha256_hex(event_body(sid, ts, "notice", payload))
        h = chain_hash(prev, seq + i, ph)
        rows.append([sid, seq + i, ts, "notice", payload, ph, prev, h])
        prev = h
    return rows


def _copy(url: str, rows: list[list[object]]) -> None:
    cols = "session_id, seq, ts, kind, payload, payload_hash, prev_hash, hash"
    with (
        psycopg.connect(url, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY overseer.events ({cols}) FROM STDIN") as copy,
    ):
        for r in rows:
            copy.write_row(r)


def test_a_batch_is_refused_whole_at_its_first_bad_row(shipped) -> None:
    _log_path, sid, url = shipped
    ((seq, head),) = sql(
        url,
        "SELECT seq, hash FROM overseer.events WHERE session_id = %s ORDER BY seq DESC LIMIT 1",
        (sid,),
    )

    def bad(k: int, change: Callable[[list[object]], None], why: str) -> None:
        rows = _continue(sid, seq, head, 6)
        change(rows[k])
        with pytest.raises(psycopg.IntegrityError) as err:
            _copy(url, rows)
        if why.startswith("events_"):  # a CHECK constraint names the row it refused
            assert f'check constraint "{why}"' in str(err.value)
            assert f", {sid}, {seq + k + 1}, " in str(err.value.diag.message_detail)
        else:
            assert f"event {seq + k + 1} of session {sid}: {why}" in str(err.value)

    def follow(r: list[object]) -> None:  # its own hash made to follow its fields
        r[7] = chain_hash(str(r[6]), int(str(r[1])), str(r[5]))

    def relink(r: list[object]) -> None:
        r[6] = "1" * 64
        follow(r)

    def edit(r: list[object]) -> None:
        r[4] = str(r[4]).replace("m", "M")

    def rehash(r: list[object]) -> None:
        r[7] = "2" * 64

    def skip(r: list[object]) -> None:
        r[1] = int(str(r[1])) + 10
        follow(r)

    bad(3, relink, "broken_link: prev_hash is not the hash of event")
    bad(2, edit, "events_payload_hash")
    bad(4, rehash, "events_chain_hash")
    # The row after a changed hash no longer links to it: the change is named.
    bad(0, rehash, "events_chain_hash")
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="seq_gap"):
        rows = _continue(sid, seq, head, 6)
        skip(rows[5])
        _copy(url, rows)
    assert sql(url, "SELECT max(seq) FROM overseer.events WHERE session_id = %s", (sid,)) == [
        (seq,)
    ]
    # Two sessions in one statement, each following its own chain: taken.
    sql(url, "INSERT INTO overseer.sessions (id) VALUES ('other')")
    _copy(url, _continue(sid, seq, head, 4) + _continue("other", 0, GENESIS, 3))
    fresh = _continue("other2", 0, GENESIS, 2)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="no such session"):
        _copy(url, fresh)
    sql(url, "INSERT INTO overseer.sessions (id) VALUES ('other2')")
    fresh[0][6] = "3" * 64
    follow(fresh[0])
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="genesis hash"):
        _copy(url, fresh)


def test_rows_tampered_by_the_owner_are_reported_with_the_usual_kinds(
    shipped, runner_key: str
) -> None:
    _log_path, sid, url = shipped
    (n,) = sql(url, "SELECT count(*) FROM overseer.events WHERE session_id = %s", (sid,))[0]
    # The owner can switch the guards off; verify says what that let through.
    sql(url, "ALTER TABLE overseer.events DISABLE TRIGGER events_append_only")
    sql(url, "ALTER TABLE overseer.events DROP CONSTRAINT events_payload_hash")
    sql(
        url,
        "UPDATE overseer.events SET payload = replace(payload, 'calc', 'CALC')"
        " WHERE session_id = %s AND seq = 3",
        (sid,),
    )
    res = overseer("verify", sid, "--json", "--log", url, "--key", runner_key)
    out = json.loads(res.stdout)
    assert res.exit_code == 3
    assert "events_append_only is disabled" in out["integrity"]
    assert "guard constraint events_payload_hash is missing" in out["integrity"]
    assert (
        out["sessions"][0]["kind"] == "hash_mismatch"
        and out["sessions"][0]["first_broken_seq"] == 3
    )
    # The tail after the last seal is cut: the shipped seal says it existed.
    sql(url, "DELETE FROM overseer.events WHERE session_id = %s AND seq > %s", (sid, n - 3))
    sql(url, "UPDATE overseer.events SET payload = replace(payload, 'CALC', 'calc')")
    sql(url, "ALTER TABLE overseer.events ENABLE TRIGGER events_append_only")
    sql(
        url,
        "ALTER TABLE overseer.events ADD CONSTRAINT events_payload_hash"
        f" CHECK ({HASH_CONSTRAINTS['events_payload_hash']}) NOT VALID",
    )
    out = json.loads(
        overseer("verify", "--all", "--json", "--log", url, "--key", runner_key).stdout
    )
    assert out["integrity"] == "ok"
    assert out["sessions"][0]["kind"] == "truncated"


def _rewrite(url: str, sid: str, seq: int, old: str, new: str, signer: Signer | None) -> None:
    """What an admin of the store can do without the runner's key: change one
    event, re-chain everything after it (every seal's head and root too), and
    re-sign the checkpoints with a key of their own (or drop them: None)."""
    rows = sql(
        url,
        "SELECT seq, ts, kind, payload FROM overseer.events WHERE session_id = %s ORDER BY seq",
        (sid,),
    )
    sizes = [int(n.split("\n")[1]) for (n,) in sql(
        url, "SELECT body FROM overseer.attestations WHERE session_id = %s AND kind = 'checkpoint'",
        (sid,))]  # fmt: skip
    for t in ("events_append_only", "events_check_chain"):
        sql(url, f"ALTER TABLE overseer.events DISABLE TRIGGER {t}")
    sql(url, "ALTER TABLE overseer.attestations DISABLE TRIGGER attestations_append_only")
    sql(url, "DELETE FROM overseer.attestations WHERE session_id = %s", (sid,))
    tree, prev, roots = merkle.Frontier(), GENESIS, {}
    for n, ts, kind, payload in rows:
        if n == seq:
            payload = payload.replace(old, new)
        if kind == "seal":
            d = json.loads(payload)
            d.update(head=prev, root=b64(tree.root()))
            payload = canonical_json(d)
        ph = sha256_hex(event_body(sid, ts, kind, payload))
        h = chain_hash(prev, n, ph)
        sql(
            url,
            "UPDATE overseer.events SET payload = %s, payload_hash = %s, prev_hash = %s, hash = %s"
            " WHERE session_id = %s AND seq = %s",
            (payload, ph, prev, h, sid, n),
        )
        tree.append(merkle.leaf_hash(bytes.fromhex(h)))
        roots[n] = tree.root()
        prev = h
    for size in sizes if signer is not None else []:
        note = signer.sign(checkpoint_text(sid, size, roots[size]))
        sql(
            url,
            "INSERT INTO overseer.attestations (session_id, kind, seq, body, body_hash)"
            " VALUES (%s, 'checkpoint', %s, %s, encode(sha256(convert_to(%s, 'UTF8')), 'hex'))",
            (sid, size, note, note),
        )
    for t in ("events_append_only", "events_check_chain"):
        sql(url, f"ALTER TABLE overseer.events ENABLE TRIGGER {t}")
    sql(url, "ALTER TABLE overseer.attestations ENABLE TRIGGER attestations_append_only")


def test_the_store_admin_cannot_rewrite_a_session_unnoticed(shipped, runner_key: str) -> None:
    _log_path, sid, url = shipped
    trusted = ("--log", url, "--key", runner_key)

    def verdict() -> dict:
        res = overseer("verify", sid, "--json", *trusted)
        assert res.exit_code == 3, res.output
        out = json.loads(res.stdout)
        assert out["integrity"] == "ok"  # every guard is back on: only the signatures tell
        return out["sessions"][0]

    # Re-chained, re-rooted and re-signed with the admin's own key: the
    # chain and the tree are consistent, but no trusted key signed them.
    admin = Signer.generate("store-admin")
    _rewrite(url, sid, 3, "calc", "CALC", admin)
    got = verdict()
    assert got["kind"] == "untrusted_key" and "store-admin" in got["detail"]
    # Trusting the admin's key too does not help them: the runner's
    # signatures are gone, the admin's say what the admin wrote, and an
    # auditor who trusts only runners' keys sees that.
    both = overseer("verify", sid, *trusted, "--key", admin.verifier.vkey)
    assert both.exit_code == 0 and "store-admin" in both.output  # says who signed
    # The checkpoints dropped instead: the seals' roots show it was signed.
    # Nor does a legacy HMAC seal claim in their place (the store cannot
    # check one, and the seals' roots show the runner signed checkpoints).
    _rewrite(url, sid, 3, "CALC", "calc", None)
    (n,) = sql(url, "SELECT max(seq) FROM overseer.events WHERE session_id = %s", (sid,))[0]
    (head,) = sql(url, "SELECT hash FROM overseer.events WHERE session_id = %s AND seq = %s",
                  (sid, n))[0]  # fmt: skip
    claim = json.dumps({"session": sid, "seq": n, "head": head, "count": n, "ts": 1, "mac": "0"})
    sql(
        url,
        "INSERT INTO overseer.attestations (session_id, kind, seq, body, body_hash)"
        " VALUES (%s, 'seal', %s, %s, encode(sha256(convert_to(%s, 'UTF8')), 'hex'))",
        (sid, n, claim, claim),
    )
    got = verdict()
    assert got["kind"] == "unsigned" and "records a Merkle root" in got["detail"], got


def test_a_changed_event_breaks_the_signed_root(shipped, runner_key: str) -> None:
    _log_path, sid, url = shipped
    # Re-chained, but the runner's checkpoints kept: the tree they sign is
    # not the tree of the events the store now holds.
    (notes,) = sql(url, "SELECT array_agg(body ORDER BY id) FROM overseer.attestations"
                   " WHERE session_id = %s AND kind = 'checkpoint'", (sid,))[0]  # fmt: skip
    _rewrite(url, sid, 3, "calc", "CALC", None)
    for note in notes:
        sql(
            url,
            "INSERT INTO overseer.attestations (session_id, kind, seq, body, body_hash)"
            " VALUES (%s, 'checkpoint', 0, %s, encode(sha256(convert_to(%s, 'UTF8')), 'hex'))",
            (sid, note, note),
        )
    res = overseer("verify", sid, "--json", "--log", url, "--key", runner_key)
    got = json.loads(res.stdout)["sessions"][0]
    assert res.exit_code == 3 and got["kind"] == "root_mismatch", got


def test_the_documented_grants_let_each_role_do_its_work_and_no_more(
    shipped, runner_key: str, tmp_path: Path
) -> None:
    log_path, sid, url = shipped
    text = (ROOT / "docs" / "teams.md").read_text()
    grants = re.search(r"```sql\n(CREATE ROLE overseer_shipper.*?)```", text, re.S)
    assert grants, "docs/teams.md lost its GRANT block"
    sql(url, grants.group(1))
    as_shipper = url.replace("postgres@", "overseer_shipper@")
    as_reviewer = url.replace("postgres@", "overseer_reviewer@")
    # A runner ships a new session with the shipper role...
    run = record(log_path, calc_repo(tmp_path, "calc2"), STEPS[:1], "again")
    res = overseer("ship", run.session, "--to", as_shipper, "--log", str(log_path))
    assert res.exit_code == 0, res.output
    # ...but cannot change or delete what is there, even with its own grants.
    for change in (
        "UPDATE overseer.events SET kind = kind",
        "DELETE FROM overseer.events",
        "UPDATE overseer.sessions SET task = 'x'",
        "DELETE FROM overseer.inbox",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(as_shipper, change)
    # A reviewer reads, searches, verifies and leaves decisions; writes no events.
    assert overseer("search", "calc", "--log", as_reviewer).exit_code == 0
    # (the second session was recorded with this test's own key: trusted here)
    res = overseer("verify", "--all", "--log", as_reviewer, "--key", runner_key)
    assert res.exit_code == 0, res.output
    with open_store(as_reviewer) as store:
        store.post(sid, "message", {"text": "hello"}, by="rev@x")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        sql(as_reviewer, "INSERT INTO overseer.events (session_id, seq, ts, kind, payload,"
            " payload_hash, prev_hash, hash) VALUES ('a', 1, 1, 'k', '{}', 'x', 'x', 'x')")  # fmt: skip


def test_a_newer_schema_and_bad_urls_are_one_line_errors(pg_url: str, pg_cluster) -> None:
    with open_store(pg_url) as store:
        assert store.sessions() == []
    assert sql(pg_url, "SELECT value FROM overseer.meta") == [(str(SCHEMA_VERSION),)]
    sql(pg_url, "UPDATE overseer.meta SET value = '999' WHERE key = 'schema_version'")
    bad = {
        pg_url: "schema version 999, newer than this overseer",
        pg_url.replace("postgres@", "nobody@"): 'role "nobody" does not exist',
        "postgresql://postgres@/x?host=/nonexistent": "cannot reach the team store",
        "postgresql://[oops/x": "not a usable store URL",
    }
    for url, message in bad.items():
        res = overseer("sessions", "--log", url)
        assert res.exit_code == 2, (url, res.output)
        assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    # Only a local log can be imported into, pruned or undone.
    res = overseer("prune", "--older-than", "1", "--log", pg_url)
    assert res.exit_code == 2 and "needs a local audit log" in res.stderr


def test_a_v1_store_migrates_to_v2_and_keeps_refusing(pg_url: str) -> None:
    """A store created by schema v1 (hashes checked by the statement trigger)
    gains the v2 CHECK constraints NOT VALID (its rows were checked as they
    arrived); a fresh store has them validated. Both refuse the same rows."""
    from overseer.log.pg_schema import GUARD_CONSTRAINTS, MIGRATIONS

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO overseer.meta VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO overseer.sessions (id) VALUES ('s1')")
    _copy(pg_url, _continue("s1", 0, GENESIS, 5))
    with open_team_store(pg_url):
        pass
    assert sql(pg_url, "SELECT value FROM overseer.meta") == [("2",)]
    constraints = (
        "SELECT conname, convalidated FROM pg_constraint"
        " WHERE conrelid = 'overseer.events'::regclass AND conname LIKE 'events_%%hash'"
        " ORDER BY conname"
    )
    assert sql(pg_url, constraints) == [(name, False) for name in sorted(GUARD_CONSTRAINTS)]
    ((head,),) = sql(pg_url, "SELECT hash FROM overseer.events WHERE seq = 5")
    rows = _continue("s1", 5, head, 3)
    rows[1][4] = str(rows[1][4]).replace("m", "M")
    with pytest.raises(psycopg.errors.CheckViolation, match="events_payload_hash"):
        _copy(pg_url, rows)
    rows = _continue("s1", 5, head, 3)
    rows[2][6] = "1" * 64
    rows[2][7] = chain_hash("1" * 64, 8, str(rows[2][5]))
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="broken_link"):
        _copy(pg_url, rows)
    _copy(pg_url, _continue("s1", 5, head, 3))
    with open_team_store(pg_url) as store:
        assert store.integrity()[1] == "ok", store.integrity()
        assert store.verify("s1")[0].kind == "unsigned"  # a whole chain, nobody signed it


def test_a_fresh_store_has_its_hash_constraints_validated(pg_url: str) -> None:
    with open_team_store(pg_url):
        pass
    assert sql(
        pg_url,
        "SELECT bool_and(convalidated), count(*) FROM pg_constraint"
        " WHERE conrelid = 'overseer.events'::regclass AND conname IN"
        " ('events_payload_hash', 'events_chain_hash')",
    ) == [(True, 2)]
