"""Auditor basics: sessions, show, verify, export (jsonl), import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..log.jsonl import atomic_output, export_session, import_session
from ..render import clock, describe, unfinished_actions
from .common import echo_json, log_option, open_local_log, open_log

PRUNES_ID = "(prunes)"  # the prune record's line in verify results (overseer.log.prune_record)


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
@click.argument("target", metavar="[SESSION_ID | FILE.jsonl]", required=False)
@click.option("--all", "all_", is_flag=True, help="Verify every session in the log.")
@click.option(
    "--proof",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check a proof file written by `overseer prove` instead.",
)
@click.option(
    "--key",
    "keys_",
    multiple=True,
    metavar="VKEY",
    help="A trusted verifier key (NAME+KEYID+KEY, from `overseer key show`) or a file of "
    "them, one per line; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@log_option
def verify(
    target: str | None, all_: bool, proof: Path | None, keys_: tuple[str, ...], as_json: bool
) -> None:
    """Check hash chains, Merkle roots, signed checkpoints and SQLite integrity
    — of the log, an exported FILE.jsonl, or a --proof file. Exit 3 if anything is broken."""
    from .ckpt_cmds import describe, exit_on, trusted_keys, verify_file, verify_proof_file

    if proof is not None:
        if target or all_:
            raise click.UsageError("--proof FILE takes no SESSION_ID or --all")
        exit_on(verify_proof_file(proof, keys_, as_json))
        return
    if bool(target) == all_:
        raise click.UsageError("give a SESSION_ID, a FILE.jsonl or --all (not both)")
    if target and (target.endswith(".jsonl") or Path(target).is_file()):
        if not Path(target).is_file():
            raise click.UsageError(f"no file {target}")
        exit_on(verify_file(Path(target), keys_, as_json))
        return
    given = trusted_keys(keys_)
    with open_log() as log:
        results = log.verify(None if all_ else target, trusted=given)
        checked, integrity = log.integrity()
        status = {row["id"]: row["status"] for row in log.sessions()}
    ok = integrity == "ok" and all(r.ok for r in results)
    if as_json:
        rows = [
            {**r.model_dump(), "status": status.get(r.session_id), "ended": _ended(status, r)}
            for r in results
        ]
        echo_json({"ok": ok, "integrity": integrity, "sessions": rows})
    else:
        click.echo(f"{checked}: {integrity}")
        for r in results:
            if r.ok and r.session_id == PRUNES_ID:
                by = f" by {', '.join(r.signed_by)}" if r.signed_by else ""
                legacy = " (HMAC, from before signed checkpoints)" if r.sealing == "hmac" else ""
                click.echo(
                    f"{r.session_id}  ok  {r.events} prune record(s), chained and signed"
                    f"{by}{legacy} through #{r.sealed_seq}"
                )
            elif not r.ok and r.session_id == PRUNES_ID:
                click.echo(
                    f"{r.session_id}  BROKEN at prune #{r.first_broken_seq}: {r.kind} — {r.detail}"
                )
            elif r.ok:
                click.echo(f"{r.session_id}  ok  {describe(r)}" + _never_ended(status, r))
            else:
                click.echo(
                    f"{r.session_id}  BROKEN at seq {r.first_broken_seq}: {r.kind} — {r.detail}"
                )
        if not results:
            click.echo("no sessions to verify")
    exit_on(ok)


def _ended(status: dict[str, str], r: Any) -> bool | None:
    if r.session_id not in status:
        return None
    return status[r.session_id] not in ("running", "interrupted")


def _never_ended(status: dict[str, str], r: Any) -> str:
    """What verify adds for a session without ``session_ended``: its chain may be
    intact, but nothing vouches for events after its last seal."""
    state = status.get(r.session_id)
    if state == "interrupted":
        return (
            " — NEVER ENDED: no session_ended record; the process that ran it is gone "
            "(killed, or crashed), so events after the last seal may be missing unnoticed"
        )
    if state == "running":
        return (
            " — not ended yet: no session_ended record (still running, or killed on another host)"
        )
    return ""


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@log_option
def import_(file: Path) -> None:
    """Load a session exported as JSONL; refused if its chain does not verify."""
    with open_local_log("import", create=True) as log:
        res = import_session(log, file)
    click.echo(
        f"imported session {res.session_id}: {res.events} events, chain ok, "
        f"checkpoint signed here at {res.sealed_seq}"
    )


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
