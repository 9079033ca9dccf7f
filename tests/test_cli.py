"""The CLI contract: help text and README mention for every command, one-line
usage errors with exit 2, clear messages for bad log files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from overseer.cli import cli
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog

ROOT = Path(__file__).resolve().parent.parent


def all_commands(group: click.Group = cli, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, f"overseer {prefix}{name} is listed but cannot be loaded"
        full = f"{prefix}{name}"
        out.append((full, cmd))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, full + " ")
    return out


@pytest.mark.parametrize("name,cmd", all_commands(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_has_help_and_is_in_the_readme(name, cmd):
    assert (cmd.help or "").strip(), f"overseer {name} has no help text"
    readme = (ROOT / "README.md").read_text()
    assert f"overseer {name}" in readme, f"README.md does not mention `overseer {name}`"


def test_the_command_table_names_every_command_module_and_no_other():
    """COMMAND_MODULES lets a command import only its own module: it must
    list exactly what the `*_cmds.py` modules contribute."""
    import importlib
    import pkgutil

    import overseer.cli as package
    from overseer.cli import COMMAND_MODULES

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.endswith("_cmds") and info.name != "log_cmds":
            module = importlib.import_module(f"overseer.cli.{info.name}")
            found |= {c.name: info.name for c in getattr(module, "COMMANDS", [])}
    assert found == COMMAND_MODULES


def test_a_log_command_does_not_load_the_others():
    code = "import sys\nfrom overseer.cli import cli\nprint(sorted(m for m in sys.modules if m.startswith('overseer.')))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    loaded = res.stdout
    for heavy in (
        "overseer.session",
        "overseer.audit.flags",
        "overseer.cli.run_cmds",
        "overseer.agent",
    ):
        assert f"'{heavy}'" not in loaded, heavy


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overseer", *args], capture_output=True, text=True, env=env
    )


def test_usage_errors_are_one_line_exit_2():
    for args in (["bogus"], ["verify"], ["show"], ["export"]):
        res = run(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Traceback" not in res.stderr


def test_bad_log_files_are_clear_messages(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00garbage" * 100)
    res = run("sessions", "--log", str(junk))
    assert res.returncode == 2 and "not a readable overseer audit log" in res.stderr
    assert "Traceback" not in res.stderr
    res = run("verify", "--all", "--log", str(tmp_path / "missing.db"))
    assert res.returncode == 2 and "no audit log" in res.stderr


def test_sessions_show_verify_json_contract(tmp_path):
    db = tmp_path / "a.db"
    with AuditLog(db) as log:
        sid = log.start_session(SessionStartedPayload(task="fix the bug", agent="script"))
        log.append(sid, "user_message", {"text": "hello"})
        log.end_session(sid, "completed", "done")
    res = run("sessions", "--json", "--log", str(db))
    [row] = json.loads(res.stdout)
    assert {"id", "task", "agent", "status", "started", "events"} <= set(row)
    assert row["status"] == "completed"
    shown = json.loads(run("show", sid[:5], "--json", "--log", str(db)).stdout)
    assert shown["session"]["id"] == sid
    assert {"seq", "ts", "kind", "payload"} <= set(shown["events"][0])
    ver = run("verify", "--all", "--json", "--log", str(db))
    assert ver.returncode == 0 and json.loads(ver.stdout)["ok"]
    conn = __import__("sqlite3").connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute("UPDATE events SET payload='{}' WHERE seq=2")
    ver = run("verify", sid, "--log", str(db))
    assert ver.returncode == 3 and "hash_mismatch" in ver.stdout


def test_log_env_var_is_honoured(tmp_path):
    db = tmp_path / "env.db"
    with AuditLog(db) as log:
        log.start_session(SessionStartedPayload(task="via env", agent="script"))
    import os

    res = run("sessions", env={**os.environ, "OVERSEER_LOG": str(db)})
    assert "via env" in res.stdout


def test_no_arguments_prints_the_help_not_an_error():
    res = run()
    assert res.returncode == 0 and res.stdout.startswith("Usage: overseer") and res.stderr == ""
    res = run("policy")
    assert res.returncode == 0 and "Usage: overseer policy" in res.stdout
