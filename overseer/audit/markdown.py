"""A session as Markdown, for pasting into a code review or a ticket.

Same content as the HTML export in a plainer form: header, integrity,
flags, a decisions table, the final report, the evidence summary, and the
transcript with diffs in fenced ``diff`` blocks. Text from the log is
untrusted: table cells have Markdown and HTML metacharacters escaped, and
fences are made longer than any backtick run inside them, so agent output
can neither break the layout nor inject markup into a renderer.
"""

from __future__ import annotations

import re
from typing import Any

from ..log.verify import sealing_text
from ..render import describe
from ..report import evidence, format_evidence
from .html import args_text, short, when
from .timeline import Action, SessionRecord

_CELL = re.compile(r"([\\`*_\[\]|#<>~])")
OUTPUT_LINES = 40


def cell(value: Any) -> str:
    """Text for one table cell: one line, metacharacters escaped."""
    text = " ".join(("" if value is None else str(value)).split())
    text = text.replace("&", "&amp;")
    return _CELL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), text)


def code(value: Any) -> str:
    """Inline code: backslashes do not escape inside a code span, so the text
    goes in as is, one line, between backtick runs longer than any inside."""
    text = " ".join(("" if value is None else str(value)).split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def clip(text: str, lines: int = OUTPUT_LINES) -> str:
    all_lines = text.splitlines()
    if len(all_lines) <= lines:
        return text
    keep = lines // 2
    cut = len(all_lines) - 2 * keep
    return "\n".join(
        [
            *all_lines[:keep],
            f"[... {cut} lines omitted; the HTML export has them all ...]",
            *all_lines[-keep:],
        ]
    )


def _decision(a: Action) -> tuple[str, str]:
    if a.decided is not None:
        p = a.decided.payload
        policy = f"**{cell(p.get('decision'))}**" + (
            f" ({cell(p.get('rule'))})" if p.get("rule") else ""
        )
        if p.get("reason"):
            policy += f": {cell(p.get('reason'))}"
    else:
        policy = "never reached the policy"
    if a.approval is not None:
        p = a.approval.payload
        approval = (
            f"**{cell(p.get('decision'))}** by {cell(p.get('by'))} at {cell(when(a.approval.ts))}"
        )
        if p.get("reason"):
            approval += f": “{cell(p.get('reason'))}”"
    elif a.started is not None and str(a.started.payload.get("decided_by", "")).startswith(
        "grant:"
    ):
        approval = f"covered by {cell(a.started.payload.get('decided_by'))}"
    elif a.requested is not None:
        approval = "asked, no decision recorded"
    elif a.decided is not None and a.decided.payload.get("decision") in ("allow", "deny"):
        approval = "not asked (the policy decided)"
    else:
        approval = "—"
    return policy, approval


def render_markdown(rec: SessionRecord) -> str:
    s, row = rec.started, rec.row
    out = [f"# overseer session `{rec.id}`", "", f"**Task:** {cell(row.get('task'))}", ""]
    out += [
        "| | |",
        "|---|---|",
        f"| status | {cell(row.get('status'))} |",
        f"| agent | {cell(row.get('agent'))}{' · model ' + cell(row.get('model')) if row.get('model') else ''} |",
        f"| policy | {cell(s.get('policy_name') or row.get('policy'))}"
        + (f" (sha256 {cell(str(s['policy_hash'])[:16])}…)" if s.get("policy_hash") else "")
        + " |",
        f"| workspace | {cell(rec.workspace)} |",
        f"| git head | {cell(s.get('git_head') or '—')} |",
        f"| approver | {cell(s.get('approver') or '—')} · sandbox {cell(s.get('sandbox') or 'none')} |",
        f"| started / ended | {cell(row.get('started'))} / {cell(row.get('ended') or '—')} |",
        f"| events | {cell(row.get('events'))} |",
        "",
    ]
    v = rec.verify
    if v is not None:
        out.append("## Integrity")
        out.append("")
        if v.ok:
            out.append(f"**Chain intact:** {v.events} events verified, {cell(sealing_text(v))}.")
            if v.sealing == "checkpoint" and v.root:
                out.append("")
                out.append(f"Merkle root (RFC 9162): `{v.root}`")
        else:
            out.append(
                f"**BROKEN at seq {v.first_broken_seq}: {cell(v.kind)}** — {cell(v.detail)}. "
                "Do not trust events from that point on."
            )
        out.append("")
    flags = [e for e in rec.events if e.kind == "flag_raised"]
    out += ["## Flags", ""]
    if flags:
        for e in flags:
            ev = ", ".join(str(x) for x in e.payload.get("evidence", []))
            out.append(
                f"- **{cell(e.payload.get('flag'))}** {cell(e.payload.get('reason'))} (seq {e.seq}; evidence: seq {ev or '—'})"
            )
    else:
        out.append("No flags were raised.")
    out += ["", f"## Decisions ({len(rec.actions)} actions)", ""]
    if rec.actions:
        out += [
            "| seq | when | tool | action | policy | approval | outcome |",
            "|---|---|---|---|---|---|---|",
        ]
        for a in rec.actions:
            policy, approval = _decision(a)
            t = when(a.decided.ts if a.decided else a.proposed.ts if a.proposed else None)
            out.append(
                f"| {a.seq} | {cell(t)} | {cell(a.tool)} | {cell(short(a.tool, a.canonical_args, 100))} | "
                f"{policy} | {approval} | {cell(a.status or 'outcome unknown')}"
                + "".join(f" **⚑ {cell(f.payload.get('flag'))}**" for f in a.flags)
                + " |"
            )
    else:
        out.append("No actions were proposed.")
    out += ["", "## Final report", ""]
    if rec.ended is not None:
        out.append(
            f"Session ended **{cell(rec.ended.get('status'))}**."
            + (f" Error: {cell(rec.ended.get('error'))}" if rec.ended.get("error") else "")
        )
        final = str(rec.ended.get("final") or "")
        out += ["", fence(final) if final else "The agent gave no final report."]
    else:
        out.append("The session has not ended (running or interrupted).")
    summary = evidence((e.seq, e.kind, e.payload) for e in rec.events)
    out += [
        "",
        "## Evidence from the log",
        "",
        fence(format_evidence(summary)),
        "",
        "## Transcript",
        "",
    ]
    owned = {q for a in rec.actions for q in a.seqs()}
    firsts = {a.seq: a for a in rec.actions}
    for e in rec.events:
        if e.kind == "seal":
            continue
        if e.seq in firsts:
            a = firsts[e.seq]
            policy, approval = _decision(a)
            if out[-1] != "":
                out.append("")  # a heading needs a blank line after a list
            out.append(f"### #{a.seq} {code(a.tool)} → {cell(a.status or 'outcome unknown')}")
            out += ["", fence(args_text(a.tool, a.canonical_args)), "", f"- policy: {policy}"]
            if a.requested is not None or a.approval is not None or approval.startswith("covered"):
                out.append(f"- approval: {approval}")
            if a.finished is not None:
                p = a.finished.payload
                exit_ = f", exit {p.get('exit_code')}" if p.get("exit_code") is not None else ""
                out.append(
                    f"- finished {cell(p.get('status'))}{exit_} in {p.get('duration_ms', 0)} ms"
                )
                text = str(p.get("output") or "")
                if text.strip():
                    out += ["", fence(clip(text))]
            for f in a.files:
                out.append(f"- file {cell(f.payload.get('change'))}: {cell(f.payload.get('path'))}")
                if f.payload.get("diff"):
                    out += ["", fence(clip(str(f.payload["diff"]), 80), "diff")]
            out.append("")
        elif e.seq in owned:
            continue
        elif e.kind == "file_changed" and e.payload.get("diff"):
            out += [
                f"- #{e.seq} {cell(describe(e.kind, e.payload))}",
                "",
                fence(clip(str(e.payload["diff"]), 80), "diff"),
                "",
            ]
        else:
            out.append(f"- #{e.seq} {cell(describe(e.kind, e.payload))}")
    out.append("")
    return "\n".join(out)
