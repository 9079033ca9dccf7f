"""Auditor commands beyond the basics: audit (counterfactual policy), search,
flags and prune. The html/md export formats live with `export`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from ..audit import audit_session, load_policy_ref
from ..audit.flags import detect, workspace_history
from ..audit.html import short
from ..audit.search import DECISIONS, parse_since
from ..audit.search import search as run_search
from ..events import EVENT_KINDS
from ..log import EventStore
from ..log.prune import PruneResult
from ..log.prune import prune as do_prune
from ..render import short_args
from .common import echo_json, log_option, open_local_log, open_log


@click.command()
@click.argument("session_id")
@click.option(
    "--policy",
    "policy_ref",
    required=True,
    metavar="P",
    help="Policy file, or a shipped name such as `strict`.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changed decisions as a JSON list.")
@log_option
def audit(session_id: str, policy_ref: str, as_json: bool) -> None:
    """Re-judge a session's recorded actions under another policy; list what would change.

    Nothing is executed: each action is judged from its recorded arguments
    and facts, against the session's recorded workspace.
    """
    policy = load_policy_ref(policy_ref)
    with open_log() as log:
        res = audit_session(log, session_id, policy)
    if as_json:
        echo_json([c.model_dump() for c in res.changes])
        return
    click.echo(
        f"session {res.session_id}: {res.judged} actions judged again under {policy_ref}"
        + (f" ({res.skipped} never reached a policy)" if res.skipped else "")
    )
    if not res.changes:
        click.echo("no decision would change")
        return
    click.echo(f"{len(res.changes)} decision(s) would change:")
    for c in res.changes:
        ran = f", {c.outcome}" if c.outcome else ""
        click.echo(
            f"  seq {c.seq:<5} {c.tool:<11} {c.recorded} -> {c.now}  [{c.rule or 'default'}]"
            f"  {short_args(c.tool, c.args, 80)}  (was {c.recorded_rule or 'default'}{ran})"
        )


@click.command()
@click.argument("query")
@click.option("--kind", type=click.Choice(EVENT_KINDS), help="Only events of this kind.")
@click.option("--tool", "tool", metavar="NAME", help="Only calls of this tool.")
@click.option(
    "--decision",
    type=click.Choice(DECISIONS),
    help="Only calls the policy decided so (allow/ask/deny) or a person answered so (approve/always/edit/terminate); deny covers both.",
)
@click.option(
    "--since",
    metavar="DATE",
    help="Only events since a date/time (UTC) or an age: 2025-01-31, 12h, 7d.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="At most this many results.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as a JSON list.")
@log_option
def search(
    query: str,
    kind: str | None,
    tool: str | None,
    decision: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Full-text search across sessions: commands, args, paths, outputs, reasons.

    Words must all occur ("git push"); quote for an exact phrase ('"git push"').
    An empty QUERY ("") matches everything the filters let through.
    """
    since_ns = parse_since(since) if since else None
    with open_log() as log:
        hits = run_search(
            log, query, kind=kind, tool=tool, decision=decision, since=since_ns, limit=limit
        )
    if as_json:
        echo_json([h.as_dict() for h in hits])
        return
    if not hits:
        click.echo("no matches")
        return
    for h in hits:
        what = f"{h.tool or h.kind}"
        verdict = []
        if h.decision:
            verdict.append(f"policy {h.decision}")
        if h.approval:
            verdict.append(f"{h.approval} by {h.approved_by}")
        if h.outcome:
            verdict.append(h.outcome)
        # A write names its path first: "who approved a write to X" is read off the line.
        detail = short(h.tool or "", h.args, 80) if h.args is not None else h.excerpt
        click.echo(
            f"{h.session_id}  seq {h.seq:<5} {stamp(h.ts)}  {what:<12} {'; '.join(verdict) or h.kind:<32} {detail}"
        )


