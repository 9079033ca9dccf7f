"""Rich renderables shared by the live app, the dialogs and the replay app.

Everything that turns a payload into something to look at lives here, so the
approval dialog, the transcript and the replay detail pane show a command,
a diff or a decision the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from overseer.events import PartDecision
from overseer.render import call_summary

THEME = "ansi_dark"  # follows the terminal's palette; readable on dark and light

STATUS_MARKS: dict[str, tuple[str, str]] = {
    # status -> (mark, style)
    "proposed": ("·", "dim"),
    "waiting": ("?", "bold yellow"),
    "running": ("▶", "bold cyan"),
    "ok": ("✓", "bold green"),
    "failed": ("✗", "bold red"),
    "error": ("✗", "bold red"),
    "timeout": ("⏱", "bold red"),
    "denied": ("⊘", "bold magenta"),
    "edited": ("✎", "bold blue"),
    "invalid": ("!", "bold red"),
    "terminated": ("■", "bold red"),
}

DECISION_STYLES = {"allow": "green", "ask": "yellow", "deny": "red"}
CHOICE_STYLES = {
    "approve": "green",
    "always": "green",
    "edit": "blue",
    "deny": "red",
    "terminate": "bold red",
}


def status_mark(status: str) -> Text:
    mark, style = STATUS_MARKS.get(status, ("·", "dim"))
    return Text(mark, style=style)


def command_text(tool: str, args: Any) -> str:
    """What will run, as a person reads it: the command for shell-like
    tools, otherwise the canonical args as indented JSON."""
    if isinstance(args, dict) and isinstance(args.get("command"), str):
        return str(args["command"])
    return json.dumps(args, indent=2, sort_keys=True, ensure_ascii=False)


def is_commandish(tool: str, args: Any) -> bool:
    return isinstance(args, dict) and isinstance(args.get("command"), str)


def other_args(args: Any) -> dict[str, Any]:
    """The args besides ``command`` (a shell timeout...), shown under it."""
    if not isinstance(args, dict):
        return {}
    return {k: v for k, v in args.items() if k != "command"}


def duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def compact_args(tool: str, args: Any, limit: int = 200) -> str:
    """One line for a call (the same words as the headless log and the
    replay timeline): the command and the revision it runs at, a bisect
    range, the question, or the path first; then the other args."""
    return call_summary(tool, args, limit)


def code(text: str, lexer: str, *, line_numbers: bool = False) -> Syntax:
    return Syntax(
        text,
        lexer,
        theme=THEME,
        word_wrap=True,
        line_numbers=line_numbers,
        background_color=None,  # no fill: the widget's own background shows through
    )


def looks_like_diff(text: str) -> bool:
    head = text.lstrip()[:200]
    return head.startswith(("--- ", "diff ", "@@ ", "+++ ", "Index: "))


def preview_renderable(text: str) -> RenderableType:
    """A tool's preview: a diff is syntax-highlighted as one."""
    return code(text, "diff" if looks_like_diff(text) else "text")


def args_renderable(tool: str, args: Any) -> RenderableType:
    """The exact command or args that will run, highlighted."""
    if is_commandish(tool, args):
        items: list[RenderableType] = [code(str(args["command"]), "bash")]
        extra = other_args(args)
        if extra:
            items.append(Text(json.dumps(extra, sort_keys=True), style="dim"))
        return Group(*items)
    return code(command_text(tool, args), "json")


def decision_text(decision: str) -> Text:
    return Text(decision, style=DECISION_STYLES.get(decision, CHOICE_STYLES.get(decision, "")))


def parts_table(parts: Iterable[PartDecision | dict[str, Any]]) -> Table:
    """Each part of a compound shell command with its own decision."""
    table = Table(box=None, show_header=True, header_style="bold dim", pad_edge=False, expand=True)
    table.add_column("part", ratio=3, overflow="fold")
    table.add_column("decision", width=8, no_wrap=True)
    table.add_column("rule", ratio=2, overflow="fold")
    table.add_column("reason", ratio=4, overflow="fold")
    for raw in parts:
        part = raw if isinstance(raw, PartDecision) else PartDecision.model_validate(raw)
        rule = part.rule or "default"
        if part.hard:
            rule += " (no grant)"
        table.add_row(
            Text(part.command), decision_text(part.decision), Text(rule, style="dim"), part.reason
        )
    return table


def countdown(seconds: float) -> str:
    """``9:05`` style; ``1:02:03`` past an hour; never negative."""
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02}:{sec:02}" if h else f"{m}:{sec:02}"


def short(text: str, limit: int) -> str:
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def evidence_renderable(final: str, evidence_text: str, status: str) -> RenderableType:
    """The final report: the agent's words, then what the log says."""
    style = {"completed": "bold green", "terminated": "bold red", "failed": "bold red"}.get(
        status, "bold yellow"
    )
    items: list[RenderableType] = [Text(f"Run {status}", style=style)]
    if final.strip():
        items += [Text(""), Text(final.strip())]
    items += [Text(""), Text(evidence_text, style="")]
    return Group(*items)
