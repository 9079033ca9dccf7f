"""Search across sessions (FTS5) and the counterfactual policy audit, on
recorded script-agent sessions under the shipped default policy."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.audit import audit_session, load_policy_ref, search
from overseer.audit.search import parse_since
from overseer.errors import UsageError
from overseer.log import AuditLog, fts
from overseer.policy.base import Verdict
from tests.helpers.fakes import ScriptedApprover
from tests.helpers.sessions import calc_repo, isolated_home, overseer, record


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two sessions under the default policy; a person (alice) answers the second's asks."""
    root = tmp_path_factory.mktemp("search")
    log_path = root / "audit.db"
    repo = calc_repo(root)
    with isolated_home(root):
        plain = record(
            log_path,
            repo,
            [
                {"id": "read", "tool": "read_file", "args": {"path": "calc.py"}},
                {"id": "ls", "tool": "shell", "args": {"command": "ls && cat calc.py"}},
                {
                    "id": "fix",
                    "tool": "edit_file",
                    "args": {"path": "calc.py", "old": "a - b", "new": "a + b"},
                },
                {
                    "id": "tests",
                    "tool": "run_tests",
                    "args": {"command": "python -m pytest -q -p no:cacheprovider"},
                },
            ],
            "Fixed add.",
            task="fix add",
        )

        def answer(req: ApprovalRequest) -> ApprovalDecision:
            if "push" in json.dumps(req.args):
                return ApprovalDecision(decision="deny", by="alice", reason="no pushes from agents")
            return ApprovalDecision(
                decision="approve",
                by="alice",
                reason="test update looks right",
                args_hash=req.args_hash,
            )

        alice = ScriptedApprover(answer, answer)
        pushy = record(
            log_path,
            repo,
            [
                {"id": "push", "tool": "shell", "args": {"command": "git push origin main"}},
                {
                    "id": "test_edit",
                    "tool": "write_file",
                    "args": {
                        "path": "tests/test_other.py",
                        "content": "from calc import mul\n\n\ndef test_mul_one():\n    assert mul(1, 5) == 5\n    assert mul(5, 1) == 5\n    assert mul(0, 1) == 0\n",
                    },
                },
            ],
            "Pushed.",
            task="push it",
            approver=alice,
        )
    return {"log": log_path, "repo": repo, "plain": plain.session, "pushy": pushy.session}


def test_which_sessions_ran_git_push(recorded):
    with AuditLog(recorded["log"]) as log:
        hits = search(log, "git push", tool="shell")
        assert {h.session_id for h in hits} == {recorded["pushy"]}
        [hit] = hits
        assert hit.call_id == "push" and hit.args["command"] == "git push origin main"
        assert (hit.decision, hit.approval, hit.approved_by, hit.outcome) == (
            "ask",
            "deny",
            "alice",
            "denied",
        )
        # Several events of one call match; it is reported once, with all of them.
        assert len(hit.matched) >= 2
        assert search(log, '"push git"') == []  # a quoted phrase is exact


def test_where_was_something_denied(recorded):
    with AuditLog(recorded["log"]) as log:
        hits = search(log, "", decision="deny")
        assert [(h.session_id, h.call_id) for h in hits] == [(recorded["pushy"], "push")]
        assert hits[0].approval_reason == "no pushes from agents"
        assert search(log, "pushes", kind="approval_decided")[0].approved_by == "alice"


def test_who_approved_a_write_to_a_path(recorded):
    with AuditLog(recorded["log"]) as log:
        [hit] = search(log, "tests/test_other.py", decision="approve")
        assert (hit.tool, hit.approved_by, hit.approval_reason) == (
            "write_file",
            "alice",
            "test update looks right",
        )
        # The watcher's file_changed event for the path is found too, by kind.
        changed = search(log, "calc.py", kind="file_changed")
        assert changed and all(h.kind == "file_changed" for h in changed)
        assert {h.call_id for h in changed} >= {"fix"}
        # Words from outputs and reasons are indexed.
        assert any(h.call_id == "tests" for h in search(log, "passed", tool="run_tests"))
        assert search(log, "read-only", decision="allow")


def test_since_and_filters(recorded):
    with AuditLog(recorded["log"]) as log:
        assert search(log, "calc", since=parse_since("9999-12-31")) == []
        assert len(search(log, "calc")) >= 3
        assert all(h.tool == "edit_file" for h in search(log, "calc", tool="edit_file"))
        with pytest.raises(UsageError, match="cannot search"):
            search(log, '"unbalanced')
        with pytest.raises(UsageError):
            search(log, "x", decision="maybe")


