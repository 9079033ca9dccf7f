"""`overseer tools`: every tool a session in this workspace gets, where it
comes from, and what the policy does with it by default — and, apart, the
installed opt-in tools a session gets only when it names them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import click

from ..errors import OverseerError
from ..integrations.catalog import ToolInfo
from ..registry import Registry, opt_in_entry_points
from .common import echo_json


@click.command()
@click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The workspace whose project config (overseer.toml or [tool.overseer]) is read.",
)
@click.option(
    "--policy", "policy_ref", help="Policy name or file (default: the project's, else 'default')."
)
@click.option(
    "--tool",
    "tool_specs",
    multiple=True,
    metavar="MODULE:ATTR|NAME",
    help="Also load this tool (repeatable); a bare NAME is an opt-in plugin tool.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {name, source, description, decision, ...}.",
)
def tools(repo: Path, policy_ref: str | None, tool_specs: tuple[str, ...], as_json: bool) -> None:
    """List the tools a session gets (built-in, plugins, LangChain, MCP) and their default decision."""
    from .. import settings_trust
    from ..errors import UsageError
    from ..integrations.catalog import build_registry, describe
    from ..policy import load_policy
    from ..project import load_project_config

    workspace = repo.expanduser().resolve()
    if not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    settings_trust.check(workspace)  # listing starts the MCP servers it names
    project = load_project_config(workspace)
    policy = load_policy(policy_ref or project.policy_path(workspace) or "default")

    def notice(message: str, **_data: object) -> None:
        click.echo(f"overseer: note: {message}", err=True)

    registry, started = build_registry(project, workspace, tool_specs, notice=notice)
    try:
        rows = describe(registry.specs.values(), policy, workspace)
    finally:
        for obj in started:
            obj.stop()
    for problem in registry.problems:
        notice(problem)
    unnamed = _opt_in_not_named(registry, notice)
    held = describe(unnamed.specs.values(), policy, workspace)
    opt_in = set(opt_in_entry_points())
    if as_json:
        echo_json(
            [{**r.as_json(), "offered": True, "opt_in": r.name in opt_in} for r in rows]
            + [{**r.as_json(), "offered": False, "opt_in": True} for r in held]
        )
        return
    if not rows and not held:
        click.echo("no tools")
        return
    everything = rows + held
    width = shutil.get_terminal_size((120, 20)).columns
    name_w = min(max(len(r.name) for r in everything), 40)
    src_w = min(max(len(r.source) for r in everything), 32)
    dec_w = max(len("DEFAULT"), *(len(r.decision) for r in everything))

    def line(r: ToolInfo) -> str:
        first = r.description.splitlines()[0] if r.description else ""
        room = max(20, width - name_w - src_w - dec_w - 6)
        if len(first) > room:
            first = first[: room - 1] + "…"
        return f"{r.name:{name_w}}  {r.source:{src_w}}  {r.decision:{dec_w}}  {first}"

    click.echo(f"{'TOOL':{name_w}}  {'SOURCE':{src_w}}  {'DEFAULT':{dec_w}}  DESCRIPTION")
    for r in rows:
        click.echo(line(r))
    if held:
        click.echo(
            "\nopt-in, not offered unless a session names them "
            '(--tool NAME, or tools = ["NAME"] in the project config):'
        )
        for r in held:
            click.echo(line(r))
    click.echo(f"\npolicy: {policy.name}")


def _opt_in_not_named(loaded: Registry, notice: Callable[..., None]) -> Registry:
    """The installed opt-in tools this listing's sessions would not get."""
    held = Registry()
    for name in sorted(opt_in_entry_points()):
        if name in loaded.specs:
            continue
        try:
            held.add_opt_in(name)
        except OverseerError as exc:
            notice(str(exc))
    return held


COMMANDS = [tools]
