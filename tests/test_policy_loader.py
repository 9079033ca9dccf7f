"""Loading policy files: shipped names, validation errors that name file,
line and problem, and inline examples checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from overseer.errors import PolicyError
from overseer.policy import Policy, RulePolicy, load_policy, parse_policy, shipped_path


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


GOOD = """
name = "mine"
default = "ask"

[[rules]]
name = "read"
decision = "allow"
command = "ls"
match = ["ls -la"]
not_match = ["ls; rm x"]
"""


def test_shipped_policies_load() -> None:
    for name in (None, "default", "strict"):
        policy = load_policy(name)
        assert isinstance(policy, RulePolicy)
        assert isinstance(policy, Policy)
        assert policy.name == (name or "default")
        assert policy.text == shipped_path(name or "default").read_text()
        assert len(policy.hash) == 64
        assert all(r.ok for r in policy.run_examples())


def test_a_file_loads_with_its_path_as_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    policy = load_policy(path)
    assert policy.name == str(path)
    assert [r.name for r in policy.rules] == ["read"]
    assert policy.default == "ask"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="not found"):
        load_policy("defualt")
    with pytest.raises(PolicyError, match="directory"):
        load_policy(tmp_path)


def test_bad_toml(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'default = "ask"\n\n[[rules]]\nname = "x\n')
    assert ":4:" in message and "invalid TOML" in message


def test_unknown_key_names_rule_line_and_suggests(tmp_path: Path) -> None:
    text = GOOD + '\n[[rules]]\nname = "typo"\ndecision = "ask"\ncomand = "rm"\n'
    message = load_error(tmp_path, text)
    assert ":15:" in message
    assert "rule 'typo'" in message
    assert "unknown key 'comand'" in message and "did you mean 'command'" in message


def test_bad_decision(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[[rules]]\nname = "r"\ndecision = "alow"\ncommand = "ls"\n')
    assert (
        ":3:" in message
        and "decision must be allow, ask or deny" in message
        and "'alow'" in message
    )


def test_bad_default_and_unknown_top_level_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'name = "x"\ndefault = "maybe"\n')
    assert ":2:" in message and "default must be allow, ask or deny" in message
    message = load_error(tmp_path, 'defualt = "ask"\n')
    assert ":1:" in message and "unknown top-level key 'defualt'" in message


def test_missing_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, '[[rules]]\ndecision = "ask"\ncommand = "ls"\n')
    assert ":1:" in message and "missing required key 'name'" in message


def test_bad_regex(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "r"\ndecision = "ask"\n\nregex = "(unclosed"\n'
    message = load_error(tmp_path, text)
    assert ":5:" in message and "rule 'r'" in message and "invalid regex" in message


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("command = []", "non-empty"),
        ("command = 3", "command"),
        ('command = ["git", ["status", 3]]', "token 2"),
        ('flags = ["r"]', "flag 'r'"),
        ('tool = ""', "empty tool"),
        ('paths = [""]', "empty path glob"),
        ('network = "yes"', "network"),
        ('risk = ["scary"]', "risk must be one of"),
    ],
)
def test_bad_matchers(tmp_path: Path, line: str, problem: str) -> None:
    message = load_error(tmp_path, f'[[rules]]\nname = "r"\ndecision = "ask"\n{line}\n')
    assert ":4:" in message, message
    assert problem in message, message


def test_duplicate_rule_name(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "r"\ndecision = "ask"\n\n[[rules]]\nname = "r"\ndecision = "deny"\n'
    message = load_error(tmp_path, text)
    assert ":6:" in message and "duplicate rule name" in message


def test_failing_match_example_is_a_load_error(tmp_path: Path) -> None:
    text = GOOD.replace('match = ["ls -la"]', 'match = [\n    "ls -la",\n    "ls /etc",\n]')
    message = load_error(tmp_path, text)
    assert "rule 'read'" in message
    assert "'ls /etc'" in message
    assert ":11:" in message  # the example's own line
    assert "says ask" in message


def test_failing_not_match_example_is_a_load_error(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, GOOD.replace('not_match = ["ls; rm x"]', 'not_match = ["ls -l"]')
    )
    assert "rule 'read'" in message and "not_match example 'ls -l'" in message and ":10:" in message


def test_examples_can_be_skipped_and_run_later(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('match = ["ls -la"]', 'match = ["ls /etc"]'))
    policy = load_policy(path, examples=False)
    results = policy.run_examples()
    assert [(r.kind, r.example, r.ok) for r in results] == [
        ("match", "ls /etc", False),
        ("not_match", "ls; rm x", True),
    ]


def test_example_tables_for_other_tools(tmp_path: Path) -> None:
    text = """
[[rules]]
name = "mcp-read"
decision = "allow"
tool = "mcp:docs:*"
match = [{ tool = "mcp:docs:search", args = { q = "x" } }]
not_match = [{ tool = "mcp:other:search" }, { tool = "mcp:docs:fetch", risk = ["destructive"] }]

[[rules]]
name = "no-secrets"
decision = "deny"
reads = ["**/.env", "/**/.env"]
match = [{ tool = "read_file", args = { path = "app/.env" } }, { tool = "custom", reads = ["/x/.env"] }]
not_match = [{ tool = "read_file", args = { path = "app/env.py" } }]
"""
    policy = load_policy(write(tmp_path, text))
    assert len(policy.run_examples()) == 6


def test_example_table_rejects_unknown_keys(tmp_path: Path) -> None:
    text = '[[rules]]\nname = "r"\ndecision = "ask"\nmatch = [{ tool = "x", argz = {} }]\n'
    message = load_error(tmp_path, text)
    assert ":4:" in message and "argz" in message


def test_parse_policy_from_text() -> None:
    policy = parse_policy(GOOD, source="inline.toml")
    assert policy.name == "mine"
    with pytest.raises(PolicyError, match=r"^inline\.toml:2: "):
        parse_policy('name = "x"\ndefault = 1\n', source="inline.toml")
