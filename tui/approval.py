"""The approval dialog: one ``ask`` from the policy, decided by a person.

It shows exactly what will run (the canonical args the broker hashed), the
policy's decision part by part for shell commands, the tool's preview (a diff
is highlighted as one), the sandbox, and a countdown to the automatic deny.
When the call's commands would run with no sandbox (``--sandbox none``, or
``auto`` fell back), a warning in the error colour sits under the title.
It dismisses with an ``ApprovalDecision`` — or ``None`` when the person
presses ``escape`` to look at the session first (the request stays queued).

Keys: ``y`` approve, ``n`` deny (then a reason, sent to the agent), ``e``
edit (JSON, or the command text for shell; the broker re-checks the edit
against the policy), ``a`` always allow similar (only when the broker offered
a narrow grant, shown verbatim), ``t`` terminate the session.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from overseer.approval import ApprovalDecision, ApprovalRequest, no_sandbox_warning

from .views import (
    args_renderable,
    compact_args,
    countdown,
    decision_text,
    parts_table,
    preview_renderable,
    short,
)

Mode = Literal["choose", "deny", "edit"]


def waiting_line(others: list[str]) -> Text:
    """The queue behind this request, so the person sees it is not the last."""
    if not others:
        return Text("")
    text = Text(f"{len(others)} more waiting: ", style="bold yellow")
    text.append(" · ".join(others[:4]) + (" …" if len(others) > 4 else ""), style="yellow")
    return text


class RequestScreen(ModalScreen[ApprovalDecision | None]):
    """What the approval and question dialogs share: the request, who answers,
    the queue behind it, and closing when the request stops waiting."""

    def __init__(
        self, request: ApprovalRequest, *, by: str = "", waiting: list[str] | None = None
    ) -> None:
        super().__init__()
        self.request = request
        self.by = by
        self.withdrawn = False
        self._waiting = list(waiting or [])

    def _queue(self) -> Static:
        return Static(
            waiting_line(self._waiting), id="queue", classes="some" if self._waiting else ""
        )

    def withdraw(self) -> None:
        """The request stopped waiting (decided elsewhere, timed out): close
        now, or as soon as this dialog is on top again (a palette may cover it)."""
        self.withdrawn = True
        if self.app.screen is self:
            self.dismiss(None)

    def on_screen_resume(self) -> None:
        if self.withdrawn:
            self.dismiss(None)

    def set_waiting(self, others: list[str]) -> None:
        self._waiting = list(others)
        if self.is_mounted:
            queue = self.query_one("#queue", Static)
            queue.update(waiting_line(self._waiting))
            queue.set_class(bool(self._waiting), "some")


class ApprovalScreen(RequestScreen):
    """Decide one request. ``clock`` is injectable so snapshots do not drift."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "approve", "Approve"),
        Binding("n", "deny", "Deny…"),
        Binding("e", "edit", "Edit…"),
        Binding("a", "always", "Always"),
        Binding("t", "terminate", "Terminate"),
        Binding("escape", "back", "Later / back"),
        Binding("ctrl+s", "submit_edit", "Run edit", show=False),
    ]

    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; }
    ApprovalScreen #dialog {
        width: 96%; max-width: 140; height: auto; max-height: 96%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ApprovalScreen #title { text-style: bold; color: $warning; }
    ApprovalScreen .label { color: $text-muted; text-style: bold; margin-top: 1; }
    ApprovalScreen #body { height: auto; max-height: 60vh; }
    ApprovalScreen.-deny #body { max-height: 45vh; }
    ApprovalScreen.-edit #body { max-height: 35vh; }
    ApprovalScreen #command { padding: 0 1; background: $boost; }
    ApprovalScreen #preview { padding: 0 1; background: $boost; height: auto; }
    ApprovalScreen #meta { margin-top: 1; }
    ApprovalScreen #nosandbox {
        margin-top: 1; padding: 0 1; background: $error; color: $text; text-style: bold;
    }
    ApprovalScreen #grant { color: $success; }
    ApprovalScreen #grant.none { color: $text-muted; }
    ApprovalScreen #queue { height: auto; display: none; }
    ApprovalScreen #queue.some { display: block; }
    ApprovalScreen #reason, ApprovalScreen #edit-line { display: none; margin-top: 1; }
    ApprovalScreen #edit-label { display: none; }
    ApprovalScreen.-edit #edit-label { display: block; }
    ApprovalScreen.-edit #edit-line { margin-top: 0; }
    ApprovalScreen.-edit #edit-area { margin-top: 0; }
    ApprovalScreen #edit-area { display: none; height: 8; margin-top: 1; }
    ApprovalScreen #error { color: $error; height: auto; display: none; }
    ApprovalScreen #error.shown { display: block; }
    ApprovalScreen #keys { margin-top: 1; color: $text; background: $boost; padding: 0 1; }
    """

    def __init__(
        self,
        request: ApprovalRequest,
        *,
        by: str = "",
        waiting: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        quit_hint: str = "quit (denies)",
    ) -> None:
        super().__init__(request, by=by, waiting=waiting)
        self.clock = clock
        self.quit_hint = quit_hint
        self.mode: Mode = "choose"

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        req = self.request
        with Vertical(id="dialog"):
            yield Static(self._title(), id="title")
            if req.unsandboxed:
                # Above the scrolling body: the person cannot miss it.
                yield Static(no_sandbox_warning(req.unsandboxed), id="nosandbox")
            with VerticalScroll(id="body"):
                yield Static("Will run", classes="label")
                yield Static(args_renderable(req.tool, req.args), id="command")
                yield Static("Policy", classes="label")
                yield Static(self._policy_line(), id="policy")
                if req.parts:
                    yield Static(parts_table(req.parts), id="parts")
                if self._preview_text():
                    yield Static("Preview", classes="label")
                    yield Static(preview_renderable(self._preview_text()), id="preview")
                yield Static(self._meta(), id="meta")
                yield Static(
                    self._grant_line(), id="grant", classes="" if req.grant_preview else "none"
                )
            yield self._queue()
            yield Input(
                placeholder="Why not? (sent to the agent) — enter to deny, esc to go back",
                id="reason",
            )
            yield Static(
                "Your edit — the command that will run instead"
                if self._edit_is_line()
                else "Your edit — the args as JSON, run instead of the above",
                id="edit-label",
                classes="label",
            )
            yield Input(id="edit-line")
            yield TextArea(id="edit-area", soft_wrap=True)
            yield Static("", id="error")
            yield Static(self._keys(), id="keys")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        # Arrow keys and page up/down scroll a long preview; letters stay the dialog's.
        self.query_one("#body").focus()

    def _title(self) -> Text:
        req = self.request
        title = Text("Approval needed", style="bold")
        title.append(f" — {req.tool}", style="bold")
        title.append(f"   call {req.call_id}", style="dim")
        return title

    def _policy_line(self) -> Text:
        req = self.request
        line = decision_text(req.decision)
        line.append(f"  by {req.rule or 'the default rule'}", style="dim")
        if req.reason:
            line.append(f": {req.reason}")
        return line

    def _preview_text(self) -> str:
        """The preview, unless it only repeats the command (shell's does)."""
        preview = (self.request.preview or "").rstrip()
        command = self.request.args.get("command") if isinstance(self.request.args, dict) else None
        if not preview or (isinstance(command, str) and preview == command.rstrip()):
            return ""
        return preview

    def _meta(self) -> Text:
        req = self.request
        left = req.deadline - self.clock() if req.deadline else req.timeout_s
        text = Text("sandbox ", style="dim")
        text.append(req.sandbox, style="bold")
        text.append("   auto-deny in ", style="dim")
        text.append(countdown(left), style="bold red" if left < 60 else "bold")
        return text

    def _grant_line(self) -> Text:
        if self.request.grant_preview:
            return Text(f"[a] always would add: {self.request.grant_preview}")
        return Text("[a] always: not offered for this call (no narrow rule covers it safely)")

    def _keys(self) -> Text:
        if self.mode == "deny":
            return Text("enter deny with this reason   esc back")
        if self.mode == "edit":
            submit = "enter" if self._edit_is_line() else "ctrl+s"
            return Text(f"{submit} run the edited call (re-checked by the policy)   esc back")
        keys = Text()
        for key, label, style in (
            ("y", "approve", "green"),
            ("n", "deny…", "red"),
            ("e", "edit…", "blue"),
            ("a", "always", "green" if self.request.grant_preview else "dim"),
            ("t", "terminate", "red"),
            ("esc", "later", "dim"),
            ("ctrl+q", self.quit_hint, "dim"),
        ):
            keys.append(f" {key} ", style=f"reverse {style}")
            keys.append(f" {label}   ")
        return keys

    # -- updates from the app -----------------------------------------------------

    def _tick(self) -> None:
        self.query_one("#meta", Static).update(self._meta())

    # -- modes -----------------------------------------------------------------

    def _set_mode(self, mode: Mode) -> None:
        self.mode = mode
        # The body gives up room to the input, so the keys stay on screen.
        self.set_class(mode == "deny", "-deny")
        self.set_class(mode == "edit", "-edit")
        reason = self.query_one("#reason", Input)
        line = self.query_one("#edit-line", Input)
        area = self.query_one("#edit-area", TextArea)
        reason.display = mode == "deny"
        line.display = mode == "edit" and self._edit_is_line()
        area.display = mode == "edit" and not self._edit_is_line()
        self._error("")
        self.query_one("#keys", Static).update(self._keys())
        # Focus after the refresh that makes the input visible: a hidden
        # widget cannot take focus.
        if mode == "deny":
            self.call_after_refresh(reason.focus)
        elif mode == "edit":
            self.call_after_refresh((line if self._edit_is_line() else area).focus)
        else:
            self.query_one("#body").focus()

    def _error(self, message: str) -> None:
        error = self.query_one("#error", Static)
        error.update(message)
        error.set_class(bool(message), "shown")

    def _edit_is_line(self) -> bool:
        """A one-line shell command is edited in a line; anything else as JSON."""
        command = self.request.args.get("command") if isinstance(self.request.args, dict) else None
        return isinstance(command, str) and "\n" not in command

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While typing a reason or an edit the letter keys belong to the input.
        if self.mode != "choose" and action in ("approve", "deny", "edit", "always", "terminate"):
            return False
        if action == "submit_edit":
            return self.mode == "edit"
        return True

    # -- actions ---------------------------------------------------------------

    def _decide(self, decision: str, **extra: Any) -> None:
        self.dismiss(
            ApprovalDecision(
                decision=decision,  # type: ignore[arg-type]
                by=self.by,
                args_hash=self.request.args_hash,
                **extra,
            )
        )

    def action_approve(self) -> None:
        self._decide("approve")

    def action_deny(self) -> None:
        self._set_mode("deny")

    def action_always(self) -> None:
        if not self.request.grant_preview:
            self._error(
                "No narrow rule exists for this call, so 'always' is not offered: approve it once with y."
            )
            return
        self._decide("always")

    def action_terminate(self) -> None:
        self._decide("terminate", reason="terminated by the person at the terminal")

    def action_edit(self) -> None:
        args = self.request.args
        if self._edit_is_line():
            self.query_one("#edit-line", Input).value = str(args["command"])
        elif isinstance(args, dict) and isinstance(args.get("command"), str):
            self.query_one("#edit-area", TextArea).text = str(args["command"])
        else:
            self.query_one("#edit-area", TextArea).text = json.dumps(args, indent=2, sort_keys=True)
        self._set_mode("edit")

    def action_back(self) -> None:
        if self.mode == "choose":
            self.dismiss(None)
        else:
            self._set_mode("choose")

    @on(Input.Submitted, "#reason")
    def _deny_with_reason(self, event: Input.Submitted) -> None:
        event.stop()
        self._decide("deny", reason=event.value.strip() or "denied by the person (no reason given)")

    @on(Input.Submitted, "#edit-line")
    def _edit_line_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit_edit(event.value)

    def action_submit_edit(self) -> None:
        self._submit_edit(self.query_one("#edit-area", TextArea).text)

    def _submit_edit(self, text: str) -> None:
        edited = self.parse_edit(self.request, text)
        if isinstance(edited, str):
            self._error(edited)
            return
        if edited == self.request.args:
            self._error("Nothing changed: press esc, then y to approve as is.")
            return
        self._decide("edit", edited_args=edited, reason="edited by the person")

    @staticmethod
    def parse_edit(req: ApprovalRequest, text: str) -> dict[str, Any] | str:
        """The edited args, or a message saying what is wrong with the text."""
        args = req.args if isinstance(req.args, dict) else {}
        if isinstance(args.get("command"), str):
            command = text.strip("\n")
            if not command.strip():
                return "The command is empty; press esc to go back."
            return {**args, "command": command}
        try:
            edited = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"Not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); fix it or press esc."
        if not isinstance(edited, dict):
            return "The arguments must be a JSON object ({...})."
        return edited


def request_label(req: ApprovalRequest) -> str:
    """A short name for a queued request: the tool and what it would do."""
    if req.kind == "question":
        return f"question: {short(req.question, 40)}"
    return f"{req.tool}: {compact_args(req.tool, req.args, 40)}"
