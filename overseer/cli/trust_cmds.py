"""`overseer trust`: a person has read a workspace's overseer settings and
accepts them, after a session changed them (``overseer.settings_trust``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError


@click.command()
@click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The workspace whose settings (overseer.toml, [tool.overseer], the files they name) you read.",
)
def trust(repo: Path) -> None:
    """Accept a workspace's overseer settings as they are now, after reading them."""
    from .. import settings_trust

    workspace = repo.expanduser().resolve()
    if not workspace.is_dir():
        raise UsageError(f"workspace {workspace} is not a directory")
    settings = settings_trust.trust(workspace)
    files = ", ".join(settings.files) or "no settings files (defaults)"
    click.echo(f"trusted {files} in {settings.workspace} (digest {settings.digest[:12]})")


COMMANDS = [trust]
