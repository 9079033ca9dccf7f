"""The evidence summary: what the log says happened, independent of what the
agent says. Appended to every final report, shown by the UI and exports."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _outside(path: str, workspace: Path | None) -> bool:
    """Whether a file tool's path lies outside the workspace (the watcher
    only sees the workspace, so such writes are listed from the actions)."""
    p = Path(path).expanduser()
    if not p.is_absolute():
        if workspace is None:
            return ".." in p.parts
        p = workspace / p
    base = workspace or Path("/")
    return not os.path.normpath(p).startswith(os.path.normpath(base) + os.sep)


COUNT_KEYS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")
TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def format_tokens(usage: Any) -> str:
    """``1,234 in, 56 out, 1,290 total tokens`` ("" when there is no usage)."""
    if not isinstance(usage, dict):
        return ""
    n = {k: usage.get(k) for k in TOKEN_KEYS}
    if not any(isinstance(v, int) and v for v in n.values()):
        return ""
    parts = [
        f"{int(v):,} {label}"
        for v, label in zip(n.values(), ("in", "out", "total"), strict=True)
        if isinstance(v, int)
    ]
    return ", ".join(parts) + " tokens"


def tests_ran(run: dict[str, Any]) -> int | None:
    """How many tests of a recorded run executed (None: the run has no counts).
    A skipped test did not run; an xfailed one did, and failed as expected."""
    if run.get("passed") is None:
        return None
    return sum(int(run.get(k) or 0) for k in COUNT_KEYS if k != "skipped")


def vacuous(run: dict[str, Any]) -> bool:
    """A run that "passed" without a single test passing: all skipped or xfailed, or none."""
    return (
        run.get("outcome") == "passed"
        and run.get("passed") is not None
        and not (int(run.get("passed") or 0) + int(run.get("xpassed") or 0))
    )


def format_counts(run: dict[str, Any]) -> str:
    """``9 passed, 1 failed, 2 skipped``: every count a run has, the zero ones
    kept for passed and failed; and, when no test passed, that it says nothing."""
    if run.get("passed") is None:
        return ""
    text = ", ".join(
        f"{int(run.get(k) or 0)} {k}" for k in COUNT_KEYS if k in ("passed", "failed") or run.get(k)
    )
    if vacuous(run):
        skipped = int(run.get("skipped") or 0)
        if not tests_ran(run):
            text += " — NO TEST RAN" + (f": all {skipped} skipped" if skipped else "")
        else:
            text += " — no test passed"
    return text


def evidence(events: Iterable[tuple[int, str, dict[str, Any]]]) -> dict[str, Any]:
    """Summarise ``(seq, kind, payload)`` events of one session."""
    tests: list[dict[str, Any]] = []
    bisects: list[dict[str, Any]] = []
    files: dict[str, str] = {}
    approvals: list[dict[str, Any]] = []
    denials: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    commits: list[str] = []
    actions = 0
    tools: dict[str, str] = {}
    workspace: Path | None = None
    turns = failed_turns = 0
    tokens: dict[str, int] = {}
    writes: dict[str, str] = {}  # call_id -> path written by a file tool
    outside: list[str] = []  # paths outside the workspace that file tools wrote
    for seq, kind, p in events:
        if kind == "session_started" and p.get("workspace"):
            workspace = Path(str(p["workspace"]))
        elif kind == "model_turn":
            turns += 1
            failed_turns += bool(p.get("error"))
            usage = p.get("usage")
            for k in TOKEN_KEYS:
                if isinstance(usage, dict) and isinstance(usage.get(k), int):
                    tokens[k] = tokens.get(k, 0) + usage[k]
        elif kind == "action_proposed":
            tools[str(p.get("call_id"))] = str(p.get("tool"))
        elif kind == "action_started" and p.get("tool") in ("write_file", "edit_file"):
            args = p.get("args") or {}
            if isinstance(args, dict) and isinstance(args.get("path"), str):
                writes[str(p.get("call_id"))] = args["path"]
        elif kind == "action_finished":
            actions += 1
            data = p.get("data") or {}
            if p.get("tool") == "run_tests" and p.get("status") not in (
                "denied",
                "invalid",
                "edited",
                "terminated",
            ):
                run = {
                    "seq": seq,
                    "outcome": data.get("outcome", p.get("status")),
                    "command": data.get("command"),
                    "rev": data.get("rev"),
                    **{
                        k: data.get(k) for k in COUNT_KEYS if k in ("passed", "failed") or k in data
                    },
                }
                if vacuous(run):
                    run["vacuous"] = True
                tests.append(run)
            if p.get("tool") == "bisect" and isinstance(data.get("first_bad"), dict):
                bisects.append({"seq": seq, **data["first_bad"]})
            if p.get("tool") == "git_commit" and p.get("status") == "ok" and data.get("sha"):
                commits.append(str(data["sha"]))
            path = writes.pop(str(p.get("call_id")), None)
            if path and p.get("status") == "ok" and _outside(path, workspace):
                outside.append(path)
            if p.get("status") == "denied":
                denials.append(
                    {"seq": seq, "tool": p.get("tool"), "reason": p.get("error") or p.get("output")}
                )
        elif kind == "approval_decided":
            approvals.append(
                {
                    "seq": seq,
                    "call_id": p.get("call_id"),
                    "tool": tools.get(str(p.get("call_id"))),
                    "decision": p.get("decision"),
                    "by": p.get("by"),
                    "reason": p.get("reason"),
                }
            )
        elif kind == "file_changed" and p.get("change") != "ref":
            files[str(p.get("path"))] = str(p.get("change"))
        elif kind == "flag_raised":
            flags.append({"seq": seq, "flag": p.get("flag"), "reason": p.get("reason")})
    return {
        "actions": actions,
        "test_runs": tests,
        "bisects": bisects,
        "commits": commits,
        "files_changed": [{"path": k, "change": v} for k, v in sorted(files.items())],
        "written_outside_workspace": outside,
        "approvals": approvals,
        "denials": denials,
        "flags": flags,
        "model": {"turns": turns, "failed_turns": failed_turns, "usage": tokens},
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def format_evidence(ev: dict[str, Any]) -> str:
    lines = ["Evidence from the audit log:"]
    if ev["test_runs"]:
        for t in ev["test_runs"]:
            counts = f" ({format_counts(t)})" if t.get("passed") is not None else ""
            at = f" at {t['rev']}" if t.get("rev") else ""
            lines.append(f"- test run{at}: {t['outcome']}{counts} [seq {t['seq']}]")
    else:
        lines.append("- no test runs")
    for b in ev["bisects"]:
        lines.append(
            f'- bisect found first bad commit {b.get("sha")} "{b.get("subject", "")}" [seq {b["seq"]}]'
        )
    for c in ev["commits"]:
        lines.append(f"- commit created: {c}")
    if ev["files_changed"]:
        lines.append(
            "- files changed: "
            + ", ".join(f"{f['path']} ({f['change']})" for f in ev["files_changed"][:20])
        )
    else:
        lines.append("- no files changed in the workspace")
    if ev.get("written_outside_workspace"):
        lines.append(
            "- written OUTSIDE the workspace: " + ", ".join(ev["written_outside_workspace"][:20])
        )
    approved = [a for a in ev["approvals"] if a["decision"] in ("approve", "always", "edit")]
    lines.append(
        f"- {_count(len(ev['approvals']), 'approval decision')} ({len(approved)} approved),"
        f" {_count(len(ev['denials']), 'denied action')}"
    )
    for a in ev["approvals"]:
        reason = f": {a['reason']}" if a.get("reason") else ""
        lines.append(
            f"  - {a['decision']} {a.get('tool') or ''} by {a['by']}{reason} [seq {a['seq']}]"
        )
    for d in ev["denials"]:
        why = " ".join(str(d.get("reason") or "").split())
        lines.append(f"  - denied {d.get('tool') or ''}: {why[:160]} [seq {d['seq']}]")
    for f in ev["flags"]:
        lines.append(f"- FLAG {f['flag']}: {f['reason']} [seq {f['seq']}]")
    model = ev.get("model") or {}
    if model.get("turns"):
        failed = f", {model['failed_turns']} failed" if model.get("failed_turns") else ""
        used = format_tokens(model.get("usage"))
        lines.append(
            f"- {_count(model['turns'], 'model turn')}{failed}"
            + (f": {used}" if used else ", no token usage reported")
        )
    return "\n".join(lines)
