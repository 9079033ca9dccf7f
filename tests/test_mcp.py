"""MCP servers under mediation: a real server from PyPI (mcp-server-git over
stdio) against a real repository, a small FastMCP server of our own that
crashes or garbles on request, and the pieces (annotation hints, schemas)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from overseer.agent.script import Plan, ScriptAgent, Step
from overseer.integrations.mcp import MCPHub, risk_from_annotations
from overseer.log import AuditLog
from overseer.project import MCPServerConfig, load_project_config
from overseer.session import Session, SessionConfig, run_agent
from tests.helpers.fakes import ScriptedApprover
from tests.helpers.records import payloads as events

pytest.importorskip("mcp_server_git")

POLICY = """
name = "mcp-test"
default = "ask"

[[rules]]
name = "read-only-tools"
risk = "read_only"
decision = "allow"
reason = "the tool says it only reads"

[[rules]]
name = "no-agent-resets"
tool = "mcp:git:git_reset"
decision = "deny"
reason = "unstaging everything is for people, not agents"

[[rules]]
name = "echo"
tool = "echo"
decision = "allow"
"""

# A server that exits (or prints garbage) when asked: for the failure paths.
FLAKY_SERVER = '''
import os, sys
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("flaky")
CLOSED_READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


@server.tool(annotations=CLOSED_READ_ONLY)
def ping(text: str) -> str:
    """Answer with the text."""
    return text


@server.tool()
def crash() -> str:
    """Exit the server process at once."""
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(7)


@server.tool(annotations=CLOSED_READ_ONLY)
def garble() -> str:
    """Write a line that is not JSON-RPC to stdout."""
    sys.stdout.write("this is not json\\n")
    sys.stdout.flush()
    return "ok"


@server.tool()
def odd() -> str:
    """A tool whose input schema is not an object schema."""
    return "never listed"


server._tool_manager._tools["odd"].parameters = {"type": "array"}
server.run()
'''


def toml_list(items: list[str]) -> str:
    return json.dumps(items)


def open_session(repo: Path, log_path: Path, approver: Any, policy: Path, **kw: Any) -> Session:
    cfg = SessionConfig(
        task="mcp",
        agent="script",
        workspace=repo,
        policy=str(policy),
        log_path=log_path,
        sandbox="none",
        watch=False,
        snapshot=False,
        **kw,
    )
    return Session.open(cfg, approver=approver)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "mcp-policy.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def git_repo(make_repo) -> Path:
    config = """
[mcp.servers.git]
command = "python"
args = ["-m", "mcp_server_git", "--repository", "."]
timeout = 20
"""
    return make_repo({"README.md": "# r\n", "overseer.toml": config})


def test_real_stdio_server_read_allowed_write_asks_denied_gets_reason(git_repo, log_path, policy):
    (git_repo / "new.py").write_text("x = 1\n")
    repo = str(git_repo.resolve())
    approver = ScriptedApprover("approve", ("deny", {"reason": "write a better message first"}))
    session = open_session(git_repo, log_path, approver, policy)
    specs = session.registry.specs
    assert specs["mcp:git:git_status"].source == "mcp:git"
    assert {"mcp:git:git_add", "mcp:git:git_commit", "mcp:git:git_reset"} <= set(specs)
    plan = Plan(
        steps=[
            Step(tool="mcp:git:git_status", args={"repo_path": repo}, id="st"),
            Step(tool="mcp:git:git_add", args={"repo_path": repo, "files": ["new.py"]}, id="add"),
            Step(
                tool="mcp:git:git_commit", args={"repo_path": repo, "message": "wip"}, id="commit"
            ),
            Step(tool="mcp:git:git_reset", args={"repo_path": repo}, id="reset"),
            Step(tool="mcp:git:git_add", args={"repo_path": repo, "files": []}, id="bad"),
            Step(tool="mcp:git:git_status", args={"repo_path": repo}, id="st2"),
        ]
    )
    result = run_agent(session, ScriptAgent(plan))
    assert result.status == "completed"

    decided = {p["call_id"]: p for p in events(log_path, result.session, "policy_decided")}
    finished = {p["call_id"]: p for p in events(log_path, result.session, "action_finished")}
    # Read-only (by the server's annotation): allowed, ran, output from git.
    assert decided["st"]["decision"] == "allow" and decided["st"]["facts"]["risk"] == ["read_only"]
    assert finished["st"]["status"] == "ok" and "new.py" in finished["st"]["output"]
    # Writing tools: no rule allows them -> ask; approved add ran, denied commit did not.
    assert [r.tool for r in approver.requests] == ["mcp:git:git_add", "mcp:git:git_commit"]
    assert decided["add"]["decision"] == "ask" and finished["add"]["status"] == "ok"
    assert finished["commit"]["status"] == "denied"
    assert "write a better message first" in finished["commit"]["output"]
    # The user's rule wins over the server's hints and the reason reaches the agent.
    assert decided["reset"]["rule"] == "no-agent-resets"
    assert finished["reset"]["status"] == "denied" and "not agents" in finished["reset"]["output"]
    # The server's schema (minItems) is checked before the policy sees the call.
    assert finished["bad"]["status"] == "invalid" and "bad" not in decided
    assert "A  new.py" in finished["st2"]["output"] or "new.py" in finished["st2"]["output"]
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=git_repo, capture_output=True, text=True
    )
    assert staged.stdout.split() == ["new.py"]
    log_head = subprocess.run(
        ["git", "log", "--oneline"], cwd=git_repo, capture_output=True, text=True
    )
    assert len(log_head.stdout.splitlines()) == 1  # the denied commit never ran
    # Everything is recorded under the mcp:NAME:tool names.
    proposed = [p["tool"] for p in events(log_path, result.session, "action_proposed")]
    assert proposed == [s.tool for s in plan.steps]
    with AuditLog(log_path) as log:
        assert log.verify(result.session)[0].ok


def test_one_session_per_server_for_the_whole_run(git_repo, log_path, policy):
    session = open_session(git_repo, log_path, ScriptedApprover(), policy)
    [hub] = [o for o in session.observers if isinstance(o, MCPHub)]
    server = hub.servers["git"]
    first = server.session
    repo = str(git_repo.resolve())
    plan = Plan(steps=[Step(tool="mcp:git:git_status", args={"repo_path": repo}) for _ in range(5)])
    result = run_agent(session, ScriptAgent(plan))
    assert [s["status"] for s in result.data["steps"]] == ["ok"] * 5
    assert server.session is first
    # Ending the session closed the session and the server process.
    assert hub.thread is not None and not hub.thread.is_alive()
    assert server.status == "stopped"


def test_server_that_dies_mid_run_does_not_end_the_session(make_repo, log_path, policy, tmp_path):
    script = tmp_path / "flaky_server.py"
    script.write_text(FLAKY_SERVER)
    config = f"""
