"""Every unusable audit log path is one line naming the path and the cause,
exit 2, and nothing runs — for `overseer run` and the commands that read or
write an existing log.

The causes are real, not mocked: a parent under /proc or under a file, a
directory, a file that is not SQLite; permissions that bind even root (the
CLI runs with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped from its
bounding set when the tests run as root, as CI does); a read-only bind mount
and a small, filled tmpfs made by bubblewrap in a private mount namespace.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from overseer.errors import LogError
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.sandbox import bwrap_status
from tests.conftest import git

PYTHON = sys.executable
bwrap_ok, bwrap_why = bwrap_status()
needs_bwrap = pytest.mark.skipif(not bwrap_ok, reason=f"bubblewrap unusable here: {bwrap_why}")


@pytest.fixture
def setup(make_repo, tmp_path: Path) -> tuple[Path, Path]:
    """A repository and a plan whose only step writes marker.txt into it."""
    repo = make_repo()
    plan = tmp_path / "plan.json"
    steps = [{"tool": "write_file", "args": {"path": "marker.txt", "content": "ran\n"}}]
    plan.write_text(json.dumps({"steps": steps, "final": "done"}))
    return repo, plan


def run_argv(repo: Path, plan: Path, log: Path) -> list[str]:
    return [
        PYTHON,
        "-m",
        "overseer",
        "run",
        "--agent",
        f"script:{plan}",
        "--headless",
        "--approver",
        "approve-all",
        "--sandbox",
        "none",
        "--repo",
        str(repo),
        "--log",
        str(log),
    ]


def cli(argv: list[str], wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(wrap or []), *argv], capture_output=True, text=True, timeout=120, check=False
    )


def assert_refused(res: subprocess.CompletedProcess[str], path: Path, cause: str) -> str:
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert len(lines) == 1 and lines[0].startswith("overseer: error: "), res.stderr
    assert str(path) in lines[0] and cause in lines[0], lines[0]
    assert "Traceback" not in res.stderr
    return lines[0]


def assert_nothing_ran(repo: Path) -> None:
    assert not (repo / "marker.txt").exists()
    # Nor is the session's snapshot left behind for a session never recorded.
    assert git(repo, "for-each-ref", "refs/overseer/") == ""


def refuse_run(
    setup: tuple[Path, Path], log: Path, cause: str, wrap: list[str] | None = None
) -> str:
    repo, plan = setup
    line = assert_refused(cli(run_argv(repo, plan, log), wrap), log, cause)
    assert_nothing_ran(repo)
    return line


def make_log(path: Path) -> str:
    """A real overseer log with one ended session; returns the session id."""
    with AuditLog(path) as log:
        sid = log.start_session(SessionStartedPayload(task="t", agent="script"))
        log.end_session(sid, "completed")
    return sid


def other_commands(log: Path, sid: str) -> list[list[str]]:
    """Commands that open an existing log: reading it, and writing into it."""
    base = [PYTHON, "-m", "overseer"]
    return [
        [*base, "sessions", "--log", str(log)],
        [*base, "verify", "--all", "--log", str(log)],
        [*base, "say", sid, "hello", "--log", str(log)],
    ]


def test_control_a_usable_log_runs_the_plan(setup, tmp_path):
    """The harness itself: with a good log the same plan does write the marker."""
    repo, plan = setup
    res = cli(run_argv(repo, plan, tmp_path / "ok" / "audit.db"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert (repo / "marker.txt").read_text() == "ran\n"


# -- a parent that cannot be created, a directory, not SQLite ------------------


def test_a_parent_under_proc_cannot_be_created(setup):
    refuse_run(setup, Path("/proc/nonexistent/audit.db"), "virtual file system")


def test_a_parent_that_is_a_file(setup, tmp_path):
    (tmp_path / "afile").write_text("x")
    refuse_run(setup, tmp_path / "afile" / "logs" / "audit.db", "is not a directory")


def test_a_directory(setup, tmp_path):
    (tmp_path / "adir").mkdir()
    refuse_run(setup, tmp_path / "adir", "is a directory")
    # Not through the command line (a session opened by code) too.
    with pytest.raises(LogError, match="it is a directory"):
        AuditLog(tmp_path / "adir")


def test_a_file_that_is_not_sqlite(setup, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database\n" * 200)
    refuse_run(setup, junk, "not a readable overseer audit log (file is not a database)")
    for argv in other_commands(junk, "0" * 12):
        assert_refused(cli(argv), junk, "file is not a database")


def test_an_sqlite_database_that_is_not_an_overseer_log(setup, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    refuse_run(setup, other, "is a SQLite database but not an overseer audit log")


# -- permissions that bind root too ------------------------------------------


def _unprivileged() -> list[str]:
    """A wrapper that takes the file-permission override away from root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's permission override")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def _foreign_dir(path: Path, mode: int) -> Path:
    """A directory owned by someone else (as root) or closed to us (otherwise)."""
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    path.chmod(mode)
    return path