@click.command()
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the flags as a JSON list.")
@click.option(
    "--recheck",
    is_flag=True,
    help="Also run the detectors over the recorded events now and show what they find (nothing is recorded).",
)
@log_option
def flags(session_id: str | None, as_json: bool, recheck: bool) -> None:
    """List oversight flags (reward_hacking, out_of_band, unsupported_claim, novel_action)."""
    with open_log() as log:
        rows = _flag_rows(log, session_id)
        rechecked: list[dict[str, Any]] = []
        if recheck:
            if session_id is None:
                raise click.UsageError("--recheck needs a SESSION_ID")
            sid = log.resolve(session_id)
            ws = log.session(sid).get("workspace")
            # Novelty is judged against the workspace's earlier sessions, as live.
            hist = workspace_history(log, sid, ws) if ws else None
            rechecked = [
                f.payload()
                for f in detect(((e.seq, e.kind, e.payload) for e in log.events(sid)), ws, hist)
            ]
    if as_json:
        echo_json(rows if not recheck else {"recorded": rows, "recheck": rechecked})
        return
    if not rows:
        click.echo("no flags raised" + (f" in session {session_id}" if session_id else ""))
    for r in rows:
        ev = ",".join(map(str, r["evidence"]))
        click.echo(
            f"{r['session_id']}  seq {r['seq']:<5} {r['flag']:<17} {r['reason']}  (evidence: seq {ev})"
        )
    if recheck:
        click.echo(f"recheck over the recorded events: {len(rechecked)} flag(s)")
        for f in rechecked:
            click.echo(
                f"  {f['flag']:<17} {f['reason']}  (evidence: seq {','.join(map(str, f['evidence']))})"
            )


def stamp(ts: int) -> str:
    """Date and time (UTC): search spans days, so the time alone is ambiguous."""
    return datetime.fromtimestamp(ts / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _flag_rows(log: EventStore, session_id: str | None) -> list[dict[str, Any]]:
    only = [log.resolve(session_id)] if session_id else None
    rows = []
    for e in log.events_of_kind(["flag_raised"], only):
        p = e.payload
        rows.append(
            {
                "session_id": e.session_id,
                "seq": e.seq,
                "ts": e.ts,
                "flag": p.get("flag"),
                "reason": p.get("reason"),
                "evidence": p.get("evidence", []),
                "call_id": p.get("call_id"),
                "details": p.get("details", {}),
            }
        )
    return rows


@click.command()
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    required=True,
    metavar="DAYS",
    help="Delete sessions that ended more than DAYS days ago.",
)
@click.option(
    "--yes", is_flag=True, help="Delete without asking (otherwise: list, and ask if interactive)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print what was (or would be) deleted as JSON."
)
@log_option
def prune(days: float, yes: bool, as_json: bool) -> None:
    """Delete whole old sessions; the prune itself is recorded in a chained, signed table."""
    with open_local_log("prune") as log:
        plan = do_prune(log, days, dry_run=True)
        if not plan.sessions:
            _report_prune(plan, as_json, done=False)
            return
        if not yes:
            _report_prune(plan, as_json, done=False)
            if (
                as_json
                or not sys.stdin.isatty()
                or not click.confirm(f"delete these {len(plan.sessions)} session(s)?")
            ):
                if not as_json:
                    click.echo("nothing deleted (pass --yes to delete)")
                return
        result = do_prune(log, days)
    _report_prune(result, as_json, done=True)


def _report_prune(res: PruneResult, as_json: bool, *, done: bool) -> None:
    if as_json:
        echo_json(
            {
                "deleted": done,
                "cutoff": res.cutoff,
                "record": res.record_id,
                "sessions": [vars(c) for c in res.sessions],
                "blobs": res.blobs,
                "messages": res.messages,
                "kept_running": res.skipped_running,
            }
        )
        return
    if not res.sessions:
        click.echo(f"no finished session ended before {res.cutoff}")
    else:
        verb = "deleted" if done else "would delete"
        click.echo(f"{verb} {len(res.sessions)} session(s) that ended before {res.cutoff}:")
        for c in res.sessions:
            click.echo(f"  {c.id}  {c.status:<11} {c.events:6} events  {c.task[:60]}")
        if done:
            click.echo(
                f"also removed {res.blobs} unreferenced output blob(s) and {res.messages} model message(s); "
                f"recorded as prune #{res.record_id}"
            )
    if res.skipped_running:
        click.echo(
            f"kept {len(res.skipped_running)} old session(s) still marked running: {', '.join(res.skipped_running)}"
        )


COMMANDS = [audit, search, flags, prune]
