"""Choose which event kinds the replay timeline shows."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection


class FilterScreen(ModalScreen[set[str] | None]):
    """A checklist of kinds with their counts. ``enter`` applies, ``escape``
    cancels, ``a`` selects all or none."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "apply", "Apply", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("a", "toggle_all", "All/none"),
    ]

    DEFAULT_CSS = """
    FilterScreen { align: center middle; }
    FilterScreen #box { width: 60; height: auto; max-height: 90%; border: thick $primary; background: $surface; padding: 0 1; }
    FilterScreen SelectionList { height: auto; max-height: 24; }
    FilterScreen #hint { color: $text-muted; }
    """

    def __init__(self, counts: dict[str, int], shown: set[str] | None) -> None:
        super().__init__()
        self.counts = counts
        self.shown = set(counts) if shown is None else set(shown)

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Static("Show these kinds of event", classes="title")
            yield SelectionList[str](
                *[
                    Selection(f"{kind}  ({n:,})", kind, kind in self.shown)
                    for kind, n in sorted(self.counts.items())
                ],
                id="kinds",
            )
            yield Static("space toggle   a all/none   enter apply   esc cancel", id="hint")

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()

    @on(SelectionList.SelectedChanged)
    def _changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        self.shown = set(event.selection_list.selected)

    def action_toggle_all(self) -> None:
        selection = self.query_one(SelectionList)
        if len(selection.selected) == len(self.counts):
            selection.deselect_all()
        else:
            selection.select_all()

    def action_apply(self) -> None:
        self.dismiss(set(self.query_one(SelectionList).selected))

    def action_cancel(self) -> None:
        self.dismiss(None)
