"""The script agent: plays a fixed JSON plan, each step through the broker
exactly like a model's tool call.

    {"steps": [{"tool": "shell", "args": {"command": "ls"}}, ...],
     "final": "text of the final report"}

A step may carry ``"id"``. Used for tests, demos, and re-running a recorded
session (`overseer rerun` builds a plan from the log).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UsageError
from ..session import AgentOutcome, Session
from ..toolapi import ToolCall


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    args: Any = Field(default_factory=dict)
    id: str | None = None


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[Step]
    final: str = ""
    stop_on_deny: bool = False


class ScriptAgent:
    name = "script"
    model: str | None = None

    def __init__(self, plan: Plan, source: str = "plan") -> None:
        self.plan = plan
        self.source = source

    @classmethod
    def from_file(cls, path: Path) -> ScriptAgent:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read plan {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: plan is not JSON ({exc.msg})") from exc
        try:
            return cls(Plan.model_validate(data), source=str(path))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UsageError(f"{path}: invalid plan at {where}: {first['msg']}") from exc

    def run(self, session: Session) -> AgentOutcome:
        results = []
        for i, step in enumerate(self.plan.steps, 1):
            for text in session.take_messages():
                results.append({"step": i, "message": text})
            if session.broker.terminated or session.stop_requested.is_set():
                break
            call = ToolCall(id=step.id or f"s{i}", name=step.tool, args=step.args)
            res = session.broker.submit(call)
            results.append({"step": i, "tool": step.tool, "status": res.status})
            if self.plan.stop_on_deny and res.status in ("denied", "invalid"):
                return AgentOutcome(
                    status="failed",
                    final=f"step {i} ({step.tool}) was {res.status}: {res.output}",
                    data={"steps": results},
                )
        ran = sum(1 for r in results if "tool" in r)
        if session.broker.terminated or session.stop_requested.is_set():
            # Not the plan's final report: that describes a run that did not happen.
            return AgentOutcome(
                status="terminated",
                final=f"stopped by a person after {ran} of {len(self.plan.steps)} steps",
                data={"steps": results},
            )
        return AgentOutcome(status="completed", final=self.plan.final, data={"steps": results})
