"""The agent's ``ask_human`` question, answered in the same place as approvals.

Type an answer and press enter, or — when the agent offered choices — pick
one (arrow keys and enter, or its number); typing a letter on the choices
starts a free answer. ``escape`` leaves it waiting;
``ctrl+t`` terminates the session instead of answering.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Key
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from overseer.approval import ApprovalDecision

from .approval import RequestScreen


class QuestionScreen(RequestScreen):
    """Answer one question from the agent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Later"),
        Binding("ctrl+t", "terminate", "Terminate"),
    ]

    DEFAULT_CSS = """
    QuestionScreen { align: center middle; }
    QuestionScreen #dialog {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    QuestionScreen #title { text-style: bold; color: $accent; }
    QuestionScreen #question { margin: 1 0; text-style: bold; }
    QuestionScreen OptionList { height: auto; max-height: 12; }
    QuestionScreen #answer { margin-top: 1; }
    QuestionScreen #keys { margin-top: 1; color: $text-muted; }
    QuestionScreen #queue { display: none; height: auto; }
    QuestionScreen #queue.some { display: block; }
    """

    def compose(self) -> ComposeResult:
        req = self.request
        with Vertical(id="dialog"):
            title = Text("The agent asks", style="bold")
            title.append(f"   call {req.call_id}", style="dim")
            yield Static(title, id="title")
            yield Static(req.question, id="question")
            if req.choices:
                yield OptionList(
                    *[
                        Option(f"{i}. {choice}", id=str(i - 1))
                        for i, choice in enumerate(req.choices, 1)
                    ],
                    id="choices",
                )
            placeholder = (
                "…or type another answer and press enter"
                if req.choices
                else "Type your answer and press enter"
            )
            yield Input(placeholder=placeholder, id="answer", select_on_focus=False)
            yield self._queue()
            keys = "enter answer   " + ("1-9 pick a choice   tab switch   " if req.choices else "")
            yield Static(keys + "esc later   ctrl+t terminate the session", id="keys")

    def on_mount(self) -> None:
        if self.request.choices:
            self.query_one(OptionList).highlighted = 0
            self.query_one(OptionList).focus()
        else:
            self.query_one("#answer", Input).focus()

    def _answer(self, text: str) -> None:
        self.dismiss(ApprovalDecision(decision="approve", by=self.by, answer=text))

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._answer(self.request.choices[int(event.option.id or 0)])

    @on(Input.Submitted, "#answer")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self._answer(event.value.strip())

    def on_key(self, event: Key) -> None:
        if not self.request.choices or isinstance(self.focused, Input):
            return
        char = event.character
        if not event.is_printable or not char:
            return
        if char.isdigit():
            # Digits pick a choice unless the person is typing a free answer.
            index = int(char) - 1
            if 0 <= index < len(self.request.choices):
                event.stop()
                self._answer(self.request.choices[index])
        elif char != " ":
            # Typing a word starts a free answer: it must not stay on the
            # highlighted choice, where enter would send that choice instead.
            event.stop()
            answer = self.query_one("#answer", Input)
            answer.focus()
            answer.insert_text_at_cursor(char)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_terminate(self) -> None:
        self.dismiss(
            ApprovalDecision(
                decision="terminate", by=self.by, reason="terminated instead of answering"
            )
        )
