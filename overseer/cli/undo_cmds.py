"""`overseer undo SESSION`: put the workspace back as it was when a session started.

The session's ``session_started`` event names its workspace and the snapshot
ref taken at start (``refs/overseer/<session>``). The command shows what will
change, asks for confirmation (``--yes`` skips it), restores the working
tree and index, and records a ``notice`` (topic ``undo``) in that session, so
the undo is part of the same audit trail.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..approval import who
from ..errors import UsageError
from ..snapshot import SnapshotError, plan_restore, restore_snapshot
from .common import echo_json, log_option, open_local_log


@click.command()
@click.argument("session_id")
@click.option("--yes", "-y", is_flag=True, help="Restore without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
@log_option
def undo(session_id: str, yes: bool, as_json: bool) -> None:
    """Restore the workspace to its state at the start of SESSION_ID.

    Files changed during the session are rewritten, files it created are
    removed, files it deleted come back, and the index is restored. HEAD and
    branches are not moved; git-ignored files are left alone.
    """
    with open_local_log("undo") as log:
        sid = log.resolve(session_id)
        started = next(iter(log.events(sid, kinds=["session_started"])), None)
        if started is None:
            raise UsageError(
                f"session {sid} has no session_started record; there is nothing to undo"
            )
        ref = started.payload.get("snapshot_ref")
        workspace = started.payload.get("workspace") or ""
        if not ref:
            raise UsageError(
                f"session {sid} has no snapshot: its workspace was not a git repository when it "
                "started (or snapshots were turned off), so it cannot be undone"
            )
        ws = Path(workspace)
        if not workspace or not ws.is_dir():
            raise UsageError(
                f"the workspace of session {sid} ({workspace or 'unknown'}) no longer exists"
            )
        if log.session(sid)["status"] == "running":
            raise UsageError(f"session {sid} is still running; end it before undoing it")
        try:
            plan = plan_restore(ws, ref)
        except SnapshotError as exc:
            raise UsageError(f"cannot undo session {sid}: {exc}") from exc
        if not as_json:
            click.echo(
                f"undo session {sid}: restore {ws} to its state at the session's start ({plan.commit[:12]})"
            )
            click.echo(plan.describe())
        if plan.empty:
            if as_json:
                echo_json({"session": sid, "restored": False, "reason": "already matches"})
            else:
                click.echo("nothing to undo")
            return
        if not yes and not click.confirm("Restore these files?", default=False):
            raise click.Abort()
        try:
            done = restore_snapshot(ws, ref)
        except SnapshotError as exc:
            raise UsageError(f"undo of session {sid} failed: {exc}") from exc
        data = {
            "snapshot_ref": ref,
            "snapshot": done.commit,
            "workspace": str(ws),
            "modified": done.modified,
            "removed": done.removed,
            "restored": done.restored,
            "index_restored": done.index_restored,
            "head_then": done.head_then,
            "head_now": done.head_now,
            "by": who(),
        }
        counts = f"{len(done.modified)} rewritten, {len(done.removed)} removed, {len(done.restored)} brought back"
        log.append(
            sid,
            "notice",
            {
                "topic": "undo",
                "message": f"workspace restored to the session's start: {counts}",
                "data": data,
            },
        )
        log.seal(sid)
    if as_json:
        echo_json({"session": sid, "restored": True, **data})
    else:
        click.echo(f"restored: {counts}")


COMMANDS = [undo]
