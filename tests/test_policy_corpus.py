"""The shipped default policy against two corpora (tests/data/):
adversarial commands it must never allow, and everyday inspection and test
commands it must allow. Both are judged exactly as the shell tool sends them,
in a temporary workspace with files and escaping symlinks."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from overseer.policy import load_policy
from overseer.toolapi import Facts

DATA = Path(__file__).parent / "data"


def _corpus(name: str) -> list[tuple[str, str]]:
    raw = tomllib.loads((DATA / name).read_text(encoding="utf-8"))
    return [(g["class"], c) for g in raw["group"] for c in g["commands"]]


ADVERSARIAL = _corpus("policy_adversarial.toml")
ALLOWED = _corpus("policy_allowed.toml")


def _id(case: tuple[str, str]) -> str:
    return f"{case[0].split()[0]}:{case[1][:40]}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    ws = root / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "tests").mkdir()
    (ws / "trap").mkdir()
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".venv" / "bin").mkdir(parents=True)
    files = {
        "src/app.py": "def main():\n    return 1\n",
        "tests/test_app.py": "def test_main():\n    assert True\n",
        "README.md": "# demo\n",
        "a.txt": "a\n",
        "b.txt": "b\n",
        "data.txt": "1,x\n2,y\n",
        "data.json": "{}\n",
        "trap/--pre=sh": "",
        "-rf": "",
    }
    for rel, text in files.items():
        (ws / rel).write_text(text)
    os.symlink("/etc", ws / "etc_link")
    os.symlink("/etc/passwd", ws / "passwd_link")
    os.symlink("..", ws / "up")
    os.symlink(os.path.expanduser("~"), ws / "home_link")
    os.symlink("/", ws / "src" / "escape")
    # a link that stays inside: bash's logical cd makes inner/../.. the parent
    (ws / "src" / "pkg" / "sub").mkdir(parents=True)
    os.symlink(ws / "src" / "pkg" / "sub", ws / "inner")
    return ws


@pytest.fixture(scope="module")
def default_policy():  # type: ignore[no-untyped-def]
    return load_policy("default")


def judge(policy, command: str, ws: Path):  # type: ignore[no-untyped-def]
    return policy.decide(
        "shell", {"command": command}, Facts(commands=[command], sandbox="bwrap"), ws
    )


def test_corpus_sizes() -> None:
    assert len(ADVERSARIAL) >= 150
    assert len(ALLOWED) >= 50
    assert len({c for _, c in ADVERSARIAL}) == len(ADVERSARIAL), "duplicate adversarial command"


@pytest.mark.parametrize("case", ADVERSARIAL, ids=_id)
def test_adversarial_never_allowed(case: tuple[str, str], default_policy, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    cls, command = case
    verdict = judge(default_policy, command, workspace)
    assert verdict.decision != "allow", f"[{cls}] {command!r} was allowed: {verdict}"


@pytest.mark.parametrize("case", ALLOWED, ids=_id)
def test_everyday_commands_allowed(case: tuple[str, str], default_policy, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    cls, command = case
    verdict = judge(default_policy, command, workspace)
    assert verdict.decision == "allow", (
        f"[{cls}] {command!r}: {verdict.decision} ({verdict.rule}: {verdict.reason})"
    )


# With the shell's cwd outside the workspace (a `cd` someone approved), a
# program that reads the cwd when given no operand must not list it unasked.
CWD_READERS = [
    "ls",
    "ls -la",
    "du -sh",
    "tree",
    "find -name '*.pem'",
    "grep -r password",
    "grep -d recurse password",
    "rg password",
    "rg --files",
    "git log -1",
    "git status",
    "pytest -q",
    "python -m unittest",
]


@pytest.mark.parametrize("command", CWD_READERS)
def test_programs_reading_an_outside_cwd_ask(command: str, default_policy, workspace: Path) -> None:  # type: ignore[no-untyped-def]
    outside = workspace.parent / "outside"
    facts = Facts(commands=[command], sandbox="bwrap", cwd=str(outside))
    verdict = default_policy.decide("shell", {"command": command}, facts, workspace)
    assert verdict.decision != "allow", f"{command!r} read {outside}: {verdict}"
    inside = default_policy.decide(
        "shell", {"command": command}, Facts(commands=[command], sandbox="bwrap"), workspace
    )
    assert inside.decision == "allow", f"{command!r} inside: {inside}"


def test_git_in_a_workspace_inside_a_larger_repository_asks(default_policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # git searches upwards: from a package of a monorepo `git show
    # HEAD:other/secret` reads beyond the workspace.
    (tmp_path / "mono" / ".git").mkdir(parents=True)
    ws = tmp_path / "mono" / "pkg"
    ws.mkdir()
    for command in ("git show HEAD:other/secret", "git log -1", "git -C . status"):
        facts = Facts(commands=[command], sandbox="bwrap")
        verdict = default_policy.decide("shell", {"command": command}, facts, ws)
        assert verdict.decision == "ask", command
        assert "the repository git finds" in verdict.reason
    (ws / ".git").mkdir()
    facts = Facts(commands=["git log -1"], sandbox="bwrap")
    assert default_policy.decide("shell", {"command": "git log -1"}, facts, ws).decision == "allow"
