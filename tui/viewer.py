"""A read-only dialog for one long thing: a file's diff, a call's full
output, the final report. ``escape`` or ``q`` closes it."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class ViewerScreen(ModalScreen[None]):
    """Show ``body`` under ``title`` in a scrollable box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q", "close_or_quit", "Close", show=False),
    ]

    DEFAULT_CSS = """
    ViewerScreen { align: center middle; }
    ViewerScreen #box {
        width: 94%; height: auto; max-height: 94%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    ViewerScreen #box.report { border: thick $success; }
    ViewerScreen #box.report-bad { border: thick $error; }
    ViewerScreen #title { text-style: bold; }
    ViewerScreen #scroll { height: auto; max-height: 80vh; }
    ViewerScreen #hint { color: $text-muted; }
    """

    def __init__(
        self, title: str, body: RenderableType, *, kind: str = "", hint: str = "esc close"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.kind = kind
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="box", classes=self.kind):
            yield Static(self.title_text, id="title", markup=False)
            with VerticalScroll(id="scroll"):
                yield Static(self.body, id="body")
            yield Static(self.hint, id="hint")

    def on_mount(self) -> None:
        # query, not query_one: a viewer pushed while the app is closing (the
        # report arriving as the person quits) may be mounted without children.
        for scroll in self.query("#scroll"):
            scroll.focus()

    def action_close(self) -> None:
        self.dismiss(None)

    async def action_close_or_quit(self) -> None:
        # On the final report "q" ends the session's UI, as on the main screen.
        if self.kind.startswith("report"):
            self.dismiss(None)
            await self.app.run_action("quit")
        else:
            self.dismiss(None)