[mcp.servers.flaky]
command = "python"
args = {toml_list([str(script)])}
timeout = 10

[mcp.servers.missing]
command = "no-such-mcp-server-binary"
"""
    repo = make_repo({"README.md": "# r\n", "overseer.toml": config})
    approver = ScriptedApprover("approve")
    echo = "tests.helpers.fakes:EchoTool"
    session = open_session(repo, log_path, approver, policy, tools=[echo])
    assert "mcp:flaky:ping" in session.registry.specs
    assert not any(name.startswith("mcp:missing:") for name in session.registry.specs)
    plan = Plan(
        steps=[
            Step(tool="mcp:flaky:ping", args={"text": "hello"}, id="p1"),
            Step(tool="mcp:flaky:crash", args={}, id="boom"),
            Step(tool="mcp:flaky:ping", args={"text": "again"}, id="p2"),
            Step(tool="echo", args={"text": "still here"}, id="e1"),
        ]
    )
    result = run_agent(session, ScriptAgent(plan))
    assert result.status == "completed"
    finished = {p["call_id"]: p for p in events(log_path, result.session, "action_finished")}
    assert finished["p1"]["status"] == "ok" and finished["p1"]["output"] == "hello"
    # crash has no annotations: may be destructive/open-world -> asked, approved, and the server died.
    assert [r.tool for r in approver.requests] == ["mcp:flaky:crash"]
    assert finished["boom"]["status"] == "error"
    assert (
        "MCP server 'flaky'" in finished["boom"]["output"]
        and "removed from this run" in finished["boom"]["output"]
    )
    # Its tools are gone; a call to one is a clear tool error, and other tools still work.
    assert (
        finished["p2"]["status"] == "invalid"
        and "unknown tool 'mcp:flaky:ping'" in finished["p2"]["output"]
    )
    assert finished["e1"]["status"] == "ok" and finished["e1"]["output"] == "still here"
    assert "mcp:flaky:ping" not in session.registry.specs
    notices = [p for p in events(log_path, result.session, "notice") if p["topic"] == "mcp"]
    failed = next(n for n in notices if n["data"].get("server") == "missing")
    assert "failed to start" in failed["message"] and "command not found" in failed["message"]
    gone = next(n for n in notices if n["data"].get("server") == "flaky" and "tools" in n["data"])
    assert "mcp:flaky:ping" in gone["data"]["tools"] and "crashing on purpose" in gone["message"]
    with AuditLog(log_path) as log:
        assert log.verify(result.session)[0].ok


def test_server_answering_with_malformed_data_is_dropped(tmp_path):
    script = tmp_path / "flaky_server.py"
    script.write_text(FLAKY_SERVER)
    notices: list[str] = []
    vanished: list[list[str]] = []
    hub = MCPHub(
        {"flaky": MCPServerConfig(command=sys.executable, args=[str(script)], timeout=10)},
        tmp_path,
        notice=lambda message, **data: notices.append(message),
        on_vanish=lambda names, reason: vanished.append(names),
    )
    try:
        tools = {t.name: t for t in hub.start()}
        assert tools["mcp:flaky:garble"].risk == ["read_only"]
        # A tool with a malformed input schema is left out, with a notice; the others stay.
        assert "mcp:flaky:odd" not in tools
        assert any("'odd' has a malformed input schema" in n for n in notices)
        started = time.monotonic()
        result = hub.call("flaky", "garble", {})
        assert time.monotonic() - started < 5  # not left waiting for the call's timeout
        assert result.status == "error" and "malformed data" in (result.error or "")
        assert vanished and "mcp:flaky:ping" in vanished[0]
        after = hub.call("flaky", "ping", {"text": "x"})
        assert after.status == "error" and "no longer available" in (after.error or "")
        assert any("malformed data" in n for n in notices)
    finally:
        hub.stop()


HTTP_SERVER = """
import sys
from mcp.server.fastmcp import FastMCP
from mcp.types import ToolAnnotations

