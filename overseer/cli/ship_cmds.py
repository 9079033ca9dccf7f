"""`overseer ship`: push sessions of the local log to a team store."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..log import open_team_store
from ..log.shipper import ship_existing
from .common import echo_json, log_option, open_local_log


@click.command()
@click.argument("session_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Ship every session of the local log.")
@click.option(
    "--to",
    "url",
    required=True,
    metavar="URL",
    envvar="OVERSEER_SHIP",
    help="The team store: postgresql://... or any libpq connection string ($OVERSEER_SHIP).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was sent as JSON.")
@log_option
def ship(session_id: str | None, all_: bool, url: str, as_json: bool) -> None:
    """Push local sessions to a team store; what it already has is skipped.

    Idempotent and resumable: each session continues from the last event the
    store holds, and a store whose copy differs from the local log is refused.
    """
    if bool(session_id) == all_:
        raise UsageError("give a SESSION_ID or --all (not both)")
    with open_local_log("ship") as log:
        ids = [log.resolve(session_id)] if session_id else [s["id"] for s in log.sessions()]
        with open_team_store(url) as store:
            reports = ship_existing(log, store, ids)
            where = store.location
    if as_json:
        echo_json({"store": where, "sessions": [vars(r) for r in reports]})
        return
    if not reports:
        click.echo("no sessions to ship")
    for r in reports:
        click.echo(
            f"{r.session_id}  sent {r.sent} event(s), {r.already} already in the store, "
            f"{r.attestations} checkpoint, seal or key record(s) added"
        )
    click.echo(f"store: {where}")


COMMANDS = [ship]
