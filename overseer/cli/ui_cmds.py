"""The terminal UI commands: replay a recorded session, attach to a running one.

Textual is imported only when one of these runs, so the rest of the CLI (and
core) never pays for the UI or depends on it.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UsageError
from .common import log_option, open_log


@click.command()
@click.argument("source")
@click.option("--no-verify", is_flag=True, help="Skip checking the hash chain (the badge says so).")
@log_option
def replay(source: str, no_verify: bool) -> None:
    """Step through a recorded session: SESSION_ID (or prefix) in the log, or an exported FILE.jsonl."""
    from overseer.tui.index import EventIndex
    from overseer.tui.replay import ReplayApp

    path = Path(source)
    if source.endswith(".jsonl") or path.is_file():
        if not path.is_file():
            raise UsageError(f"no such file: {source}")
        index = EventIndex.from_jsonl(path)
    else:
        with open_log() as log:  # resolves the default log and checks it exists
            index = EventIndex.from_store(log, source)
    ReplayApp(index, verify=not no_verify).run()


@click.command()
@click.argument("session_id")
@log_option
def attach(session_id: str) -> None:
    """Open the live UI on a session running elsewhere (started with --approver remote)."""
    from overseer.tui.attach import attach_app

    with open_log() as log:
        sid = log.resolve(session_id)
        status = log.session(sid)["status"]
        if status != "running":
            click.echo(
                f"overseer: session {sid} is {status}; showing its record (nothing to decide)",
                err=True,
            )
        attach_app(log, sid).run()
        if log.session(sid)["status"] == "running":
            click.echo(
                f"overseer: detached from session {sid}; it keeps running "
                f"(`overseer attach {sid}` to come back, `overseer pending {sid}` to see what waits)",
                err=True,
            )


COMMANDS = [replay, attach]
