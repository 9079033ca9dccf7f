"""hypothesis: random commands, random bytes and random arguments never make
``decide`` raise, and never come out ``allow`` when they contain a
substitution, a chained risky command or a pipe into a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overseer.policy import load_policy
from overseer.toolapi import Facts

POLICY = load_policy("default")
WS = Path("/tmp/overseer-hypothesis-workspace")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SAFE_WORDS = [
    "ls",
    "cat",
    "git",
    "status",
    "log",
    "-la",
    "README.md",
    "src",
    "pytest",
    "echo",
    "grep",
    "x",
]
_TOKENS = _SAFE_WORDS + [
    ";",
    "&&",
    "||",
    "|",
    "&",
    "\n",
    "$(",
    ")",
    "`",
    "'",
    '"',
    "\\",
    "$",
    "{",
    "}",
    "(",
    "<",
    ">",
    ">>",
    "<<",
    "rm",
    "-rf",
    "/",
    "~",
    "..",
    "*",
    "eval",
    "sh",
    "-c",
    "sudo",
    "curl",
    "=",
    "!",
    "#",
    "$'\\x72m'",
]

commands = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.lists(st.sampled_from(_TOKENS), max_size=30).map(" ".join),
    st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def judge(command: str) -> Any:
    return POLICY.decide("shell", {"command": command}, Facts(commands=[command]), WS)


@SETTINGS
@given(commands)
def test_random_commands_never_raise(command: str) -> None:
    verdict = judge(command)
    assert verdict.decision in ("allow", "ask", "deny")
    assert verdict.rule != "overseer:internal-error", verdict.reason


@SETTINGS
@given(
    st.sampled_from(_SAFE_WORDS),
    st.sampled_from(
        [
            "$(rm -rf x)",
            "`rm -rf x`",
            ";rm -rf x",
            "| sh",
            "&& curl e.x",
            "\nsudo id",
            "<(cat /etc/shadow)",
            "> /etc/x",
        ]
    ),
    st.text(max_size=30),
)
def test_injections_after_a_safe_prefix_are_never_allowed(
    prefix: str, injection: str, tail: str
) -> None:
    command = f"{prefix} {injection}{tail}"
    assert judge(command).decision != "allow", command


@SETTINGS
@given(
    st.text(max_size=40),
    json_values,
    st.lists(st.text(max_size=40), max_size=3),
    st.lists(st.text(max_size=40), max_size=3),
)
def test_random_tool_calls_never_raise(
    tool: str, args: Any, reads: list[str], commands_: list[str]
) -> None:
    facts = Facts(reads=reads, writes=reads[:1], commands=commands_)
    verdict = POLICY.decide(tool, args, facts, WS)
    assert verdict.decision in ("allow", "ask", "deny")
    assert verdict.rule != "overseer:internal-error", verdict.reason


@pytest.mark.parametrize(
    ("command", "allowed_ok"),
    [
        ("$(" * 5000, False),
        ("(" * 5000, False),
        ("{ " * 3000, False),
        ("`" * 3000, False),
        ("a" * 200_000, False),
        ("\x00" * 10, False),
        ("'" * 9999, False),
        ("ls \udc80", False),
        ("ls " * 20_000, True),  # long but legitimate
    ],
    ids=[
        "subst",
        "parens",
        "braces",
        "backticks",
        "huge",
        "nul",
        "quotes",
        "surrogate",
        "many-args",
    ],
)
def test_pathological_inputs(command: str, allowed_ok: bool) -> None:
    verdict = judge(command)
    assert verdict.rule != "overseer:internal-error", verdict.reason[:200]
    if not allowed_ok:
        assert verdict.decision in ("ask", "deny")


def test_non_ascii_input_cannot_crash_the_parser() -> None:
    """tree-sitter-bash 0.25 segfaults (now and then) on "{" followed by a code
    point from the upper planes; the analysis must never hand it such bytes.
    Run in a subprocess: a regression would kill it, not the test run."""
    import subprocess
    import sys

    code = (
        "from overseer.policy import analyse\n"
        "for cp in (0x777A8, 0xE0000, 0x10FFFF, 0x30000, 0xF0000):\n"
        "    for i in range(4000):\n"
        "        analyse.cache_clear()\n"
        "        analyse('{' + chr(cp) + ' x' * (i % 3))\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", (res.returncode, res.stderr[-500:])


def test_non_ascii_words_keep_their_values() -> None:
    from overseer.policy import analyse

    (part,) = analyse("cat fïle.txt > ünï.txt").parts
    assert part.argv_values == ["cat", "fïle.txt"]
    assert [r.target.value for r in part.redirects] == ["ünï.txt"]
