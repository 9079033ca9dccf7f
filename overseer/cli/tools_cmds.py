"""`overseer tools`: every tool a session in this workspace gets, where it
comes from, and what the policy does with it by default."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

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
    metavar="MODULE:ATTR",
    help="Also load this tool (repeatable).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {name, source, description, decision, ...}.",
)
def tools(repo: Path, policy_ref: str | None, tool_specs: tuple[str, ...], as_json: bool) -> None:
    """List the tools a session gets (built-in, plugins, LangChain, MCP) and their default decision."""
    from ..errors import UsageError
    from ..integrations.catalog import build_registry, describe
    from ..policy import load_policy
    from ..project import load_project_config

    workspace = repo.expanduser().resolve()
    if not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    project = load_project_config(workspace)
    policy = load_policy(policy_ref or project.policy_path(workspace) or "default")

    def notice(message: str, **_data: object) -> None:
        click.echo(f"overseer: note: {message}", err=True)

    registry, hub = build_registry(project, workspace, tool_specs, notice=notice)
    try:
        rows = describe(registry.specs.values(), policy, workspace)
    finally:
        if hub is not None:
            hub.stop()
    for problem in registry.problems:
        notice(problem)
    if as_json:
        echo_json([row.as_json() for row in rows])
        return
    if not rows:
        click.echo("no tools")
        return
    width = shutil.get_terminal_size((120, 20)).columns
    name_w = min(max(len(r.name) for r in rows), 40)
    src_w = min(max(len(r.source) for r in rows), 32)
    dec_w = max(len(r.decision) for r in rows)
    click.echo(f"{'TOOL':{name_w}}  {'SOURCE':{src_w}}  {'DEFAULT':{dec_w}}  DESCRIPTION")
    for r in rows:
        first = r.description.splitlines()[0] if r.description else ""
        room = max(20, width - name_w - src_w - dec_w - 6)
        if len(first) > room:
            first = first[: room - 1] + "…"
        click.echo(f"{r.name:{name_w}}  {r.source:{src_w}}  {r.decision:{dec_w}}  {first}")
    click.echo(f"\npolicy: {policy.name}")


COMMANDS = [tools]
