"""Network follows decisions: a command that needs the network gets it only
when a rule that names network allows it, or a person approved an `ask` from
such a rule; everything else runs with the network off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from overseer.broker import Broker
from overseer.events import SessionStartedPayload
from overseer.policy import load_policy
from overseer.toolapi import Facts, Tool, ToolCall, ToolContext, ToolResult
from tests.helpers.fakes import ScriptedApprover


@pytest.mark.parametrize(
    "command,network",
    [
        ("curl https://example.com", True),
        ("git push origin main", True),
        ("ls", False),
        ("cat README.md", False),
    ],
)
def test_verdict_network_for_default_policy(tmp_path, command, network):
    v = load_policy("default").decide(
        "shell", {"command": command}, Facts(commands=[command]), tmp_path
    )
    assert v.network is network


class CmdArgs(BaseModel):
    command: str


class Recorder(Tool):
    name = "shell"
    Args = CmdArgs

    def __init__(self) -> None:
        self.network: list[bool] = []

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return Facts(commands=[args.command])

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.network.append(ctx.network_allowed)
        return ToolResult(output="ran")


def test_an_approved_network_command_runs_with_network(log, tmp_path: Path):
    sid = log.start_session(SessionStartedPayload(task="t", agent="test"))
    tool = Recorder()
    broker = Broker(
        log, sid, {"shell": tool}, load_policy("default"), ScriptedApprover("approve"), tmp_path
    )
    assert (
        broker.submit(
            ToolCall(id="c1", name="shell", args={"command": "curl https://example.com"})
        ).status
        == "ok"
    )
    assert broker.submit(ToolCall(id="c2", name="shell", args={"command": "ls"})).status == "ok"
    assert tool.network == [True, False]
