"""The transcript: the session as it happens, one entry per thing said or done.

Tool calls are one entry each, keyed by call id, whose status mark moves
through proposed -> waiting -> running -> ok/failed/denied as the log says;
their output is collapsed by default (enter or click expands it) and shows a
live tail while a shell command streams. Model text, questions, steering
messages, notices and flags are entries of their own.

The widget is fed only through ``apply(seq, kind, payload)`` and
``stream(call_id, text)``, called on the app's thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Collapsible, Static

from overseer.report import format_tokens

from .views import (
    CHOICE_STYLES,
    DECISION_STYLES,
    code,
    compact_args,
    duration,
    looks_like_diff,
    status_mark,
)

STREAM_KEEP = 8_000  # characters of streamed output kept for the live tail
TAIL_LINES = 6


@dataclass
class CallState:
    """Everything the log has said about one tool call so far."""

    call_id: str
    tool: str
    args: Any
    status: str = "proposed"
    notes: list[Text] = field(default_factory=list)
    output: str = ""
    output_size: int = 0
    truncated: bool = False
    exit_code: int | None = None
    duration_ms: int | None = None
    streamed: str = ""
    parent: str | None = None
    explained: bool = False  # a note already says why it did not run

    @property
    def finished(self) -> bool:
        return self.status not in ("proposed", "waiting", "running")


MIN_WHAT = 32  # cells of the call kept on the status line before the outcome moves below


class CallHead:
    """A call's status line: what was called, and on the right how it went.

    When the pane is too narrow for both, the outcome moves to a line of its
    own rather than squeezing the command to a few characters."""

    def __init__(self, what: Text, outcome: Text) -> None:
        self.what, self.outcome = what, outcome

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        room = width - self.outcome.cell_len - 2
        if room >= min(self.what.cell_len, MIN_WHAT):
            grid = Table.grid(expand=True, padding=(0, 0, 0, 2))
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
            grid.add_column(justify="right", no_wrap=True)
            grid.add_row(self.what, self.outcome)
            yield grid
            return
        what = self.what.copy()
        what.truncate(width, overflow="ellipsis")
        outcome = Text("  ").append_text(self.outcome)
        outcome.truncate(width, overflow="ellipsis")
        yield what
        yield outcome


class CallEntry(Vertical):
    """One tool call: a status line, its decision notes and its output."""

    DEFAULT_CSS = """
    CallEntry { height: auto; margin: 0 0 1 0; padding: 0 1; border-left: wide $primary-darken-2; }
    CallEntry.waiting { border-left: wide $warning; }
    CallEntry.running { border-left: wide $accent; }
    CallEntry.ok { border-left: wide $success-darken-2; }
    CallEntry.bad { border-left: wide $error; }
    CallEntry .notes { color: $text-muted; }
    CallEntry .tail { color: $text-muted; background: $boost; display: none; }
    CallEntry .tail.live { display: block; }
    CallEntry Collapsible { display: none; border: none; padding: 0; margin: 0; background: transparent; }
    CallEntry Collapsible.has-output { display: block; }
    CallEntry Collapsible Contents { padding: 0 0 0 2; }
    """

    def __init__(self, state: CallState) -> None:
        super().__init__(id=f"call-{_safe_id(state.call_id)}")
        self.state = state

    def compose(self) -> ComposeResult:
        yield Static(self._head(), classes="head")
        yield Static("", classes="notes")
        yield Static("", classes="tail")
        with Collapsible(title="output", collapsed=True):
            yield Static("", classes="output")

    def on_mount(self) -> None:
        self.refresh_state()

    def _head(self) -> CallHead:
        """One line: what was called (cut with an ellipsis), and on the right
        the call id and how it went."""
        s = self.state
        what = Text()
        what.append_text(status_mark(s.status))
        what.append(f" {s.tool}  ", style="bold")
        what.append(compact_args(s.tool, s.args))
        outcome = Text(f"[{s.call_id}]", style="dim")
        if s.status == "waiting":
            outcome.append("  waiting for you", style="bold yellow")
        elif s.status == "running":
            outcome.append("  running", style="cyan")
        elif s.finished:
            bits = [s.status]
            if s.exit_code is not None:
                bits.append(f"exit {s.exit_code}")
            if s.duration_ms is not None:
                bits.append(duration(s.duration_ms))
            outcome.append("  " + " · ".join(bits), style="dim")
        return CallHead(what, outcome)

    def refresh_state(self) -> None:
        s = self.state
        self.set_class(s.status == "waiting", "waiting")
        self.set_class(s.status == "running", "running")
        self.set_class(s.status == "ok", "ok")
        self.set_class(
            s.status in ("failed", "error", "timeout", "denied", "invalid", "terminated"), "bad"
        )
        self.query_one(".head", Static).update(self._head())
        notes = Text("\n").join(s.notes) if s.notes else Text("")
        self.query_one(".notes", Static).update(notes)
        tail = self.query_one(".tail", Static)
        live = s.status == "running" and bool(s.streamed)
        tail.set_class(live, "live")
        if live:
            tail.update(Text("\n".join(s.streamed.splitlines()[-TAIL_LINES:])))
        collapsible = self.query_one(Collapsible)
        has_output = s.finished and bool(s.output.strip())
        collapsible.set_class(has_output, "has-output")
        if has_output:
            lines = s.output.count("\n") + 1
            size = f", {s.output_size} chars" if s.output_size > len(s.output) else ""
            collapsible.title = f"output · {lines} line{'s' if lines != 1 else ''}{size}"
            body: RenderableType = (
                code(s.output, "diff") if looks_like_diff(s.output) else Text(s.output)
            )
            self.query_one(".output", Static).update(body)


class TextEntry(Static):
    """A line or paragraph from someone: the agent, you, a notice."""

    DEFAULT_CSS = """
    TextEntry { height: auto; margin: 0 0 1 0; padding: 0 1; }
    TextEntry.model { border-left: wide $secondary; }
    TextEntry.user { border-left: wide $success; }
    TextEntry.question { border-left: wide $accent; }
    TextEntry.notice { color: $text-muted; }
    TextEntry.flag { border-left: wide $error; background: $error 15%; }
    TextEntry.report { border: round $success; padding: 0 1; }
    TextEntry.report-bad { border: round $error; padding: 0 1; }
    """


def _safe_id(call_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in call_id)


def _who(label: str, style: str, text: str) -> Text:
    out = Text(label, style=style)
    out.append("  ")
    out.append(text)
    return out


class Transcript(VerticalScroll):
    """The scrolling record of the session. Stays at the bottom unless the
    person scrolls up to read."""

    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: dict[str, CallState] = {}
        self.entries: dict[str, CallEntry] = {}
        self.following = True  # keep the newest entry in view

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        # Scrolling up means the person is reading: stop following until
        # they come back to the bottom. Content shrinking (a live tail
        # folding away) also lowers scroll_y, but leaves it at the bottom.
        if new >= self.max_scroll_y - 1:
            self.following = True
        elif new < old - 0.5:
            self.following = False

    def _follow(self) -> None:
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    # -- feeding ---------------------------------------------------------------

    def _add(self, widget: Static | CallEntry) -> None:
        self.mount(widget)
        self._follow()

    def _say(self, classes: str, text: RenderableType) -> None:
        self._add(TextEntry(text, classes=classes))

    def _call(self, call_id: str) -> CallState | None:
        return self.calls.get(call_id)

    def _touch(self, call_id: str) -> None:
        entry = self.entries.get(call_id)
        if entry is not None and entry.is_mounted:
            entry.refresh_state()
            self._follow()

    def apply(self, seq: int, kind: str, p: dict[str, Any]) -> None:
        """Fold one log event into the transcript."""
        call_id = str(p.get("call_id") or "")
        state = self._call(call_id) if call_id else None
        if kind == "model_turn":
            text = str(p.get("text") or "").strip()
            used = format_tokens(p.get("usage"))
            if p.get("error"):
                line = _who("agent", "bold magenta", "")
                line.append(f"model call failed: {p['error']}", style="bold red")
                self._say("model", line)
            elif text:
                line = _who("agent", "bold magenta", text)
                if used:
                    line.append(f"  ({used})", style="dim")
                self._say("model", line)
        elif kind == "action_proposed":
            state = CallState(call_id=call_id, tool=str(p.get("tool")), args=p.get("args"))
            parent = p.get("parent_call_id")
            if parent:
                state.parent = str(parent)
                state.notes.append(Text(f"edited from call {parent}", style="blue"))
            self.calls[call_id] = state
            entry = CallEntry(state)
            self.entries[call_id] = entry
            self._add(entry)
        elif state is not None and kind == "policy_decided":
            decision = str(p.get("decision"))
            note = Text("policy ", style="dim")
            note.append(decision, style=DECISION_STYLES.get(decision, ""))
            note.append(
                f" by {p.get('rule') or 'default'}"
                + (f": {p['reason']}" if p.get("reason") else "")
            )
            state.notes.append(note)
            if decision == "ask":
                state.status = "waiting"
            state.explained = decision == "deny"
        elif state is not None and kind == "approval_requested":
            state.status = "waiting"
        elif state is not None and kind == "approval_decided":
            choice = str(p.get("decision"))
            note = Text(choice, style=CHOICE_STYLES.get(choice, ""))
            note.append(f" by {p.get('by')}")
            if p.get("reason"):
                note.append(f": {p['reason']}")
            if p.get("grant_id"):
                note.append(f" (grant {p['grant_id']})", style="green")
            state.notes.append(note)
            state.status = "proposed"
            state.explained = choice in ("deny", "terminate", "edit")
        elif state is not None and kind == "action_started":
            state.status = "running"
            decided = str(p.get("decided_by") or "")
            if decided.startswith("grant:"):
                state.notes.append(Text(f"allowed by {decided}", style="green"))
        elif state is not None and kind == "action_finished":
            state.status = str(p.get("status"))
            state.output = str(p.get("output") or "")
            state.output_size = int(p.get("output_size") or 0)
            state.truncated = bool(p.get("truncated"))
            state.exit_code = p.get("exit_code")
            state.duration_ms = (
                p.get("duration_ms") if state.status not in ("denied", "edited") else None
            )
            if state.status in ("denied", "invalid", "terminated", "edited"):
                if p.get("error") and not state.explained:
                    state.notes.append(Text(str(p["error"]), style="magenta"))
                state.output = ""
        elif kind == "question_asked":
            asked = Text("agent asks", style="bold cyan")
            asked.append("  " + str(p.get("question")))
            if p.get("choices"):
                asked.append("\n" + " / ".join(map(str, p["choices"])), style="dim")
            self._say("question", asked)
        elif kind == "question_answered":
            self._say(
                "question", _who(f"answer ({p.get('by')})", "bold cyan", str(p.get("answer")))
            )
        elif kind == "user_message":
            self._say("user", _who(str(p.get("by") or "you"), "bold green", str(p.get("text"))))
        elif kind == "flag_raised":
            flag = Text(f"FLAG {p.get('flag')}", style="bold red")
            flag.append("  " + str(p.get("reason")))
            self._say("flag", flag)
        elif kind == "notice":
            self._say("notice", Text(f"note [{p.get('topic')}] {p.get('message')}"))
        elif kind == "grant_added":
            self._say(
                "notice",
                Text(f"grant {p.get('grant_id')} added by {p.get('by')}: {p.get('description')}"),
            )
        elif kind == "grant_revoked":
            self._say("notice", Text(f"grant {p.get('grant_id')} revoked by {p.get('by')}"))
        elif kind == "file_changed" and state is not None:
            change = str(p.get("change"))
            what = f"moved {p.get('path')}" if change == "ref" else f"{change} {p.get('path')}"
            state.notes.append(Text(what, style="dim cyan"))
        if call_id:
            self._touch(call_id)

    def stream(self, call_id: str, text: str) -> None:
        state = self._call(call_id)
        if state is None:
            return
        state.streamed = (state.streamed + text)[-STREAM_KEEP:]
        self._touch(call_id)

    def show_report(self, body: RenderableType, ok: bool) -> None:
        self._say("report" if ok else "report-bad", body)

    def waiting_calls(self) -> list[str]:
        return [c for c, s in self.calls.items() if s.status == "waiting"]
