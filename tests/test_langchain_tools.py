"""LangChain tools under mediation: a langchain-community tool and a
``@langchain_core.tools.tool`` function, registered with ``--tool``, their
argument schemas validated by the broker before the policy sees the call,
run with ``invoke``, failures returned as tool errors."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import ToolException, tool

from overseer.agent.script import Plan, ScriptAgent, Step
from overseer.integrations.langchain_tools import LangChainTool, adapt_langchain, wrap
from overseer.registry import Registry
from overseer.session import Session, SessionConfig, run_agent
from overseer.toolapi import Facts, ToolContext
from tests.helpers.fakes import ScriptedApprover
from tests.helpers.records import payloads as events

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community announces its sunset
    community = pytest.importorskip("langchain_community.tools")

ROOT = Path(__file__).resolve().parent.parent

POLICY = """
name = "lc-test"
default = "ask"

[[rules]]
name = "look-around"
tool = "list_directory"
reads = ["**"]
decision = "allow"
reason = "listing the workspace is harmless"

[[rules]]
name = "arithmetic"
tool = ["multiply", "flaky_lookup"]
decision = "allow"
"""


@tool
def multiply(a: int, b: int = 2) -> int:
    """Multiply two integers."""
    return a * b


@tool
def flaky_lookup(key: str) -> str:
    """Look a key up in a service that is down."""
    raise ToolException(f"lookup service unavailable for {key!r}")


def open_session(
    repo: Path, log_path: Path, approver: Any, policy: Path, tools: list[str]
) -> Session:
    cfg = SessionConfig(
        task="langchain tools",
        agent="script",
        workspace=repo,
        policy=str(policy),
        tools=tools,
        log_path=log_path,
        sandbox="none",
        watch=False,
        snapshot=False,
    )
    return Session.open(cfg, approver=approver)


def test_community_and_decorated_tools_are_mediated(make_repo, log_path, tmp_path, monkeypatch):
    repo = make_repo({"README.md": "# r\n", "src/app.py": "x = 1\n"})
    policy = tmp_path / "lc.toml"
    policy.write_text(POLICY)
    # ListDirectoryTool without root_dir resolves paths against the working
    # directory; its facts say so, and the policy judges the real path.
    monkeypatch.chdir(repo)
    approver = ScriptedApprover(("deny", {"reason": "stay in the repository"}))
    session = open_session(
        repo,
        log_path,
        approver,
        policy,
        tools=[
            "langchain_community.tools:ListDirectoryTool",
            "tests.test_langchain_tools:multiply",
            "tests.test_langchain_tools:flaky_lookup",
        ],
    )
    for name in ("list_directory", "multiply", "flaky_lookup"):
        assert session.registry.specs[name].source == "langchain"
    plan = Plan(
        steps=[
            Step(tool="list_directory", args={"dir_path": "src"}, id="ls"),
            Step(tool="list_directory", args={"dir_path": "/etc"}, id="outside"),
            Step(tool="multiply", args={"a": 6, "b": 7}, id="mul"),
            Step(tool="multiply", args={"a": "six"}, id="bad-type"),
            Step(tool="multiply", args={"a": 1, "c": 3}, id="extra"),
            Step(tool="flaky_lookup", args={"key": "k"}, id="err"),
        ]
    )
    result = run_agent(session, ScriptAgent(plan))
    assert result.status == "completed"
    finished = {p["call_id"]: p for p in events(log_path, result.session, "action_finished")}
    decided = {p["call_id"]: p for p in events(log_path, result.session, "policy_decided")}

    assert decided["ls"]["rule"] == "look-around"
    assert decided["ls"]["facts"]["reads"] == [str(repo.resolve() / "src")]
    assert finished["ls"]["status"] == "ok" and "app.py" in finished["ls"]["output"]
    # Outside the workspace: the allow rule does not cover it -> ask -> denied with the reason.
    assert [r.tool for r in approver.requests] == ["list_directory"]
    assert (
        finished["outside"]["status"] == "denied"
        and "stay in the repository" in finished["outside"]["output"]
    )
    assert finished["mul"]["status"] == "ok" and finished["mul"]["output"] == "42"
    # The tool's own schema is enforced before the policy: no policy_decided for these.
    for call in ("bad-type", "extra"):
        assert finished[call]["status"] == "invalid", finished[call]
        assert call not in decided
    assert "c" in finished["extra"]["output"]
    # A LangChain tool's failure is the agent's tool error; the session goes on.
    assert (
        finished["err"]["status"] == "error"
        and "lookup service unavailable" in finished["err"]["output"]
    )


def test_wrap_adds_facts_risk_and_preview(tmp_path):
    seen: list[dict[str, Any]] = []

    def facts(args: dict[str, Any], ctx: ToolContext) -> Facts:
        seen.append(args)
        return Facts(network=["api.example.com"])

    wrapped = wrap(
        multiply,
        name="remote_multiply",
        facts=facts,
        risk=["open_world"],
        preview=lambda a, c: f"{a['a']}x{a['b']}",
    )
    assert isinstance(wrapped, LangChainTool) and wrapped.name == "remote_multiply"
    ctx = ToolContext(workspace=tmp_path, session_id="s")
    args = wrapped.Args.model_validate({"a": 3})
    assert wrapped.facts(args, ctx) == Facts(network=["api.example.com"], risk=["open_world"])
    assert seen == [{"a": 3, "b": 2}]
    assert wrapped.preview(args, ctx) == "3x2"
    assert wrapped.run(args, ctx).output == "6"
    assert wrapped.default_facts().risk == ["open_world"]


def test_registry_adapts_any_base_tool_and_leaves_other_objects_alone():
    assert adapt_langchain(object()) is None
    assert adapt_langchain(multiply) is not None
    reg = Registry()
    reg.add_object([multiply, flaky_lookup], "test", "python")
    assert {n: s.source for n, s in reg.specs.items()} == {
        "multiply": "langchain",
        "flaky_lookup": "langchain",
    }


def test_dict_schema_tools_get_a_validating_model(tmp_path):
    from langchain_core.tools import StructuredTool

    schema = {
        "type": "object",
        "properties": {
            "q": {"type": "string", "minLength": 2},
            "limit": {"type": "integer", "default": 5},
        },
        "required": ["q"],
    }
    raw = StructuredTool(
        name="search_docs",
        description="Search.",
        args_schema=schema,
        func=lambda **kw: json.dumps(kw),
    )
    wrapped = LangChainTool(raw)
    assert wrapped.Args.model_validate({"q": "abc"}).model_dump() == {"q": "abc", "limit": 5}
    for bad in ({"q": "a"}, {"q": "abc", "other": 1}, {}):
        with pytest.raises(ValueError):
            wrapped.Args.model_validate(bad)
    out = wrapped.run(
        wrapped.Args.model_validate({"q": "abc"}), ToolContext(workspace=tmp_path, session_id="s")
    )
    assert json.loads(out.output) == {"q": "abc", "limit": 5}


def test_overseer_tools_shows_langchain_source(tmp_path):
    res = subprocess.run(
        [
            sys.executable, "-m", "overseer", "tools", "--repo", str(tmp_path), "--json",
            "--tool", "tests.test_langchain_tools:multiply",
            "--tool", "langchain_community.tools:ReadFileTool",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["multiply"]["source"] == "langchain"
    assert rows["multiply"]["description"] == "Multiply two integers."
    assert rows["multiply"]["args"] == ["a", "b"]
    # ReadFileTool is named read_file, like the built-in: the later one wins, and says so.
    assert rows["read_file"]["source"] == "langchain"
    assert "replaces the one from builtin" in res.stderr
