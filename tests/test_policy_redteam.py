"""Bypasses found by red-teaming the shipped default policy, each pinned by a
test that fails if it comes back (the shell-command ones are in
tests/data/policy_adversarial.toml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from overseer.policy import load_policy
from overseer.policy.base import Verdict
from overseer.toolapi import Facts
from tools._env import command_env


def _decide(ws: Path, tool: str, args: dict[str, object], facts: Facts) -> str:
    return load_policy("default").decide(tool, args, facts, ws).decision


def test_writing_a_bare_repository_marker_asks(tmp_path: Path) -> None:
    # evil/HEAD + evil/objects + evil/refs + evil/config(core.fsmonitor=...) is a
    # repository `git -C evil status` would use and run the fsmonitor of.
    args = {"path": "evil/HEAD"}
    assert _decide(tmp_path, "write_file", args, Facts(writes=["evil/HEAD"])) == "ask"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_ignores_a_planted_bare_repository(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    evil = ws / "evil"
    for d in ("objects", "refs"):
        (evil / d).mkdir(parents=True)
    (evil / "HEAD").write_text("ref: refs/heads/main\n")
    marker = tmp_path / "pwned"
    (evil / "config").write_text(
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f"\tworktree = {ws}\n\tfsmonitor = touch {marker}; false\n"
    )
    # `git -C evil status` is read-only inspection for the policy...
    cmd = "git -C evil status"
    assert _decide(ws, "shell", {"command": cmd}, Facts(commands=[cmd])) == "allow"
    # ...so the environment commands run with must keep git from using it.
    env = command_env()
    env.pop("GIT_DIR", None)
    proc = subprocess.run(
        ["git", "-C", "evil", "status"], cwd=ws, env=env, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert not marker.exists()


def test_command_env_keeps_an_existing_git_config_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "x")
    env = command_env()
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert env["GIT_CONFIG_KEY_0"] == "user.name"
    assert env["GIT_CONFIG_KEY_1"] == "safe.bareRepository"


def test_symlink_scan_only_flags_links_leading_outside(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "inner").symlink_to(ws / "src")
    cmd = "grep -R foo src"
    assert _decide(ws, "shell", {"command": cmd}, Facts(commands=[cmd])) == "allow"
    (ws / "src" / "out").symlink_to(tmp_path)
    assert _decide(ws, "shell", {"command": cmd}, Facts(commands=[cmd])) == "ask"
    cmd = "grep -r foo src"  # -r does not follow links it meets
    assert _decide(ws, "shell", {"command": cmd}, Facts(commands=[cmd])) == "allow"


# -- the broker's own guard (invariant 4), with a policy that allows everything


class _AllowAll:
    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        return Verdict(decision="allow", reason="allows everything")


@pytest.fixture
def guard(tmp_path: Path) -> Any:
    from overseer.approval import DenyAll
    from overseer.broker import Broker
    from overseer.events import SessionStartedPayload
    from overseer.log import AuditLog

    home = tmp_path / "home" / "ovh"
    db = home / "data" / "audit.db"
    db.parent.mkdir(parents=True)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "up").symlink_to(tmp_path / "home")
    log = AuditLog(db)
    sid = log.start_session(SessionStartedPayload(task="t", agent="a", workspace=str(ws)))
    broker = Broker(log, sid, {}, _AllowAll(), DenyAll(), ws)

    def check(command: str) -> str | None:
        return broker.guard.check({"command": command}, Facts(commands=[command]))

    check.home = home  # type: ignore[attr-defined]
    yield check
    log.close()


@pytest.mark.parametrize(
    "template",
    [
        "cat {home}/data/audit.db",
        "cat {home}/da*/audit.db",  # a glob
        "cat {home}/dat[a]/audit.d?",
        "cat {home}/{{data,x}}/audit.db",  # brace expansion
        "cd {home} && cat data/audit.db",  # relative after a cd
        "cd {home}/.. && cat ovh/data/audit.db",
        "cat $'{home}/data/audit\\x2edb'",  # ANSI-C quoting
        "cat up/ovh/data/audit.db",  # a workspace symlink
        "rm -rf {home}/..",  # a recursive walk from an ancestor
        "cp -r {home} copy",
        "find {home}/.. -name audit.db -delete",
        "tar czf x.tgz {home}/..",
        "grep -r secret up",
    ],
)
def test_guard_keeps_overseer_files_out_of_reach(guard: Any, template: str) -> None:
    assert guard(template.format(home=guard.home)) is not None


@pytest.mark.parametrize(
    "command", ["ls -la {home}/..", "ls {home}", "grep -rn TODO .", "git status", "cat a.txt"]
)
def test_guard_lets_other_commands_through(guard: Any, command: str) -> None:
    assert guard(command.format(home=guard.home)) is None


# -- overseer's own settings in the workspace


def _write(ws: Path, path: str, tool: str = "write_file") -> str:
    return _decide(ws, tool, {"path": path}, Facts(writes=[path]))


def _shell(ws: Path, command: str) -> Any:
    return load_policy("default").decide(
        "shell", {"command": command}, Facts(commands=[command], sandbox="none"), ws
    )


def test_writes_to_overseer_settings_ask_hard(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "srv").mkdir(parents=True)
    (ws / "overseer.toml").write_text(
        'policy = "team.toml"\n[mcp.servers.x]\ncommand = "python3"\nargs = ["srv/server.py"]\n'
    )
    for path in (
        "overseer.toml",
        "team.toml",
        "srv/server.py",
        "pyproject.toml",
        "sub/overseer.toml",
    ):
        assert _write(ws, path) == "ask", path
        assert _write(ws, path, "edit_file") == "ask", path
    assert _write(ws, "srv/other.py") == "allow"
    for command in (
        "echo x > overseer.toml",
        "echo x | tee -a team.toml",
        "echo x >> srv/server.py",
        "cp a.txt overseer.toml",  # a program the catalogue does not know may write it
    ):
        verdict = _shell(ws, command)
        assert verdict.decision == "ask" and verdict.hard, command
        assert verdict.rule == "overseer:own-settings" or any(
            p.rule == "overseer:own-settings" for p in verdict.parts
        ), command
    assert _shell(ws, "cat overseer.toml team.toml").decision == "allow"


def test_settings_named_later_count(tmp_path: Path) -> None:
    # the files overseer.toml names are read again when it changes
    ws = tmp_path / "ws"
    ws.mkdir()
    assert _write(ws, "p.toml") == "allow"
    (ws / "overseer.toml").write_text('policy = "p.toml"\n')
    assert _write(ws, "p.toml") == "ask"


def test_command_env_drops_what_changes_how_words_are_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the policy places `cd etc` in the workspace; with CDPATH=/ bash goes to /etc
    for name, value in [("CDPATH", "/"), ("POSIXLY_CORRECT", "1"), ("GLOBIGNORE", "*")]:
        monkeypatch.setenv(name, value)
    env = command_env()
    assert not {"CDPATH", "POSIXLY_CORRECT", "GLOBIGNORE"} & set(env)
    proc = subprocess.run(
        ["bash", "--norc", "-c", "cd etc 2>/dev/null && pwd"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "/etc" not in proc.stdout


@pytest.mark.parametrize(
    "command",
    [
        "cat /proc/self/cwd/../secret.txt",
        "echo x > /proc/self/cwd/../x",
        "head /proc/thread-self/cwd/../secret.txt",
        "cd /proc/self/cwd/.. && cat secret.txt",
    ],
)
def test_the_commands_own_process_is_not_overseers(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc/self/cwd resolved in overseer's process is overseer's cwd (here a
    # directory inside the workspace); in the command it is the command's.
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    monkeypatch.chdir(ws / "sub")
    verdict = load_policy("default").decide(
        "shell", {"command": command}, Facts(commands=[command], sandbox="bwrap"), ws
    )
    assert verdict.decision != "allow"
