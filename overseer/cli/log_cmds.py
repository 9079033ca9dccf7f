"""Auditor basics: sessions, show, verify, export (jsonl), import."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..log.jsonl import atomic_output, export_session, import_session
from ..render import clock, describe, unfinished_actions
from .common import echo_json, log_option, open_local_log, open_log

PRUNES_ID = "(prunes)"  # the prune record's line in verify results (overseer.audit.prune)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@log_option
def sessions(as_json: bool) -> None:
    """List recorded sessions, newest first."""
    with open_log() as log:
        rows = log.sessions()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no sessions recorded yet")
        return
    width = min(max(len(r["agent"] or "") for r in rows), 32)
    for r in rows:
        task = (r["task"] or "").replace("\n", " ")
        agent = r["agent"] or ""
        if len(agent) > width:
            agent = agent[: width - 1] + "…"
        click.echo(
            f"{r['id']}  {r['started'] or '':24}  {r['status']:11}  {agent:{width}}  "
            f"{r['events']:6} events  {task[:60]}"
        )


@click.command()
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the session and its events as JSON.")
@log_option
def show(session_id: str, as_json: bool) -> None:
    """Print a session's transcript (SESSION_ID may be a unique prefix)."""
    with open_log() as log:
        sid = log.resolve(session_id)
        session = log.session(sid)
        events = list(log.events(sid))
    if as_json:
        echo_json({"session": session, "events": [e.as_dict() for e in events]})
        return
    click.echo(f"session {sid}  [{session['status']}]  {session['task']}")
    for e in events:
        if e.kind == "seal":
            continue
        click.echo(f"{e.seq:5} {clock(e.ts)}  {describe(e.kind, e.payload)}")
    for seq, p in unfinished_actions([(e.seq, e.kind, e.payload) for e in events]):
        click.echo(f"  ! {p.get('tool')} started at seq {seq} has no recorded end: outcome unknown")


@click.command()
@click.argument("session_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every session in the log.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@log_option
def verify(session_id: str | None, all_: bool, as_json: bool) -> None:
    """Check hash chains, seals and SQLite integrity. Exit 3 if anything is broken."""
    if bool(session_id) == all_:
        raise click.UsageError("give a SESSION_ID or --all (not both)")
    with open_log() as log:
        results = log.verify(None if all_ else session_id)
        checked, integrity = log.integrity()
    ok = integrity == "ok" and all(r.ok for r in results)
    if as_json:
        echo_json({"ok": ok, "integrity": integrity, "sessions": [r.model_dump() for r in results]})
    else:
        click.echo(f"{checked}: {integrity}")
        for r in results:
            if r.ok and r.session_id == PRUNES_ID:
                click.echo(
                    f"{r.session_id}  ok  {r.events} prune record(s), chained and signed "
                    f"through #{r.sealed_seq}"
                )
            elif not r.ok and r.session_id == PRUNES_ID:
                click.echo(
                    f"{r.session_id}  BROKEN at prune #{r.first_broken_seq}: {r.kind} — {r.detail}"
                )
            elif r.ok:
                sealed = f"sealed through seq {r.sealed_seq}" if r.sealed_seq else "no seal yet"
                click.echo(
                    f"{r.session_id}  ok  {r.events} events, {sealed}, {r.unsealed} unsealed"
                )
            else:
                click.echo(
                    f"{r.session_id}  BROKEN at seq {r.first_broken_seq}: {r.kind} — {r.detail}"
                )
        if not results:
            click.echo("no sessions to verify")
    if not ok:
        sys.exit(3)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@log_option
def import_(file: Path) -> None:
    """Load a session exported as JSONL; refused if its chain does not verify."""
    with open_local_log("import", create=True) as log:
        res = import_session(log, file)
    click.echo(f"imported session {res.session_id}: {res.events} events, chain ok, sealed")


def export_jsonl(session_id: str, output: Path | None) -> None:
    with open_log() as log:
        sid = log.resolve(session_id)  # an unknown id fails before any file is made
        if output is None:
            n = export_session(log, sid, sys.stdout)
        else:
            with atomic_output(output) as fh:
                n = export_session(log, sid, fh)
            click.echo(f"wrote {n} events of session {sid} to {output}", err=True)


COMMANDS = [sessions, show, verify, import_]