@pytest.fixture
def restore_modes(tmp_path):
    yield
    for p in tmp_path.rglob("*"):  # let pytest clean up what we closed
        if p.is_dir():
            p.chmod(0o755)


def test_no_permission_to_create_the_log(setup, tmp_path, restore_modes):
    wrap = _unprivileged()
    closed = _foreign_dir(tmp_path / "closed", 0o755)  # readable, not writable by us
    refuse_run(setup, closed / "audit.db", f"cannot create files in {closed}", wrap)
    refuse_run(setup, closed / "sub" / "audit.db", f"cannot create {closed / 'sub'}", wrap)
    sealed = _foreign_dir(tmp_path / "sealed", 0o700)  # not even searchable
    refuse_run(setup, sealed / "audit.db", f"cannot look inside {sealed}", wrap)


def test_no_permission_to_write_an_existing_log(setup, tmp_path, restore_modes):
    wrap = _unprivileged()
    logs = tmp_path / "logs"
    logs.mkdir()
    db = logs / "audit.db"
    sid = make_log(db)
    if os.geteuid() == 0:
        os.chown(db, 65534, 65534)
        os.chown(logs, 65534, 65534)
    db.chmod(0o644)  # others may read, not write
    refuse_run(setup, db, "permission denied (cannot read and write audit.db)", wrap)
    for argv in other_commands(db, sid):
        assert_refused(cli(argv, wrap), db, "permission denied")


# -- a read-only file system, a full disk -------------------------------------


def _in_mount_namespace(*mount: str) -> list[str]:
    """Run the CLI with the whole file system as it is, plus ``mount`` (bwrap options)."""
    return ["bwrap", "--dev-bind", "/", "/", *mount, "--"]


@needs_bwrap
def test_a_read_only_file_system(setup, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    db = ro / "audit.db"
    sid = make_log(db)
    wrap = _in_mount_namespace("--ro-bind", str(ro), str(ro))
    refuse_run(setup, ro / "new.db", "read-only", wrap)
    refuse_run(setup, ro / "sub" / "new.db", "read-only", wrap)
    refuse_run(setup, db, "read-only", wrap)
    for argv in other_commands(db, sid):
        assert_refused(cli(argv, wrap), db, "read-only")


def _full_disk(tmp_path: Path, spare: str | None, template: Path | None) -> tuple[Path, list[str]]:
    """A 1 MiB tmpfs at tmp/full, filled (``spare`` bytes left, e.g. "64K") —
    with a copy of ``template`` as its audit.db — before the CLI starts."""
    full = tmp_path / "full"
    full.mkdir(exist_ok=True)
    steps = []
    if template is not None:
        steps.append(f"cp {shlex.quote(str(template))} {shlex.quote(str(full / 'audit.db'))}")
    steps.append(f"cat /dev/zero > {shlex.quote(str(full / 'fill'))} 2>/dev/null")
    if spare:
        steps.append(f"truncate -s -{spare} {shlex.quote(str(full / 'fill'))}")
    script = "; ".join(steps) + '; exec "$@"'
    wrap = _in_mount_namespace("--size", str(1 << 20), "--tmpfs", str(full))
    return full / "audit.db", [*wrap, "sh", "-c", script, "sh"]


@needs_bwrap
def test_a_full_disk_when_the_log_is_created(setup, tmp_path):
    db, wrap = _full_disk(tmp_path, None, None)
    refuse_run(setup, db, "the disk is full", wrap)


@needs_bwrap
def test_a_full_disk_at_the_first_commit(setup, tmp_path):
    """The log opens (its schema is there, 64 KiB are free), and the first
    commit — the session's start — does not fit."""
    template = tmp_path / "template.db"
    sid = make_log(template)
    db, wrap = _full_disk(tmp_path, "64K", template)
    line = refuse_run(setup, db, "the disk is full", wrap)
    assert "cannot write to the audit log" in line or "cannot start a session in" in line, line
    db, wrap = _full_disk(tmp_path, None, template)
    for argv in other_commands(db, sid):
        assert_refused(cli(argv, wrap), db, "the disk is full")
