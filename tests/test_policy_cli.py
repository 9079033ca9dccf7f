"""`overseer policy check|test|show` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overseer.cli import cli


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), input=input)


def test_check_prints_decision_and_parts(tmp_path: Path) -> None:
    res = run("policy", "check", "--workspace", str(tmp_path), "--", "ls; rm -rf x")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "ask: ls; rm -rf x"
    assert "allow" in lines[1] and "[inspect]" in lines[1]
    assert "ask" in lines[2] and "[recursive-delete]" in lines[2]


def test_check_several_arguments_are_one_simple_command(tmp_path: Path) -> None:
    res = run(
        "policy",
        "check",
        "--workspace",
        str(tmp_path),
        "--json",
        "--",
        "git",
        "commit",
        "-m",
        "fix it",
    )
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert out["command"] == "git commit -m 'fix it'"
    assert out["parts"][0]["argv"] == ["git", "commit", "-m", "fix it"]


def test_check_json_shape(tmp_path: Path) -> None:
    res = run(
        "policy",
        "check",
        "--workspace",
        str(tmp_path),
        "--json",
        "--",
        "git status && curl https://x",
    )
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert {"command", "decision", "reasons", "parts"} <= set(out)
    assert out["decision"] == "ask"
    assert out["reasons"] == ["uses the network"]
    assert [p["decision"] for p in out["parts"]] == ["allow", "ask"]
    assert {"command", "decision", "rule", "reason"} <= set(out["parts"][0])


def test_check_stdin_one_json_object_per_line(tmp_path: Path) -> None:
    res = run(
        "policy",
        "check",
        "--workspace",
        str(tmp_path),
        "--stdin",
        "--json",
        input="ls\n\nsudo id\ncat /etc/passwd\n",
    )
    assert res.exit_code == 0
    rows = [json.loads(line) for line in res.output.splitlines()]
    assert [(r["command"], r["decision"]) for r in rows] == [
        ("ls", "allow"),
        ("sudo id", "deny"),
        ("cat /etc/passwd", "ask"),
    ]


def test_check_stdin_text(tmp_path: Path) -> None:
    res = run("policy", "check", "--workspace", str(tmp_path), "--stdin", input="pwd\ngit push\n")
    assert res.exit_code == 0
    assert "allow: pwd" in res.output and "ask: git push" in res.output


def test_check_a_tool_call(tmp_path: Path) -> None:
    res = run(
        "policy",
        "check",
        "--workspace",
        str(tmp_path),
        "--tool",
        "write_file",
        "--args",
        '{"path": "tests/test_a.py"}',
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["decision"] == "ask" and out["rule"] == "test-writes"
    assert out["facts"]["writes"] == ["tests/test_a.py"]
    res = run(
        "policy",
        "check",
        "--workspace",
        str(tmp_path),
        "--tool",
        "read_file",
        "--args",
        '{"path": "a.py"}',
    )
    assert res.exit_code == 0 and res.output.startswith("allow: read_file")


def test_check_with_strict_and_a_file_policy(tmp_path: Path) -> None:
    res = run("policy", "check", "--policy", "strict", "--workspace", str(tmp_path), "--", "pytest")
    assert res.output.startswith("ask: pytest")
    path = tmp_path / "p.toml"
    path.write_text(
        'default = "deny"\n[[rules]]\nname = "ok"\ndecision = "allow"\ncommand = "make"\n'
    )
    assert run(
        "policy", "check", "--policy", str(path), "--workspace", str(tmp_path), "--", "make"
    ).output.startswith("allow")
    assert run(
        "policy", "check", "--policy", str(path), "--workspace", str(tmp_path), "--", "ls"
    ).output.startswith("deny")


def test_check_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    for args in (
        ["policy", "check"],
        ["policy", "check", "--stdin", "--", "ls"],
        ["policy", "check", "--tool", "x", "--args", "{not json"],
        ["policy", "check", "--tool", "x", "--args", "[1]"],
        ["policy", "check", "--args", "{}", "--", "ls"],
    ):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output


def test_invalid_policy_exits_2_with_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[rules]]\nname = "r"\ndecision = "sometimes"\n')
    res = run("policy", "check", "--policy", str(path), "--", "ls")
    assert res.exit_code == 2
    assert f"{path}:3:" in res.output and "decision must be" in res.output
    assert "Traceback" not in res.output
    res = run("policy", "check", "--policy", "no-such-policy", "--", "ls")
    assert res.exit_code == 2 and "not found" in res.output


def test_policy_test_passes_and_fails(tmp_path: Path) -> None:
    res = run("policy", "test", "default")
    assert res.exit_code == 0 and "0 failed" in res.output
    path = tmp_path / "p.toml"
    path.write_text(
        '[[rules]]\nname = "ls"\ndecision = "allow"\ncommand = "ls"\n'
        'match = ["ls -la", "ls /etc"]\nnot_match = ["ls; rm x"]\n'
    )
    res = run("policy", "test", str(path))
    assert res.exit_code == 1
    assert (
        "FAIL" in res.output and "'ls /etc'" in res.output and "3 examples, 1 failed" in res.output
    )
    res = run("policy", "test", str(path), "--json")
    assert res.exit_code == 1
    assert json.loads(res.output)["failed"] == 1


def test_policy_test_invalid_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[[rules]\n")
    res = run("policy", "test", str(path))
    assert res.exit_code == 2 and "invalid TOML" in res.output


def test_policy_show() -> None:
    res = run("policy", "show", "strict")
    assert res.exit_code == 0 and 'name = "strict"' in res.output