def test_index_is_backfilled_and_kept_up_to_date(tmp_path, recorded):
    # A copy of the DB made before the index existed is back-filled on first use.
    db = tmp_path / "copy.db"
    src = sqlite3.connect(recorded["log"])
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.execute(f"DROP TABLE IF EXISTS {fts.TABLE}")
    dst.execute("DELETE FROM meta WHERE key=?", (fts.WATERMARK,))
    dst.commit()
    dst.close()
    with AuditLog(db) as log:
        assert search(log, "git push")
        top = log.conn.execute("SELECT max(id) FROM events").fetchone()[0]
        assert fts.watermark(log.conn) == top
        sid = recorded["pushy"]
        log.append(sid, "user_message", {"text": "zanzibar is the codeword", "by": "carol"})
        [hit] = search(log, "zanzibar")
        assert hit.kind == "user_message" and hit.session_id == sid
    # A read-only connection gets a temporary index.
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
    try:
        ro.execute(f"DROP TABLE IF EXISTS temp.{fts.TABLE}")
        assert fts.catch_up(ro) in ("main", "temp")
    finally:
        ro.close()


def test_search_cli(recorded):
    res = overseer("search", "git push", "--json", "--log", str(recorded["log"]))
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert {"session_id", "seq", "kind", "tool", "decision", "approved_by", "excerpt"} <= set(row)
    text = overseer(
        "search", "tests/test_other.py", "--decision", "approve", "--log", str(recorded["log"])
    )
    assert "alice" in text.stdout and "write_file" in text.stdout
    # A write is shown by its path (not JSON whose first key is the content),
    # and the date is there: a search spans days.
    [line] = [ln for ln in text.stdout.splitlines() if "write_file" in ln]
    assert "tests/test_other.py  content=<" in line and '{"content"' not in line, line
    assert re.search(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b", line), line
    for bad in (
        ["search", '"oops', "--log", str(recorded["log"])],
        ["search", "x", "--since", "last tuesday", "--log", str(recorded["log"])],
    ):
        res = overseer(*bad)
        assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr


# -- counterfactual audit ----------------------------------------------------------


def test_strict_audit_of_a_default_policy_session(recorded):
    log_path = recorded["log"]
    calc_before = (recorded["repo"] / "calc.py").read_text()
    with AuditLog(log_path) as log:
        n_events = log.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        res = audit_session(log, recorded["plain"], load_policy_ref("strict"))
        assert (
            log.conn.execute("SELECT count(*) FROM events").fetchone()[0] == n_events
        )  # nothing recorded
    assert (recorded["repo"] / "calc.py").read_text() == calc_before  # nothing executed
    assert res.judged == 4 and res.skipped == 0
    changed = {c.call_id: c for c in res.changes}
    # Default allows edits and test runs; strict asks for both. Reading stays allowed.
    assert set(changed) == {"fix", "tests"}
    assert (changed["fix"].recorded, changed["fix"].now) == ("allow", "ask")
    assert changed["tests"].args["command"].startswith("python -m pytest")


def test_audit_with_a_policy_file_and_the_cli(recorded, tmp_path):
    policy = tmp_path / "nopush.toml"
    policy.write_text(
        'name = "nopush"\ndefault = "allow"\n\n[[rules]]\nname = "no-push"\ndecision = "deny"\n'
        'reason = "never push"\ncommand = ["git push"]\n'
    )
    res = overseer(
        "audit",
        recorded["pushy"][:6],
        "--policy",
        str(policy),
        "--json",
        "--log",
        str(recorded["log"]),
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    by_tool = {r["tool"]: r for r in rows}
    assert {"seq", "tool", "args", "recorded", "now", "rule"} <= set(rows[0])
    assert (by_tool["shell"]["recorded"], by_tool["shell"]["now"], by_tool["shell"]["rule"]) == (
        "ask",
        "deny",
        "no-push",
    )
    text = overseer("audit", recorded["plain"], "--policy", "strict", "--log", str(recorded["log"]))
    assert "2 decision(s) would change" in text.stdout and "allow -> ask" in text.stdout
    for bad in ("no-such-policy", str(tmp_path / "missing.toml")):
        res = overseer("audit", recorded["plain"], "--policy", bad, "--log", str(recorded["log"]))
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr


def test_audit_fails_closed_on_a_broken_policy(recorded):
    class Exploding:
        name, text, hash = "boom", "", ""

        def decide(self, *a: object) -> Verdict:
            raise RuntimeError("boom")

    with AuditLog(recorded["log"]) as log:
        res = audit_session(log, recorded["plain"], Exploding())  # type: ignore[arg-type]
    assert {c.now for c in res.changes} == {"deny"} and all(
        c.rule == "builtin:fail-closed" for c in res.changes
    )


def test_paths_in_sessions_are_resolved_against_the_recorded_workspace(
    recorded, tmp_path, monkeypatch
):
    # Run the audit from elsewhere: the session's workspace decides what is "inside".
    monkeypatch.chdir(tmp_path)
    with AuditLog(recorded["log"]) as log:
        res = audit_session(log, recorded["plain"], load_policy_ref("default"))
    assert res.changes == []
