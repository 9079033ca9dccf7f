"""The replay timeline: one line per event, for sessions of any size.

A Line API widget (``ScrollView`` + ``render_line``): it mounts nothing per
event and renders only the lines on screen, asking the ``EventIndex`` for the
summaries of exactly those rows (one query per screenful, cached). Moving the
cursor is O(1) whatever the session's length, so jumping to the end of a
100k-event session costs one screenful.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from overseer.render import clock

from .index import EventIndex

KIND_STYLES: dict[str, str] = {
    "session_started": "bold cyan",
    "session_ended": "bold cyan",
    "model_turn": "magenta",
    "action_proposed": "",
    "policy_decided": "dim",
    "approval_requested": "bold yellow",
    "approval_decided": "bold yellow",
    "action_started": "cyan",
    "action_finished": "green",
    "file_changed": "blue",
    "question_asked": "bold cyan",
    "question_answered": "bold cyan",
    "user_message": "bold green",
    "flag_raised": "bold red",
    "grant_added": "green",
    "grant_revoked": "yellow",
    "seal": "dim",
    "notice": "dim",
}


@lru_cache(maxsize=64)
def _style(text: str) -> Style:
    return Style.parse(text)


MARK_GLYPHS: dict[str, tuple[str, str]] = {
    "approval_requested": ("◇", "yellow"),
    "approval_decided": ("◆", "bold green"),
    "question_asked": ("?", "bold cyan"),
    "flag_raised": ("⚑", "bold red"),
}


class Timeline(ScrollView, can_focus=True):
    """Rows of the index (all, or a filtered subset), with a cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--cursor",
        "timeline--match",
        "timeline--broken",
        "timeline--dim",
    }

    DEFAULT_CSS = """
    Timeline { overflow-x: hidden; overflow-y: scroll; }
    Timeline > .timeline--cursor { background: $accent 40%; text-style: bold; }
    Timeline:focus > .timeline--cursor { background: $accent 70%; }
    Timeline > .timeline--match { background: $warning 25%; }
    Timeline > .timeline--broken { background: $error 60%; text-style: bold; }
    Timeline > .timeline--dim { color: $text-muted; }
    """

    class Moved(Message):
        """The cursor moved to a new event. Handler: ``on_timeline_moved``."""

        def __init__(self, timeline: Timeline, row: int, seq: int) -> None:
            super().__init__()
            self.timeline, self.row, self.seq = timeline, row, seq

        @property
        def control(self) -> Timeline:
            return self.timeline

    def __init__(self, index: EventIndex, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.rows: list[int] | None = None  # positions in the index; None = every event
        self.cursor = 0
        self.matches: set[int] = set()  # seqs found by the last search
        self.broken_seq: int | None = None
        self.rendered_at = 0.0  # monotonic time of the last paint, for the benchmark
        self._mark_set: set[int] = set()

    # -- rows -----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.index) if self.rows is None else len(self.rows)

    def position(self, row: int) -> int:
        return row if self.rows is None else self.rows[row]

    def seq_at(self, row: int) -> int:
        return self.index.seqs[self.position(row)]

    @property
    def current_seq(self) -> int | None:
        return self.seq_at(self.cursor) if self.row_count else None

    def row_of_seq(self, seq: int) -> int:
        """The row showing ``seq``, or the nearest row after it."""
        pos = self.index.position(seq)
        if self.rows is None:
            return min(pos, max(0, self.row_count - 1))
        import bisect

        return min(bisect.bisect_left(self.rows, pos), max(0, self.row_count - 1))

    def set_rows(self, rows: list[int] | None) -> None:
        """Show only these index positions (None: all); keeps the cursor on the
        same event, or the nearest one after it."""
        current = self.current_seq
        self.rows = rows
        self._sync_size()
        self.cursor = 0
        if current is not None and self.row_count:
            self.cursor = self.row_of_seq(current)
        self.move_to(self.cursor, force=True)

    def _sync_size(self) -> None:
        self.virtual_size = Size(max(1, self.size.width), self.row_count)

    def on_mount(self) -> None:
        self._sync_size()

    def on_resize(self, _event: events.Resize) -> None:
        self._sync_size()
        self._keep_cursor_visible()

    # -- cursor ---------------------------------------------------------------

    def move_to(self, row: int, *, force: bool = False) -> None:
        if not self.row_count:
            self.refresh()
            return
        row = max(0, min(row, self.row_count - 1))
        if row == self.cursor and not force:
            return
        self.cursor = row
        self._keep_cursor_visible()
        self.refresh()
        self.post_message(self.Moved(self, row, self.seq_at(row)))

    def _keep_cursor_visible(self) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        if self.cursor < top:
            top = self.cursor
        elif self.cursor >= top + height:
            top = self.cursor - height + 1
        if top != int(self.scroll_y):
            self.scroll_to(y=top, animate=False, immediate=True)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_edge(self, end: int) -> None:
        self.move_to(self.row_count - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        self.move_to(int(self.scroll_y) + event.y)

    # -- rendering ------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        # One query for the summaries of every row about to be drawn.
        top = int(self.scroll_y) + crop.y
        last = min(self.row_count, top + crop.height)
        if top < last:
            self.index.summaries(self.seq_at(r) for r in range(top, last))
        strips = super().render_lines(crop)
        self.rendered_at = time.monotonic()
        return strips

    def _marker(self, row: int, seq: int, kind: str) -> tuple[str, str]:
        """The glyph before a row: the cursor, a break, or what kind of mark."""
        if row == self.cursor:
            return "▶", "bold"
        if seq == self.broken_seq:
            return "✗", "bold red"
        if self.index.marks_loaded and seq in self._mark_set:
            if seq in self.index.denials:
                return "⊘", "bold magenta"
            return MARK_GLYPHS.get(kind, ("◆", "yellow"))
        return " ", ""

    def load_marks(self) -> None:
        """Compute the approval/denial/flag marks (one query) and show them."""
        self._mark_set = set(self.index.marks())
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_y) + y
        base = self.rich_style
        if row >= self.row_count:
            return Strip.blank(width, base)
        pos = self.position(row)
        seq = self.index.seqs[pos]
        kind = self.index.kinds[pos]
        summary = self.index.summaries((seq,))[seq]
        if seq == self.broken_seq:
            line_style = self.get_component_rich_style("timeline--broken")
        elif row == self.cursor:
            line_style = self.get_component_rich_style("timeline--cursor")
        elif seq in self.matches:
            line_style = self.get_component_rich_style("timeline--match")
        else:
            line_style = Style()
        dim = self.get_component_rich_style("timeline--dim")
        marker, marker_style = self._marker(row, seq, kind)
        segments = [
            Segment(marker, base + _style(marker_style) + line_style),
            Segment(f"{seq:>7} ", base + line_style),
            Segment(f"{clock(self.index.ts[pos])} ", base + dim + line_style),
            Segment(f"{kind:<19}", base + _style(KIND_STYLES.get(kind, "")) + line_style),
            Segment(f"{summary} ", base + line_style),
        ]
        strip = Strip(segments).crop(0, width)
        return strip.extend_cell_length(width, base + line_style)
