"""A session as one self-contained HTML page, for people without overseer.

No network, no scripts: inline CSS only, and a Content-Security-Policy that
forbids every load (``default-src 'none'``), so even a mistake here cannot
make the page fetch anything. Everything taken from the log is escaped —
agent output is untrusted and a ``<script>`` in it must stay text. Long
outputs and diffs are collapsed with ``<details>`` (no JavaScript needed),
with their first lines shown, which is also what a printout keeps.

Sections: header (task, agent, policy, workspace...), integrity (the verify
result), flags, decisions (every call: what the policy said and why, who
approved or denied it and when), evidence summary, the final report, then
the full transcript with outputs and coloured diffs.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..log import StoredEvent
from ..log.verify import sealing_text
from ..render import call_summary, describe
from ..report import evidence, format_evidence, format_tokens
from .timeline import Action, SessionRecord

PREVIEW_LINES = 12
COLLAPSE_LINES = 24
COLLAPSE_CHARS = 3000

CSS = """
:root { --fg:#1d2328; --muted:#5b6670; --line:#d8dee4; --bg:#fff; --soft:#f5f7f9;
  --ok:#1a7f37; --ask:#9a6700; --deny:#cf222e; --flag:#8250df; --link:#0969da; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg); margin: 0 auto; max-width: 1100px; padding: 24px 28px 60px; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 32px 0 10px;
  padding-bottom: 4px; border-bottom: 1px solid var(--line); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 13px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  margin: 6px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
a { color: var(--link); text-decoration: none; } a:hover { text-decoration: underline; }
.task { font-size: 1.1em; margin: 4px 0 14px; white-space: pre-wrap; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: 0.85em; text-transform: uppercase; letter-spacing: .03em; }
table.meta th { width: 150px; text-transform: none; letter-spacing: 0; font-size: 0.95em; }
td.args { max-width: 420px; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 0.8em; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.allow, .ok, .approve, .always { color: var(--ok); } .ask, .edit, .timeout { color: var(--ask); }
.deny, .denied, .failed, .error, .terminate, .terminated, .invalid, .broken { color: var(--deny); }
.muted { color: var(--muted); } .small { font-size: 0.85em; }
.verify { padding: 10px 14px; border-radius: 6px; border: 1px solid var(--line); }
.verify.good { border-color: var(--ok); background: #f0faf2; } .verify.bad { border-color: var(--deny); background: #fff1f1; }
.flag { border-left: 4px solid var(--flag); background: #f8f4ff; padding: 8px 12px; margin: 8px 0; border-radius: 0 6px 6px 0; }
.flag b, .flagged { color: var(--flag); } .flagged { margin-top: 3px; }
.event { padding: 6px 0; border-bottom: 1px dashed var(--line); }
.action { border: 1px solid var(--line); border-radius: 8px; margin: 12px 0; padding: 10px 14px; break-inside: avoid; }
.action > header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.action .tool { font-weight: 700; } .seq { color: var(--muted); font-size: 0.85em; min-width: 3.5em; display: inline-block; }
.line { margin: 3px 0; }
.diff .add { color: #116329; background: #dafbe1; display: block; }
.diff .del { color: #82071e; background: #ffebe9; display: block; }
.diff .hunk { color: #0550ae; display: block; } .diff .meta { color: var(--muted); display: block; }
.diff .ctx { display: block; }
details > summary { cursor: pointer; color: var(--link); margin: 4px 0; }
.evidence { white-space: pre-wrap; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  a { color: inherit; } details > summary { color: var(--muted); }
  h2 { break-after: avoid; } .action, .flag, tr { break-inside: avoid; }
  pre { white-space: pre-wrap; }
}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: int | None) -> str:
    if not ts:
        return ""
    return datetime.fromtimestamp(ts / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def badge(text: Any) -> str:
    t = esc(text)
    return f'<span class="badge {t}">{t}</span>'


def pre(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<pre{c}>{esc(text)}</pre>"


def collapsible(text: str, label: str = "output", cls: str = "", render: Any = None) -> str:
    """The text, or its first lines plus a <details> with all of it when long."""
    fmt = render or (lambda t: pre(t, cls))
    lines = text.splitlines()
    if len(lines) <= COLLAPSE_LINES and len(text) <= COLLAPSE_CHARS:
        return fmt(text)
    head = "\n".join(lines[:PREVIEW_LINES])[:COLLAPSE_CHARS]
    return (
        fmt(head + "\n…")
        + f"<details><summary>show all of the {esc(label)} ({len(lines)} lines, {len(text)} characters)</summary>"
        + fmt(text)
        + "</details>"
    )


def diff_html(diff: str) -> str:
    """A unified diff, one block per line (coloured by its kind). The newline
    ends each line's own block, so lines are neither doubled up nor run
    together, and copying the text still gives the diff back."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---", "diff ", "index ")):
            cls = "meta"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        else:
            cls = "ctx"
        out.append(f'<span class="{cls}">{esc(line)}\n</span>')
    if out:  # the last line's newline would show as an empty line
        out[-1] = out[-1].replace("\n</span>", "</span>")
    return '<pre class="diff">' + "".join(out) + "</pre>"


def args_text(tool: str, args: Any) -> str:
    """An action's arguments for reading: a command as itself, other args as JSON."""
    if isinstance(args, dict) and isinstance(args.get("command"), str):
        extra = {k: v for k, v in args.items() if k != "command" and v is not None}
        return args["command"] + (
            f"\n{json.dumps(extra, ensure_ascii=False, sort_keys=True)}" if extra else ""
        )
    if isinstance(args, str):
        return args
    return json.dumps(args, indent=2, ensure_ascii=False, sort_keys=True)


def short(tool: str, args: Any, limit: int = 140) -> str:
    """One line: an edit as the path and what changes, anything else as the
    UI and the CLI show it (the command with its revision, the path first...)."""
    if (
        isinstance(args, dict)
        and isinstance(args.get("path"), str)
        and "old" in args
        and "new" in args
    ):
        text = " ".join(
            f"{args['path']}: {json.dumps(args['old'])} → {json.dumps(args['new'])}".split()
        )
        return text if len(text) <= limit else text[: limit - 1] + "…"
    return call_summary(tool, args, limit)


def _anchor(seq: int) -> str:
    return f'<span id="e-{seq}"></span>'


def _seq_link(seq: int) -> str:
    return f'<a href="#e-{seq}">{seq}</a>'


def _header(rec: SessionRecord) -> str:
    s, row = rec.started, rec.row
    rows = [
        ("status", badge(row.get("status"))),
        (
            "agent",
            esc(row.get("agent"))
            + (f" · model {esc(row.get('model'))}" if row.get("model") else ""),
        ),
        (
            "policy",
            esc(s.get("policy_name") or row.get("policy"))
            + (
                f' <span class="muted small mono">sha256 {esc(str(s.get("policy_hash", ""))[:16])}…</span>'
                if s.get("policy_hash")
                else ""
            ),
        ),
        ("workspace", f'<span class="mono">{esc(rec.workspace)}</span>'),
        ("git head", f'<span class="mono">{esc(s.get("git_head") or "—")}</span>'),
        (
            "approver",
            esc(s.get("approver") or "—") + f" · sandbox {esc(s.get('sandbox') or 'none')}",
        ),
        ("started", esc(row.get("started"))),
        ("ended", esc(row.get("ended") or "—")),
        ("events", esc(row.get("events"))),
    ]
    if s.get("versions"):
        rows.append(
            ("versions", esc(", ".join(f"{k} {v}" for k, v in sorted(s["versions"].items()))))
        )
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f"<header><h1>overseer session <code>{esc(rec.id)}</code></h1>"
        f'<div class="task">{esc(row.get("task"))}</div><table class="meta">{body}</table></header>'
    )


def _integrity(rec: SessionRecord) -> str:
    """Who signed, the tree size and root — or where the record broke."""
    v = rec.verify
    if v is None:
        return ""
    if v.ok:
        text = f"<b class='ok'>Chain intact.</b> {v.events} events verified; "
        if v.sealing == "checkpoint" and v.sealed_seq:
            text += (
                f"signed checkpoint: tree size {v.sealed_seq}, signed by "
                f"<code>{esc(', '.join(v.signed_by))}</code>, {v.unsealed} event(s) after it."
                f'<div class="small muted mono">Merkle root (RFC 9162) {esc(v.root)}</div>'
                '<div class="small muted">Anyone can check the exported session with the '
                "signer's verifier key: <code>overseer verify FILE.jsonl --key VKEY</code></div>"
            )
        else:
            text += esc(sealing_text(v)) + "."
        cls = "good"
    else:
        text = (
            f"<b class='broken'>BROKEN at seq {esc(v.first_broken_seq)}: {esc(v.kind)}</b> — {esc(v.detail)}. "
            "Do not trust events from that point on."
        )
        cls = "bad"
    head = f'<div class="small muted mono">head {esc(v.head)}</div>' if v.head else ""
    return f'<h2 id="integrity">Integrity</h2><div class="verify {cls}">{text}{head}</div>'


def _flags(rec: SessionRecord) -> str:
    flags = [e for e in rec.events if e.kind == "flag_raised"]
    if not flags:
        return '<h2 id="flags">Flags</h2><p class="muted">No flags were raised.</p>'
    items = []
    for e in flags:
        p = e.payload
        ev = ", ".join(_seq_link(int(s)) for s in p.get("evidence", []) if isinstance(s, int))
        items.append(
            f'<div class="flag"><b>{esc(p.get("flag"))}</b> {esc(p.get("reason"))}'
            f'<div class="small muted">raised at seq {_seq_link(e.seq)} · {esc(when(e.ts))} · evidence: seq {ev or "—"}</div></div>'
        )
    return f'<h2 id="flags">Flags ({len(flags)})</h2>' + "".join(items)


def _decision_cells(a: Action) -> tuple[str, str]:
    if a.decided is not None:
        p = a.decided.payload
        rule = (
            f' <span class="muted small">rule {esc(p.get("rule"))}</span>' if p.get("rule") else ""
        )
        policy = f"{badge(p.get('decision'))}{rule}<div class='small'>{esc(p.get('reason'))}</div>"
    else:
        policy = '<span class="muted">never reached the policy</span>'
    if a.approval is not None:
        p = a.approval.payload
        reason = f"<div class='small'>“{esc(p.get('reason'))}”</div>" if p.get("reason") else ""
        approval = (
            f"{badge(p.get('decision'))} by <b>{esc(p.get('by'))}</b>"
            f"<div class='small muted'>{esc(when(a.approval.ts))}</div>{reason}"
        )
    elif a.started is not None and str(a.started.payload.get("decided_by", "")).startswith(
        "grant:"
    ):
        approval = f"covered by {esc(a.started.payload.get('decided_by'))}"
    elif a.requested is not None:
        approval = '<span class="deny">asked, no decision recorded</span>'
    elif a.decided is not None and a.decided.payload.get("decision") in ("allow", "deny"):
        # Nobody was asked: the policy's decision was final.
        approval = '<span class="muted">not asked (the policy decided)</span>'
    else:
        approval = '<span class="muted">—</span>'
    return policy, approval


def _decisions(rec: SessionRecord) -> str:
    if not rec.actions:
        return '<h2 id="decisions">Decisions</h2><p class="muted">No actions were proposed.</p>'
    rows = []
    for a in rec.actions:
        policy, approval = _decision_cells(a)
        outcome = badge(a.status) if a.status else '<span class="deny">outcome unknown</span>'
        outcome += "".join(
            f'<div><a class="badge flagged" href="#e-{f.seq}">⚑ {esc(f.payload.get("flag"))}</a></div>'
            for f in a.flags
        )
        t = when(a.decided.ts if a.decided else a.proposed.ts if a.proposed else None)
        rows.append(
            f'<tr><td><a href="#call-{esc(a.call_id)}">{a.seq}</a></td><td class="small">{esc(t)}</td>'
            f'<td class="mono">{esc(a.tool)}</td><td class="args mono small">{esc(short(a.tool, a.canonical_args))}</td>'
            f"<td>{policy}</td><td>{approval}</td><td>{outcome}</td></tr>"
        )
    grants = [e for e in rec.events if e.kind in ("grant_added", "grant_revoked")]
    extra = ""
    if grants:
        extra = (
            "<h3>Grants</h3><ul>"
            + "".join(
                f"<li>{_seq_link(e.seq)} {esc(when(e.ts))}: {esc(describe(e.kind, e.payload))}</li>"
                for e in grants
            )
            + "</ul>"
        )
    return (
        f'<h2 id="decisions">Decisions ({len(rec.actions)} actions)</h2><table class="decisions">'
        "<tr><th>seq</th><th>when</th><th>tool</th><th>action</th><th>policy</th><th>approval</th><th>outcome</th></tr>"
        + "".join(rows)
        + "</table>"
        + extra
    )


def _evidence(rec: SessionRecord) -> str:
    ev = evidence((e.seq, e.kind, e.payload) for e in rec.events)
    final = ""
    if rec.ended is not None:
        status = badge(rec.ended.get("status"))
        text = rec.ended.get("final") or ""
        err = f"<p class='deny'>{esc(rec.ended.get('error'))}</p>" if rec.ended.get("error") else ""
        final = f'<h2 id="final">Final report</h2><p>Session ended {status}</p>{err}' + (
            collapsible(text, "final report")
            if text
            else '<p class="muted">The agent gave no final report.</p>'
        )
    else:
        final = '<h2 id="final">Final report</h2><p class="deny">The session has not ended (running or interrupted).</p>'
    return (
        final
        + f'<h2 id="evidence">Evidence from the log</h2><div class="evidence">{esc(format_evidence(ev))}</div>'
    )


def _action(a: Action) -> str:
    parts = [f'<article class="action" id="call-{esc(a.call_id)}">']
    parts += [_anchor(s) for s in a.seqs()]
    status = badge(a.status) if a.status else '<span class="badge deny">outcome unknown</span>'
    src = a.proposed.payload.get("source") if a.proposed else None
    src_txt = (
        f' <span class="muted small">({esc(src)} of {esc(a.proposed.payload.get("parent_call_id"))})</span>'
        if a.proposed and src not in (None, "agent")
        else ""
    )
    parts.append(
        f'<header><span class="seq">#{a.seq}</span><span class="tool mono">{esc(a.tool)}</span>{status}'
        f'<span class="muted small">{esc(when(a.proposed.ts if a.proposed else None))} · call {esc(a.call_id)}</span>{src_txt}</header>'
    )
    args = a.canonical_args
    if a.tool == "edit_file" and isinstance(args, dict):
        parts.append(f'<div class="line mono">{esc(args.get("path"))}</div>')
        old = str(args.get("old") or args.get("old_string") or "")
        new = str(args.get("new") or args.get("new_string") or "")
        d = "\n".join(
            [
                "@@ replace @@",
                *("-" + ln for ln in old.splitlines()),
                *("+" + ln for ln in new.splitlines()),
            ]
        )
        parts.append(collapsible(d, "edit", render=diff_html))
    else:
        parts.append(collapsible(args_text(a.tool, args), "arguments"))
    policy, approval = _decision_cells(a)
    parts.append(f'<div class="line"><b>Policy:</b> {policy}</div>')
    if a.requested is not None or a.approval is not None:
        parts.append(f'<div class="line"><b>Approval:</b> {approval}</div>')
    if a.started is not None:
        parts.append(
            f'<div class="line small muted">ran at {esc(when(a.started.ts))}, decided by '
            f"{esc(a.started.payload.get('decided_by'))}, sandbox {esc(a.started.payload.get('sandbox'))}</div>"
        )
    for q in a.questions:
        parts.append(f'<div class="line">{esc(describe(q.kind, q.payload))}</div>')
    if a.finished is not None:
        p = a.finished.payload
        code = f" · exit {esc(p.get('exit_code'))}" if p.get("exit_code") is not None else ""
        parts.append(
            f'<div class="line small">finished {badge(p.get("status"))}{code} · {esc(p.get("duration_ms", 0))} ms</div>'
        )
        out = str(p.get("output") or "")
        if p.get("truncated"):
            out += f"\n[the log keeps the head and tail of {p.get('output_size')} characters]"
        if out.strip():
            parts.append(collapsible(out, "output"))
    for f in a.files:
        fp = f.payload
        dest = f" → {esc(fp.get('dest_path'))}" if fp.get("dest_path") else ""
        parts.append(
            f'<div class="line">file {badge(fp.get("change"))} <span class="mono">{esc(fp.get("path"))}</span>{dest}</div>'
        )
        if fp.get("diff"):
            parts.append(collapsible(str(fp["diff"]), "diff", render=diff_html))
    for fl in a.flags:
        parts.append(
            f'<div class="flag">{_anchor(fl.seq)}<b>{esc(fl.payload.get("flag"))}</b> {esc(fl.payload.get("reason"))}</div>'
        )
    parts.append("</article>")
    return "".join(parts)


def _event(e: StoredEvent) -> str:
    p = e.payload
    head = f'<span class="seq">#{e.seq}</span><span class="muted small">{esc(when(e.ts))}</span> '
    if e.kind == "model_turn":
        text = str(p.get("text") or "").strip()
        calls = ", ".join(
            str(c.get("name", "?")) for c in p.get("tool_calls", []) if isinstance(c, dict)
        )
        body = collapsible(text, "model text") if text else ""
        used = format_tokens(p.get("usage"))
        tokens = f' <span class="muted small">{esc(used)}</span>' if used else ""
        failed = (
            f' <span class="failed">failed: {esc(" ".join(str(p["error"]).split()))}</span>'
            if p.get("error")
            else ""
        )
        return (
            f'<div class="event" id="e-{e.seq}">{head}<b>model turn {esc(p.get("turn"))}</b>'
            f"{failed}{' → calls ' + esc(calls) if calls else ''}"
            f"{tokens}{body}</div>"
        )
    if e.kind == "flag_raised":
        ev = ", ".join(_seq_link(int(s)) for s in p.get("evidence", []) if isinstance(s, int))
        return (
            f'<div class="flag" id="e-{e.seq}">{head}<b>{esc(p.get("flag"))}</b> {esc(p.get("reason"))}'
            f'<div class="small muted">evidence: seq {ev or "—"}</div></div>'
        )
    if e.kind == "file_changed":
        body = collapsible(str(p["diff"]), "diff", render=diff_html) if p.get("diff") else ""
        return f'<div class="event" id="e-{e.seq}">{head}{esc(describe(e.kind, p))}{body}</div>'
    return f'<div class="event" id="e-{e.seq}">{head}{esc(describe(e.kind, p))}</div>'


def _transcript(rec: SessionRecord) -> str:
    by_first: dict[int, Action] = {a.seq: a for a in rec.actions}
    owned = (
        {s for a in rec.actions for s in a.seqs()}
        | {f.seq for a in rec.actions for f in a.flags}
        | {q.seq for a in rec.actions for q in a.questions}
    )
    out = ['<h2 id="transcript">Transcript</h2>']
    v = rec.verify
    broken = v.first_broken_seq if v is not None and not v.ok else None
    seals = 0
    for e in rec.events:
        if broken is not None and e.seq >= broken:
            out.append(
                f'<div class="verify bad"><b class="broken">The chain is broken at seq {esc(broken)} '
                f"({esc(v.kind if v else '')})</b>: do not trust what follows.</div>"
            )
            broken = None
        if e.kind == "seal":
            seals += 1
            continue
        if e.seq in by_first:
            out.append(_action(by_first[e.seq]))
        elif e.seq in owned:
            continue
        else:
            out.append(_event(e))
    if broken is not None:  # the break is past the last event: the tail is missing
        out.append(
            f'<div class="verify bad"><b class="broken">The chain is broken at seq {esc(broken)} '
            f"({esc(v.kind if v else '')})</b>: {esc(v.detail if v else '')}.</div>"
        )
    out.append(
        f'<p class="muted small">{seals} seal checkpoint(s) omitted from the transcript.</p>'
    )
    return "".join(out)


def render_html(rec: SessionRecord) -> str:
    """The whole page for one session (``rec`` loaded with ``verify=True``)."""
    title = f"overseer session {rec.id} — {str(rec.row.get('task') or '')[:80]}"
    nav = (
        '<nav class="small"><a href="#integrity">integrity</a> · <a href="#flags">flags</a> · '
        '<a href="#decisions">decisions</a> · <a href="#final">final report</a> · '
        '<a href="#evidence">evidence</a> · <a href="#transcript">transcript</a></nav>'
    )
    body = "".join(
        [
            _header(rec),
            nav,
            _integrity(rec),
            _flags(rec),
            _decisions(rec),
            _evidence(rec),
            _transcript(rec),
        ]
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}"
        f"<footer>Exported by overseer {esc(__version__)} on {generated}. This page is self-contained: "
        "it loads nothing and runs no scripts. Verify the original log with <code>overseer verify</code>.</footer>"
        "</body></html>\n"
    )