server = FastMCP("web", host="127.0.0.1", port=int(sys.argv[1]))


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
def hello(name: str) -> str:
    \"\"\"Say hello.\"\"\"
    return f"hello {name}"


server.run(transport="streamable-http")
"""


def test_streamable_http_server(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "http_server.py"
    script.write_text(HTTP_SERVER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        notices: list[str] = []
        hub = MCPHub(
            {"web": MCPServerConfig(url=f"http://127.0.0.1:{port}/mcp", timeout=10)},
            tmp_path,
            notice=lambda message, **data: notices.append(message),
        )
        try:
            [tool] = hub.start()
            assert (tool.name, tool.source, tool.risk) == (
                "mcp:web:hello",
                "mcp:web",
                ["read_only"],
            )
            assert hub.call("web", "hello", {"name": "ops"}).output == "hello ops"
        finally:
            hub.stop()
        assert notices == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_overseer_tools_lists_mcp_tools_with_their_default_decision(git_repo, policy):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "overseer",
            "tools",
            "--repo",
            str(git_repo),
            "--policy",
            str(policy),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["mcp:git:git_status"]["source"] == "mcp:git"
    assert rows["mcp:git:git_status"]["decision"] == "allow"
    assert rows["mcp:git:git_commit"]["decision"] == "ask"
    assert rows["mcp:git:git_reset"]["decision"] == "deny"
    assert rows["mcp:git:git_reset"]["risk"] == ["destructive"]
    assert "repo_path" in rows["mcp:git:git_status"]["args"]


def test_example_mcp_config_runs_the_pypi_git_server(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "mcp.toml"
    (tmp_path / "overseer.toml").write_text(example.read_text())
    git = load_project_config(tmp_path).mcp.servers["git"]
    assert git.command == "python" and git.args[:2] == ["-m", "mcp_server_git"]


@pytest.mark.parametrize(
    "annotations, risk",
    [
        ({"readOnlyHint": True, "openWorldHint": False}, ["read_only"]),
        ({"readOnlyHint": True}, ["read_only", "open_world"]),  # the MCP default: open world
        ({"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False}, []),
        ({"readOnlyHint": False, "destructiveHint": True, "openWorldHint": False}, ["destructive"]),
        ({}, ["destructive", "open_world"]),  # no annotations: assume the worst, as the spec does
        (None, ["destructive", "open_world"]),
    ],
)
def test_annotations_become_risk_hints(annotations, risk):
    assert risk_from_annotations(annotations) == risk


def test_input_schemas_become_strict_args_models():
    from overseer.integrations.schema import SchemaConversionError, model_from_schema, payload

    schema = {
        "type": "object",
        "properties": {
            "schema": {"type": "string"},  # shadows a BaseModel attribute: kept as an alias
            "mode": {"enum": ["fast", "slow", None]},
            "limit": {"type": "integer", "default": 10},
            "since": {"type": "string"},  # optional, not nullable: left out when not given
            "item": {"$ref": "#/$defs/Item"},
        },
        "required": ["schema"],
        "$defs": {"Item": {"type": "object", "properties": {"id": {"type": "integer"}}}},
    }
    model = model_from_schema("t", schema)
    args = model.model_validate({"schema": "s", "item": {"id": 1}})
    assert args.model_dump(mode="json") == {
        "schema": "s",
        "mode": None,
        "limit": 10,
        "since": None,
        "item": {"id": 1},
    }
    assert payload(args) == {"schema": "s", "mode": None, "limit": 10, "item": {"id": 1}}
    # The broker re-validates the canonical dump: it must round-trip.
    assert model.model_validate(args.model_dump(mode="json")) == args
    for bad in (
        {},
        {"schema": "s", "mode": "medium"},
        {"schema": "s", "extra": 1},
        {"schema": "s", "item": {"id": "x"}},
    ):
        with pytest.raises(ValueError):
            model.model_validate(bad)
    assert model.model_json_schema() == schema  # the agent sees the server's schema
    open_model = model_from_schema("o", {"type": "object", "additionalProperties": True})
    assert open_model.model_validate({"anything": 1}).model_dump() == {"anything": 1}
    for broken in (
        {"type": "array"},
        {"type": "object", "properties": {"a": {"type": "nope"}}},
        "string",
    ):
        with pytest.raises(SchemaConversionError):
            model_from_schema("b", broken)
