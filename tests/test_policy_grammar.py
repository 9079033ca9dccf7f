"""Allow by grammar (overseer/policy/shell/grammar.py and the catalogue):
options read the way getopt reads them, unknowns asking, and code from the
workspace asking without a sandbox."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from overseer.policy import load_policy, parse_policy, shipped_path
from overseer.policy.shell import analyse
from overseer.policy.shell.catalog import known_programs, lookup
from overseer.policy.shell.grammar import parse, spec
from overseer.toolapi import Facts
from tests.helpers.sessions import overseer


def part(command: str):  # type: ignore[no-untyped-def]
    (p,) = analyse(command).parts
    return p


def decide(command: str, ws: Path, sandbox: str | None = "bwrap", policy: str = "default"):  # type: ignore[no-untyped-def]
    facts = Facts(commands=[command], sandbox=sandbox)
    return load_policy(policy).decide("shell", {"command": command}, facts, ws)


@pytest.mark.parametrize(
    ("command", "reads", "writes", "unknown"),
    [
        ("head -n5 -- -x", ["-x"], [], []),
        ("head -5 a", ["a"], [], []),
        ("cat -nA a b", ["a", "b"], [], []),
        ("cat -nZ a", ["a"], [], ["cat does not know the option -Z"]),
        ("grep -e x -f pats a", ["pats", "a"], [], []),
        ("grep x a", ["a"], [], []),
        ("grep --regex=x a", ["a"], [], []),  # GNU abbreviation of --regexp
        ("sort -o out -k2 in", ["in"], ["out"], []),
        ("tee -a -- -b", [], ["-b"], []),
        ("tail --lines=3 f", ["f"], [], []),
        ("ls --col=never", ["."], [], []),  # --color, abbreviated; no operand: the cwd
        ("ls --co", ["."], [], ["ls does not know the option --co"]),  # ambiguous: color, context
        ("cmp a b 1 2 3", ["a", "b"], [], ["cmp takes 4 operand(s); 3 is one more than it knows"]),
        ("wc --lines=3 f", ["f"], [], ["wc --lines takes no value"]),
        ("seq x", [], [], ["seq operand expects a number, not 'x'"]),
    ],
)
def test_getopt_reading(
    command: str, reads: list[str], writes: list[str], unknown: list[str]
) -> None:
    p = part(command)
    assert [w.value for w in p.path_args] == reads
    assert [w.value for w in p.writes] == writes
    assert p.unknown == unknown


def test_subcommands_and_modules() -> None:
    p = part("git log --oneline -n 3 -- src")
    assert p.unknown == [] and [w.value for w in p.path_args] == [
        ".",
        "src",
    ]  # git finds its repository from the cwd
    assert part("git frobnicate").unknown == [
        "git frobnicate is not in overseer's table of what git does"
    ]
    assert part("python -m pytest -q tests").runs_code
    assert part("python3.11 -B -m pytest").unknown == []
    assert part("python -m pip install x").unknown == ["python -m pip is not in overseer's table"]
    assert part("pytest -p no:cacheprovider").unknown == []
    assert part("pytest -p evil").unknown == ["pytest -p 'evil' is not a value it knows"]


def test_the_docs_example_entry_reads() -> None:
    fmt = spec(
        "fmt",
        "reformats paragraphs",
        short="c p:T s t u w:N",
        long="crown-margin prefix=T split-only tagged-paragraph uniform-spacing width=N goal=N",
        args="R*",
    )
    p = analyse("fmt -w 72 --prefix='# ' notes.txt").parts[0]
    parsed = parse(fmt, p)
    assert parsed.unknown == [] and [w.value for w in parsed.reads] == ["notes.txt"]


def test_every_program_the_shipped_policies_allow_has_an_entry() -> None:
    for name in ("default", "strict"):
        raw = tomllib.loads(shipped_path(name).read_text())
        for rule in raw["rules"]:
            if rule["decision"] != "allow" or "command" not in rule:
                continue
            spec_ = rule["command"]
            prefixes = spec_ if isinstance(spec_, list) else [spec_]
            for prefix in prefixes:
                if isinstance(prefix, list):
                    continue
                for program in prefix.split()[0].split("|"):
                    base = program.rsplit("/", 1)[-1].replace("*", "11")
                    if base in ("[[",):  # a statement, not a program
                        continue
                    assert lookup(base) is not None, f"{name}: {rule['name']}: {program}"
    assert "grep" in known_programs()


def test_unknown_programs_need_every_word_or_any_arguments(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "mk"\ndecision = "allow"\ncommand = "make lint"\n'
    p = parse_policy(text, "t.toml")
    f = Facts(commands=["make lint"], sandbox="bwrap")
    assert p.decide("shell", {}, f, tmp_path).decision == "allow"
    f = Facts(commands=["make lint -j4"], sandbox="bwrap")
    v = p.decide("shell", {}, f, tmp_path)
    assert v.decision == "ask" and v.rule == "overseer:unknown-program"
    p = parse_policy(text + "any_arguments = true\n", "t.toml")
    f = Facts(commands=["make lint -j4"], sandbox="bwrap")
    assert p.decide("shell", {}, f, tmp_path).decision == "allow"
    # any_arguments never covers a path outside the workspace
    f = Facts(commands=["make lint -C /etc"], sandbox="bwrap")
    assert p.decide("shell", {}, f, tmp_path).decision == "ask"


@pytest.mark.parametrize("command", ["pytest -q", "python -m pytest", "python3 -m unittest -v"])
def test_workspace_code_asks_without_a_sandbox(command: str, tmp_path: Path) -> None:
    assert decide(command, tmp_path, "bwrap").decision == "allow"
    for box in ("none", None):
        v = decide(command, tmp_path, box)
        assert v.decision == "ask" and v.rule == "overseer:unsandboxed-code"
        assert all(pd.hard for pd in v.parts if pd.decision == "ask")


def test_run_tests_tool_asks_without_a_sandbox(tmp_path: Path) -> None:
    p = load_policy("default")
    args = {"command": "pytest -q"}
    ok = Facts(commands=["pytest -q"], risk=["runs_code"], sandbox="bwrap")
    assert p.decide("run_tests", args, ok, tmp_path).decision == "allow"
    bare = Facts(commands=["pytest -q"], risk=["runs_code"], sandbox="none")
    v = p.decide("run_tests", args, bare, tmp_path)
    assert v.decision == "ask" and v.rule == "overseer:unsandboxed-code"


def test_inline_examples_can_say_there_is_no_sandbox() -> None:
    text = (
        '[[rules]]\nname = "t"\ndecision = "allow"\ncommand = "pytest"\n'
        'match = ["pytest -q"]\nnot_match = [{ command = "pytest -q", sandbox = "none" }]\n'
    )
    p = parse_policy(text, "t.toml")
    assert all(r.ok for r in p.run_examples())


def test_policy_check_sandbox_option(tmp_path: Path) -> None:
    args = ["policy", "check", "--workspace", str(tmp_path)]
    res = overseer(*args, "--sandbox", "none", "--", "pytest -q")
    assert res.returncode == 0 and res.stdout.startswith("ask") and "no sandbox" in res.stdout
    res = overseer(*args, "--sandbox", "bwrap", "--", "pytest -q")
    assert res.returncode == 0 and res.stdout.startswith("allow"), res.stdout
    res = overseer(*args, "--sandbox", "nope", "--", "ls")
    assert res.returncode == 2


def test_an_ask_rule_does_not_soften_what_no_grant_may_cover(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for command, hard in [
        ("rm -f ../outside/secret", True),
        ("rm -f notes.txt", False),
        ("git commit -m x", False),  # a grant for it may be narrow, but it may exist
    ]:
        v = decide(command, ws)
        assert v.decision == "ask", command
        assert any(pd.hard for pd in v.parts) is hard, (command, v.parts)
