"""The HTML and Markdown reports of a recorded session: self-contained,
escaped, complete; and the HTML rendered in headless Chromium (no console
errors, no network requests, every decision in the DOM, a screenshot)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.log import AuditLog
from tests.helpers.chromium import Chromium, chromium_path
from tests.helpers.fakes import ScriptedApprover
from tests.helpers.sessions import calc_repo, isolated_home, overseer, record

EVIL = "<script>alert(1)</script><img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("export")
    repo = calc_repo(root)
    log_path = root / "audit.db"

    def answer(req: ApprovalRequest) -> ApprovalDecision:
        if "push" in json.dumps(req.args):
            return ApprovalDecision(decision="deny", by="alice", reason="no pushes from <agents>")
        return ApprovalDecision(
            decision="approve", by="alice", reason="ok for now", args_hash=req.args_hash
        )

    steps = [
        {
            "id": "run1",
            "tool": "run_tests",
            "args": {"command": "python -m pytest -q -p no:cacheprovider"},
        },
        {"id": "evil", "tool": "shell", "args": {"command": f"echo '{EVIL}'"}},
        {"id": "push", "tool": "shell", "args": {"command": "git push origin main"}},
        {
            "id": "weaken",
            "tool": "edit_file",
            "args": {
                "path": "tests/test_calc.py",
                "old": 'assert add(2, 2) == 4, "add is wrong"',
                "new": 'assert add(2, 2) == 0, "add is wrong"',
            },
        },
        {
            "id": "fix",
            "tool": "edit_file",
            "args": {"path": "calc.py", "old": "return a * b", "new": "return b * a"},
        },
        {"id": "long", "tool": "shell", "args": {"command": "seq 1 400"}},
    ]
    with isolated_home(root):
        res = record(
            log_path,
            repo,
            steps,
            f"Fixed it. All tests pass. {EVIL}",
            approver=ScriptedApprover(*[answer] * 5),
        )
        # Export while the same seal key is in force, so the verify result is "intact".
        html_path, md_path = root / "session.html", root / "session.md"
        env_log = ["--log", str(log_path)]
        os.environ["OVERSEER_HOME"] = str(root / "overseer-home")
        try:
            for fmt, path in (("html", html_path), ("md", md_path)):
                out = overseer("export", res.session, "--format", fmt, "-o", str(path), *env_log)
                assert out.returncode == 0, out.stderr
        finally:
            del os.environ["OVERSEER_HOME"]
    with AuditLog(log_path) as log:
        actions = [e.payload for e in log.events(res.session, kinds=["policy_decided"])]
    return {
        "log": log_path,
        "id": res.session,
        "html": html_path,
        "md": md_path,
        "decided": actions,
    }


def test_html_is_self_contained_and_escaped(session):
    text = Path(session["html"]).read_text()
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert not re.search(r"<script|<link|<iframe|<img|<object|@import|url\(", text, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "onerror=alert" not in text.replace("&lt;img src=x onerror=alert(2)&gt;", "")
    assert session["id"] in text
    assert "Chain intact" in text
    # Every decision, who made it, and why.
    for d in session["decided"]:
        assert f'id="call-{d["call_id"]}"' in text
    assert text.count("by <b>alice</b>") >= 2 and "no pushes from &lt;agents&gt;" in text
    # Flags, diffs (coloured), collapsed long output, evidence, print CSS.
    assert "reward_hacking" in text and "unsupported_claim" in text
    assert '<span class="del">' in text and '<span class="add">' in text
    assert "<details><summary>show all of the output (" in text
    assert "Evidence from the log" in text and "@media print" in text


def test_markdown_report(session):
    md = Path(session["md"]).read_text()
    assert md.startswith(f"# overseer session `{session['id']}`")
    assert "| seq | when | tool | action | policy | approval | outcome |" in md
    assert "**deny** by alice" in md and "no pushes from &lt;agents&gt;" in md
    assert "reward\\_hacking" in md or "reward_hacking" in md
    assert "```diff" in md
    # Untrusted text is raw only inside code fences.
    outside = re.sub(r"(`{3,})[\s\S]*?\1", "", md)
    assert "<script>" not in outside


def test_reports_mark_flagged_decisions_and_name_the_approver(session):
    text = Path(session["html"]).read_text()
    table = text.split('<table class="decisions">', 1)[1].split("</table>", 1)[0]
    assert "⚑ reward_hacking" in table  # the weakening edit's row carries its flag
    assert "not asked (the policy decided)" in table  # an allow nobody was asked about
    # Diff lines are blocks that end with their newline: no empty line between them.
    diff = text.split('<pre class="diff">', 1)[1].split("</pre>", 1)[0]
    assert "</span>\n<span" not in diff and "\n</span><span" in diff
    md = Path(session["md"]).read_text()
    assert "| approver | " in md
    # Tool names in headings are code spans: no Markdown escapes inside them.
    assert "### #" in md and "`edit\\_file`" not in md and "`edit_file`" in md
    assert "**⚑ reward\\_hacking**" in md


def test_export_of_a_broken_chain_says_so(session, tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setenv("OVERSEER_HOME", str(Path(session["log"]).parent / "overseer-home"))
    log = tmp_path / "copy.db"
    with AuditLog(Path(session["log"])) as src:
        src.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(session["log"], log)
    shutil.copy(str(session["log"]) + ".seals", str(log) + ".seals")
    conn = sqlite3.connect(log)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute(
        "UPDATE events SET payload=replace(payload, 'git push', 'git status') "
        "WHERE session_id=? AND kind='action_proposed' AND payload LIKE '%git push%'",
        (session["id"],),
    )
    conn.commit()
    conn.close()
    out = tmp_path / "broken.html"
    res = overseer("export", session["id"], "--format", "html", "-o", str(out), "--log", str(log))
    assert res.returncode == 0, res.stderr
    assert "BROKEN at seq" in res.stderr and "hash_mismatch" in res.stderr
    text = out.read_text()
    assert "BROKEN at seq" in text and "The chain is broken at seq" in text
    md = overseer("export", session["id"], "--format", "md", "--log", str(log))
    assert "**BROKEN at seq" in md.stdout and "Do not trust" in md.stdout


def test_jsonl_export_never_leaves_a_partial_or_empty_file(session, tmp_path):
    target = tmp_path / "out.jsonl"
    res = overseer(
        "export", "nosuch", "--format", "jsonl", "-o", str(target), "--log", str(session["log"])
    )
    assert res.returncode == 2 and not target.exists()
    target.write_text("earlier export\n")
    res = overseer(
        "export", "nosuch", "--format", "jsonl", "-o", str(target), "--log", str(session["log"])
    )
    assert res.returncode == 2 and target.read_text() == "earlier export\n"
    for fmt in ("jsonl", "html", "md"):
        res = overseer(
            "export",
            session["id"],
            "--format",
            fmt,
            "-o",
            str(tmp_path / "no" / "dir" / "x"),
            "--log",
            str(session["log"]),
        )
        assert res.returncode == 2, (fmt, res.stderr)
        assert "Traceback" not in res.stderr and res.stderr.count("\n") == 1
        assert "cannot write" in res.stderr
    res = overseer(
        "export",
        session["id"],
        "--format",
        "jsonl",
        "-o",
        str(target),
        "--log",
        str(session["log"]),
    )
    assert res.returncode == 0 and target.read_text().startswith('{"')
    assert [f.name for f in tmp_path.iterdir() if f.name.endswith(".part")] == []


def test_export_errors_are_one_line(session, tmp_path):
    res = overseer("export", "nosuchsession", "--format", "html", "--log", str(session["log"]))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = overseer("export", session["id"], "--format", "pdf", "--log", str(session["log"]))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed (the Makefile's `debs` target installs it)",
)
def test_html_renders_in_chromium(session, tmp_path):
    shot = tmp_path / "session.png"
    with Chromium(tmp_path / "profile") as browser:
        page = browser.load(Path(session["html"]), screenshot=shot)
        rows = browser.send(
            "Runtime.evaluate",
            {
                "expression": (
                    "JSON.stringify({scripts: document.scripts.length, handlers: document.querySelectorAll('[onerror]').length,"
                    " rows: [...document.querySelectorAll('table.decisions tr')].slice(1).map(r => r.innerText),"
                    # The widest step between two lines of a diff, in line heights.
                    " gap: Math.max(...[...document.querySelectorAll('pre.diff')].map(pre => {"
                    "   const tops = [...pre.querySelectorAll('span')].map(s => s.getBoundingClientRect().top);"
                    "   const lh = parseFloat(getComputedStyle(pre).lineHeight) || 16;"
                    "   return Math.max(0, ...tops.slice(1).map((t, i) => (t - tops[i]) / lh)); }))})"
                ),
                "returnByValue": True,
            },
            session=True,
        )["result"]["value"]
    assert page.errors == [], page.errors
    assert page.requests == [page.url], page.requests  # the page itself, nothing else
    data = json.loads(rows)
    assert data["scripts"] == 0 and data["handlers"] == 0
    assert 0.5 < data["gap"] < 1.5, data["gap"]  # one diff line per line: no blank line between
    assert session["id"] in page.text
    assert EVIL in page.text  # shown as text
    assert len(data["rows"]) == len(session["decided"])
    for row, d in zip(data["rows"], session["decided"], strict=True):
        assert d["decision"] in row, (row, d)
    assert any("deny" in r and "alice" in r for r in data["rows"])
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("OVERSEER_SCREENSHOTS")
    if keep:  # a person can look: OVERSEER_SCREENSHOTS=DIR pytest tests/test_audit_export.py
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "session.png")
    print(f"screenshot: {shot}")


def test_the_auditor_makes_the_report_and_the_cli_only_writes_it(session, monkeypatch):
    """``overseer.audit.report`` is the report without the command line: the
    same page ``export`` wrote, and the verified record behind it."""
    from overseer.audit import export_markdown, report

    monkeypatch.setenv("OVERSEER_HOME", str(Path(session["log"]).parent / "overseer-home"))
    with AuditLog(Path(session["log"])) as log:
        text, rec = report(log, str(session["id"]), "md")
        assert rec.id == session["id"] and rec.verify is not None and rec.verify.ok
        assert text == Path(session["md"]).read_text() == export_markdown(log, str(session["id"]))
        html, _ = report(log, str(session["id"]), "html")
        assert "Content-Security-Policy" in html and "Chain intact" in html
        with pytest.raises(ValueError, match="no report format 'pdf'"):
            report(log, str(session["id"]), "pdf")
