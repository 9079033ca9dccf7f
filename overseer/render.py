"""Plain-text descriptions of events: one line each, for `overseer show`,
headless runs and the Markdown export. The TUI and HTML export build their
own richer views from the same events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from .report import format_counts, format_tokens


def clock(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).strftime("%H:%M:%S")


# Keys that name what a call is about come first in a one-line summary.
LEAD_KEYS = ("path", "pattern", "rev", "name", "url", "old", "new")
_FULL_SHA = re.compile(r"\b([0-9a-f]{12})[0-9a-f]{28}\b")
_HEX_REV = re.compile(r"[0-9a-f]{8,40}")


def short_rev(rev: Any) -> str:
    """A commit id as people write it (seven characters); a ref name as is."""
    text = str(rev)
    return text[:7] if _HEX_REV.fullmatch(text) else text


def _value(value: Any) -> str:
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            lines = value.rstrip("\n").count("\n") + 1
            return f"<{lines} lines, {len(value)} chars>"
        if value and " " not in value and len(value) <= 60:
            return value
        return _clip(json.dumps(value, ensure_ascii=False), 80)
    return _clip(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str), 80)


def _clip(text: str, limit: int) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def call_summary(tool: str, args: Any, limit: int = 200) -> str:
    """One line for a tool call, as a person reads it: the command (with the
    revision it runs at), a bisect range, the question asked, or the path
    first and the other args as ``key=value``. Multi-line values (file
    content) are summarised by size; empty and false values are left out.
    Unknown or misspelt keys are shown with their names, so a malformed
    call never reads like a valid one."""
    if not isinstance(args, dict):
        return _clip(json.dumps(args, ensure_ascii=False, default=str), limit)
    rest = dict(args)
    bits: list[str] = []
    command = args.get("command")
    if tool == "run_tests" and isinstance(command, str):
        rev = rest.pop("rev", None)
        bits.append(command + (f" @ {short_rev(rev)}" if rev else ""))
        rest.pop("command")
        rest.pop("timeout", None)
    elif tool == "bisect" and isinstance(args.get("test"), str) and args.get("good"):
        good, bad = rest.pop("good"), rest.pop("bad", None) or "HEAD"
        bits.append(f"{short_rev(good)}..{short_rev(bad)}: {rest.pop('test')}")
        rest.pop("step_timeout", None)
    elif tool == "ask_human" and isinstance(args.get("question"), str):
        question = str(rest.pop("question"))
        choices = rest.pop("choices", None)
        if isinstance(choices, list) and choices:
            question += " [" + " / ".join(map(str, choices)) + "]"
        bits.append(question)
    elif isinstance(command, str):
        bits.append(command)
        rest.pop("command")
        rest.pop("timeout", None)  # every shell call has one; the details show it
    if isinstance(rest.get("path"), str) and rest["path"]:
        bits.append(str(rest.pop("path")))

    def order(key: str) -> tuple[int, str]:
        return (LEAD_KEYS.index(key) if key in LEAD_KEYS else len(LEAD_KEYS), key)

    for key in sorted(rest, key=order):
        value = rest[key]
        if value is None or value is False or value == [] or value == {}:
            continue
        bits.append(f"{key}={_value(value)}")
    # Full commit ids are for the record; twelve characters name them here.
    return _clip(_FULL_SHA.sub(r"\1", "  ".join(bits)), limit)


def short_args(tool: str, args: Any, limit: int = 160) -> str:
    return call_summary(tool, args, limit)


def describe(kind: str, p: dict[str, Any]) -> str:
    """One human line for an event payload."""
    if kind == "session_started":
        model = f" model={p.get('model')}" if p.get("model") else ""
        return f"session started: {p.get('task', '')!r} agent={p.get('agent')}{model} policy={p.get('policy_name')} workspace={p.get('workspace')}"
    if kind == "model_turn":
        used = format_tokens(p.get("usage"))
        used = f" [{used}]" if used else ""
        if p.get("error"):
            error = " ".join(str(p["error"]).split())
            return f"model turn {p.get('turn')} failed: {error[:300]}{used}"
        calls = ", ".join(c.get("name", "?") for c in p.get("tool_calls", []))
        text = (p.get("text") or "").strip().replace("\n", " ")
        said = text[:200] or ("(no text)" if not calls else "")
        return (
            f"model turn {p.get('turn')}: {said}".rstrip()
            + (f" -> calls {calls}" if calls else "")
            + used
        )
    if kind == "action_proposed":
        return f"proposed {p.get('tool')}: {short_args(str(p.get('tool')), p.get('args'))} [{p.get('call_id')}]"
    if kind == "policy_decided":
        rule = f" by rule {p['rule']}" if p.get("rule") else ""
        return f"policy: {p.get('decision')}{rule}: {p.get('reason', '')}"
    if kind == "approval_requested":
        what = "question" if p.get("kind") == "question" else "approval"
        return f"waiting for {what} ({p.get('approver')}) on {p.get('tool')}: {short_args(str(p.get('tool')), p.get('args'))}"
    if kind == "approval_decided":
        reason = f": {p['reason']}" if p.get("reason") else ""
        return f"{p.get('decision')} by {p.get('by')}{reason}"
    if kind == "action_started":
        return f"running {p.get('tool')}: {short_args(str(p.get('tool')), p.get('args'))} (decided by {p.get('decided_by')}, sandbox {p.get('sandbox')})"
    if kind == "action_finished":
        code = f" exit {p['exit_code']}" if p.get("exit_code") is not None else ""
        raw = p.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        counts = format_counts(data) if p.get("tool") == "run_tests" else ""
        if counts:  # the tool's error would only repeat its own, shorter, count line
            err = f": {counts}" + (f" ({data['reason']})" if data.get("reason") else "")
        else:
            err = f": {p['error']}" if p.get("error") else ""
        return f"finished {p.get('tool')}: {p.get('status')}{code} in {p.get('duration_ms', 0)} ms{err}"
    if kind == "file_changed":
        by = f" by {p['call_id']}" if p.get("call_id") else " (no action running)"
        dest = f" -> {p['dest_path']}" if p.get("dest_path") else ""
        return f"file {p.get('change')}: {p.get('path')}{dest}{by}"
    if kind == "question_asked":
        choices = f" [{' / '.join(p['choices'])}]" if p.get("choices") else ""
        return f"agent asks: {p.get('question')}{choices}"
    if kind == "question_answered":
        return f"answered by {p.get('by')}: {p.get('answer')}"
    if kind == "user_message":
        return f"message from {p.get('by') or 'user'}: {p.get('text')}"
    if kind == "flag_raised":
        return f"FLAG {p.get('flag')}: {p.get('reason')} (evidence: seq {', '.join(map(str, p.get('evidence', [])))})"
    if kind == "grant_added":
        return f"grant {p.get('grant_id')} added by {p.get('by')}: {p.get('description')}"
    if kind == "grant_revoked":
        return f"grant {p.get('grant_id')} revoked by {p.get('by')}"
    if kind == "seal":
        return f"sealed at seq {p.get('seq')}"
    if kind == "session_ended":
        return f"session ended: {p.get('status')}" + ended_reason(p) + _ended_tokens(p)
    if kind == "notice":
        return f"note [{p.get('topic')}]: {p.get('message')}"
    return f"{kind}: {json.dumps(p, sort_keys=True)[:200]}"


def ended_reason(p: dict[str, Any]) -> str:
    """Why a session ended other than completed: the error, or the final
    report's first line (an agent that failed says why there)."""
    why = str(p.get("error") or "")
    if not why and p.get("status") not in ("completed", None):
        why = next((ln for ln in str(p.get("final") or "").splitlines() if ln.strip()), "")
    why = " ".join(why.split())
    return f" ({why[:300]})" if why else ""


def _ended_tokens(p: dict[str, Any]) -> str:
    raw = p.get("summary")
    summary: dict[str, Any] = raw if isinstance(raw, dict) else {}
    usage = summary.get("usage")
    if not isinstance(usage, dict):
        model = (summary.get("evidence") or {}).get("model") or {}
        usage = model.get("usage") if isinstance(model, dict) else None
    used = format_tokens(usage)
    return f"; {used} in all" if used else ""


def unfinished_actions(
    events: list[tuple[int, str, dict[str, Any]]],
) -> list[tuple[int, dict[str, Any]]]:
    """Actions that started but have no action_finished: their outcome is unknown."""
    started: dict[str, tuple[int, dict[str, Any]]] = {}
    for seq, kind, p in events:
        if kind == "action_started":
            started[str(p.get("call_id"))] = (seq, p)
        elif kind == "action_finished":
            started.pop(str(p.get("call_id")), None)
    return list(started.values())
