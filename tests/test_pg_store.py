"""The team store on a real PostgreSQL: its schema, what it refuses, its
grants, and every reading and deciding command through --log URL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from overseer.log import AuditLog, open_store, open_team_store
from overseer.log.pg_schema import SCHEMA_VERSION
from overseer.log.shipper import ship_existing
from tests.helpers.sessions import calc_repo, isolated_home, overseer, record

ROOT = Path(__file__).resolve().parents[1]
STEPS = [
    {"tool": "read_file", "args": {"path": "calc.py"}},
    {"tool": "shell", "args": {"command": "git status --short"}},
    {"tool": "run_tests", "args": {"command": "python -m pytest -q tests/test_calc.py"}},
]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real recorded session in a local log (recorded once for the module)."""
    root = tmp_path_factory.mktemp("recorded")
    with isolated_home(root):
        log_path = root / "local.db"
        run = record(log_path, calc_repo(root), STEPS, "looked at the calculator")
    return log_path, run.session


@pytest.fixture
def shipped(recorded: tuple[Path, str], tmp_path: Path, pg_url: str) -> tuple[Path, str, str]:
    """That session, in a copy of its log, shipped to a fresh store."""
    import shutil

    source, sid = recorded
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


def test_readers_see_the_session_as_the_local_log_does(shipped, tmp_path: Path) -> None:
    log_path, sid, url = shipped
    local = json.loads(overseer("show", sid, "--json", "--log", str(log_path)).stdout)
    remote = json.loads(overseer("show", sid[:6], "--json", "--log", url).stdout)
    assert remote["events"] == local["events"]
    assert remote["session"]["task"] == local["session"]["task"]
    rows = json.loads(overseer("sessions", "--json", "--log", url).stdout)
    assert [r["id"] for r in rows] == [sid] and rows[0]["events"] == len(local["events"])
    res = overseer("verify", "--all", "--log", url)
    assert res.exit_code == 0, res.output
    assert "store schema check: ok" in res.output and f"{sid}  ok" in res.output
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


def test_the_replay_index_reads_a_session_from_the_store(shipped) -> None:
    from overseer.tui.index import EventIndex

    log_path, sid, url = shipped
    with open_store(url) as store:
        index = EventIndex.from_store(store, sid[:5])
    local = EventIndex.from_db(log_path, sid)
    assert list(index.kinds) == list(local.kinds) and len(index) > 10
    assert index.verify().ok
    finished = [s for s, k in zip(index.seqs, index.kinds, strict=True) if k == "action_finished"]
    assert index.payload(finished[0]) == local.payload(finished[0])


def test_the_store_refuses_events_that_do_not_follow_and_changes(shipped) -> None:
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
    # A rewritten copy of the last event as the next one: its link is wrong.
    cases = {
        "broken_link": (sid, seq + 1, ts, kind, payload, ph, prev, h),
        "seq_gap": (sid, seq + 2, ts, kind, payload, ph, h, h),
        "hash_mismatch": (sid, seq + 1, ts, kind, payload.replace("}", ',"x":1}', 1), ph, h, h),
    }
    for why, row in cases.items():
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match=why):
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
    assert overseer("verify", sid, "--log", url).exit_code == 0


def test_rows_tampered_by_the_owner_are_reported_with_the_usual_kinds(shipped) -> None:
    _log_path, sid, url = shipped
    (n,) = sql(url, "SELECT count(*) FROM overseer.events WHERE session_id = %s", (sid,))[0]
    # The owner can switch the guards off; verify says what that let through.
    sql(url, "ALTER TABLE overseer.events DISABLE TRIGGER events_append_only")
    sql(
        url,
        "UPDATE overseer.events SET payload = replace(payload, 'calc', 'CALC')"
        " WHERE session_id = %s AND seq = 3",
        (sid,),
    )
    res = overseer("verify", sid, "--json", "--log", url)
    out = json.loads(res.stdout)
    assert res.exit_code == 3
    assert "events_append_only is disabled" in out["integrity"]
    assert (
        out["sessions"][0]["kind"] == "hash_mismatch"
        and out["sessions"][0]["first_broken_seq"] == 3
    )
    # The tail after the last seal is cut: the shipped seal says it existed.
    sql(url, "DELETE FROM overseer.events WHERE session_id = %s AND seq > %s", (sid, n - 3))
    sql(url, "UPDATE overseer.events SET payload = replace(payload, 'CALC', 'calc')")
    sql(url, "ALTER TABLE overseer.events ENABLE TRIGGER events_append_only")
    out = json.loads(overseer("verify", "--all", "--json", "--log", url).stdout)
    assert out["integrity"] == "ok"
    assert out["sessions"][0]["kind"] == "truncated"


def test_the_documented_grants_let_each_role_do_its_work_and_no_more(
    shipped, tmp_path: Path
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
    assert overseer("verify", "--all", "--log", as_reviewer).exit_code == 0
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
