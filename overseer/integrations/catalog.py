"""What tools a workspace's sessions get, and what the policy does with each
by default — the data behind ``overseer tools``.

The tool set is built the way ``Session.open`` builds it (entry points, the
project's ``tools = [...]``, ``--tool`` specs, then the tool sources — the
project's MCP servers), so the listing shows what an agent would really be
offered.

"By default" means: the call the policy sees when nothing about the
arguments is known — no arguments (or the tool's defaults) and the facts the
tool declares up front (risk hints, the command it runs by default). Tools
that take shell source from the agent are judged command by command, so for
them the answer is "depends on args".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..policy.base import Policy
from ..project import ProjectConfig
from ..registry import Registry, Stoppable, ToolSpec
from ..toolapi import Facts, Tool, ToolContext

DEPENDS_ON_ARGS = "depends on args"
# Arguments that carry shell source: the policy parses those, part by part.
SHELL_FIELDS = frozenset({"command", "cmd", "commands", "script"})


@dataclass
class ToolInfo:
    """One row of ``overseer tools``."""

    name: str
    source: str
    description: str
    decision: str
    rule: str | None = None
    reason: str = ""
    risk: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "risk": self.risk,
            "args": self.args,
        }


def _facts_without_args(tool: Tool, workspace: Path) -> tuple[dict[str, Any], Facts]:
    """The arguments and facts of a call that says nothing specific."""
    up_front = getattr(tool, "default_facts", None)
    ctx = ToolContext(workspace=workspace, session_id="overseer-tools")
    try:
        args = tool.Args.model_validate({})
        facts = tool.facts(args, ctx)
        if not isinstance(facts, Facts):
            facts = Facts.model_validate(facts)
        return args.model_dump(mode="json"), facts
    except Exception:  # noqa: BLE001, S110 - required args: try without them below
        pass
    if not callable(up_front):
        # Many tools declare facts that do not depend on the arguments (a
        # network host, a risk hint); an args object without the required
        # fields finds those, and a tool that needs the args raises.
        try:
            facts = tool.facts(tool.Args.model_construct(), ctx)
            if not isinstance(facts, Facts):
                facts = Facts.model_validate(facts)
            return {}, facts
        except Exception:  # noqa: BLE001, S110
            pass
    if callable(up_front):
        try:
            facts = up_front()
            if isinstance(facts, Facts):
                return {}, facts
        except Exception:  # noqa: BLE001, S110
            pass
    return {}, Facts()


def default_decision(
    tool: Tool, policy: Policy, workspace: Path
) -> tuple[str, str | None, str, Facts]:
    """``(decision, rule, reason, facts)`` for a call with no specific arguments."""
    args, facts = _facts_without_args(tool, workspace)
    fields = set(getattr(tool.Args, "model_fields", {}))
    if fields & SHELL_FIELDS:
        # The agent writes the command: only its parts decide. (A tool that
        # runs a fixed command, like git_status, is judged on that command.)
        return DEPENDS_ON_ARGS, None, "each command is judged part by part", facts
    try:
        verdict = policy.decide(tool.name, args, facts, workspace)
    except Exception as exc:  # noqa: BLE001 - the broker fails closed on this too
        return "deny", "builtin:fail-closed", f"policy error: {exc}", facts
    return verdict.decision, verdict.rule, verdict.reason, facts


def describe(specs: Iterable[ToolSpec], policy: Policy, workspace: Path) -> list[ToolInfo]:
    rows = []
    for spec in specs:
        tool = spec.tool
        decision, rule, reason, facts = default_decision(tool, policy, workspace)
        fields = getattr(tool.Args, "model_fields", {})
        rows.append(
            ToolInfo(
                name=tool.name,
                source=spec.source,
                description=(tool.description or "").strip(),
                decision=decision,
                rule=rule,
                reason=reason,
                risk=list(facts.risk),
                args=[f.alias or name for name, f in fields.items()],
            )
        )
    return sorted(rows, key=lambda r: (r.source != "builtin", r.source, r.name))


def build_registry(
    project: ProjectConfig,
    workspace: Path,
    extra_specs: Iterable[str] = (),
    *,
    notice: Callable[..., None] | None = None,
) -> tuple[Registry, list[Stoppable]]:
    """The tools a session in ``workspace`` would load, and what the tool
    sources started for them (MCP server hubs): the caller stops those.

    ``notice(message, **data)`` hears what the sources say."""
    registry = Registry()
    registry.load_entry_points()
    for spec in [*project.tools, *extra_specs]:
        registry.add_spec(spec)
    started: list[Stoppable] = []

    def said(_source: str, message: str, **data: Any) -> None:
        if notice is not None:
            notice(message, **data)

    try:
        registry.load_sources(
            project, workspace, notice=said, keep=started.append, withdraw=registry.remove
        )
    except BaseException:
        for obj in started:
            obj.stop()
        raise
    return registry, started
