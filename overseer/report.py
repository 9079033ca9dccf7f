"""The evidence summary: what the log says happened, independent of what the
agent says. Appended to every final report, shown by the UI and exports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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
    for seq, kind, p in events:
        if kind == "action_proposed":
            tools[str(p.get("call_id"))] = str(p.get("tool"))
        elif kind == "action_finished":
            actions += 1
            data = p.get("data") or {}
            if p.get("tool") == "run_tests" and p.get("status") not in (
                "denied",
                "invalid",
                "edited",
                "terminated",
            ):
                tests.append(
                    {
                        "seq": seq,
                        "outcome": data.get("outcome", p.get("status")),
                        "command": data.get("command"),
                        "rev": data.get("rev"),
                        "passed": data.get("passed"),
                        "failed": data.get("failed"),
                    }
                )
            if p.get("tool") == "bisect" and isinstance(data.get("first_bad"), dict):
                bisects.append({"seq": seq, **data["first_bad"]})
            if p.get("tool") == "git_commit" and p.get("status") == "ok" and data.get("sha"):
                commits.append(str(data["sha"]))
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
        "approvals": approvals,
        "denials": denials,
        "flags": flags,
    }


def format_evidence(ev: dict[str, Any]) -> str:
    lines = ["Evidence from the audit log:"]
    if ev["test_runs"]:
        for t in ev["test_runs"]:
            counts = (
                f" ({t['passed']} passed, {t['failed']} failed)"
                if t.get("passed") is not None
                else ""
            )
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
    approved = [a for a in ev["approvals"] if a["decision"] in ("approve", "always", "edit")]
    lines.append(
        f"- {len(ev['approvals'])} approval decisions ({len(approved)} approved), {len(ev['denials'])} denied actions"
    )
    for a in ev["approvals"]:
        reason = f": {a['reason']}" if a.get("reason") else ""
        lines.append(
            f"  - {a['decision']} {a.get('tool') or ''} by {a['by']}{reason} [seq {a['seq']}]"
        )
    for f in ev["flags"]:
        lines.append(f"- FLAG {f['flag']}: {f['reason']} [seq {f['seq']}]")
    return "\n".join(lines)
