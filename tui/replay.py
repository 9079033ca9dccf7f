"""The replay app: an auditor's read-only walk through a recorded session.

``overseer replay ID`` (a session in the audit DB) or ``overseer replay
FILE.jsonl`` (an export). A timeline of every event on the left, the
selected event's details, output, diff and the session's approvals on the
right, a verify badge on top that says whether the hash chain holds — and if
not, at which seq and what kind of break.

Keys: ``left``/``right`` step, ``[``/``]`` previous/next approval, denial,
question or flag, ``space`` play/pause, ``+``/``-`` speed, ``f`` filter by
event kind, ``/`` search commands, args and output (``n``/``N`` next/prev
match), ``home``/``end``, ``i``/``o``/``d``/``a`` the detail tabs, ``q`` quit.
Nothing here writes to the log.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Input, Static, TabbedContent

from overseer.log.verify import VerifyResult
from overseer.report import format_tokens

from .detail import EventDetail
from .filter import FilterScreen
from .index import EventIndex
from .timeline import Timeline

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # events per second
FRAME_S = 1 / 30  # play never redraws faster than this; faster speeds step several rows


def badge(result: VerifyResult | None, error: str | None = None) -> Text:
    """The verify badge: green when the chain holds, red naming the first break."""
    if error:
        return Text(f" cannot verify: {error} ", style="bold black on yellow")
    if result is None:
        return Text(" verifying chain… ", style="bold black on bright_black")
    if result.ok:
        sealed = f", sealed through seq {result.sealed_seq}" if result.sealed_seq else ", no seal"
        return Text(f" ✓ chain ok{sealed} ", style="bold black on green")
    return Text(
        f" ✗ chain BROKEN at seq {result.first_broken_seq}: {result.kind} ",
        style="bold white on red",
    )


class ReplayHeader(Static):
    """Session facts on the left, the verify badge on the right."""

    DEFAULT_CSS = """
    ReplayHeader { height: 3; background: $panel; padding: 0 1; border-bottom: solid $primary; }
    """

    def __init__(self, index: EventIndex, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.index = index
        self.verify: VerifyResult | None = None
        self.error: str | None = None

    def on_mount(self) -> None:
        self.draw()

    def set_verify(self, result: VerifyResult | None, error: str | None = None) -> None:
        self.verify, self.error = result, error
        self.draw()

    def draw(self) -> None:
        s = self.index.session
        line1 = Text("overseer replay ", style="bold")
        line1.append(f"session {self.index.session_id}", style="bold cyan")
        if s.get("task"):
            line1.append("  ·  " + str(s["task"]).replace("\n", " "), style="bold")
        line2 = Text(style="dim")
        used = self.index.usage()
        agent = str(s.get("agent") or "?") + (f" ({s['model']})" if s.get("model") else "")
        for label, value in (
            ("agent", agent),
            ("status", s.get("status") or "?"),
            ("events", f"{len(self.index):,}"),
            *([("tokens", format_tokens(used).removesuffix(" tokens"))] if used else []),
            ("started", s.get("started") or "?"),
            ("from", Path(self.index.source).name or "?"),
        ):
            line2.append(f"{label} ", style="dim")
            line2.append(str(value), style="")
            line2.append("   ")
        detail = Text("")
        if self.verify is not None and not self.verify.ok:
            detail = Text(self.verify.detail, style="red")
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True, max_width=70, overflow="ellipsis")
        grid.add_row(line1, badge(self.verify, self.error))
        grid.add_row(line2, detail)
        self.update(grid)


class ReplayApp(App[None]):
    """Read-only replay of one session from an ``EventIndex``."""

    CSS_PATH = "overseer.tcss"
    TITLE = "overseer replay"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "step(-1)", "Step back"),
        Binding("right", "step(1)", "Step"),
        Binding("left_square_bracket", "jump(-1)", "Prev mark", key_display="["),
        Binding("right_square_bracket", "jump(1)", "Next mark", key_display="]"),
        Binding("space", "play", "Play/pause"),
        Binding("plus,equals_sign", "speed(1)", "Faster", key_display="+"),
        Binding("minus", "speed(-1)", "Slower", key_display="-"),
        Binding("f", "filter", "Filter"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_match(1)", "Next match", show=False),
        Binding("N", "next_match(-1)", "Prev match", show=False),
        Binding("home", "edge(0)", "First", show=False),
        Binding("end", "edge(1)", "Last", show=False),
        Binding("i", "tab('tab-details')", "Details", show=False),
        Binding("o", "tab('tab-output')", "Output", show=False),
        Binding("d", "tab('tab-diff')", "Diff", show=False),
        Binding("a", "tab('tab-approvals')", "Approvals", show=False),
        Binding("escape", "close_search", "Close search", show=False),
        Binding("q", "quit", "Quit"),
    ]

    class Verified(Message):
        """The background verify finished. Handler: ``on_replay_app_verified``."""

        def __init__(self, result: VerifyResult | None, error: str | None) -> None:
            super().__init__()
            self.result, self.error = result, error

    def __init__(
        self, index: EventIndex, *, verify: bool = True, detail_delay: float = 0.05
    ) -> None:
        super().__init__()
        self.index = index
        self.verify_enabled = verify
        self.detail_delay = detail_delay
        self.kinds_shown: set[str] | None = None  # None: every kind
        self.matches: list[int] = []
        self.query_text = ""
        self.playing = False
        self.speed_i = SPEEDS.index(10)
        self.verify_result: VerifyResult | None = None
        self._play_timer: Timer | None = None
        self._detail_timer: Timer | None = None

    @classmethod
    def open(cls, source: str | Path, *, log_path: Path | None = None, **kwargs: Any) -> ReplayApp:
        """``source`` is a ``.jsonl`` export or a session id (prefix) in ``log_path``."""
        path = Path(source)
        if path.suffix == ".jsonl" or (path.is_file() and log_path is None):
            return cls(EventIndex.from_jsonl(path), **kwargs)
        if log_path is None:
            from overseer.paths import default_log_path

            log_path = default_log_path()
        return cls(EventIndex.from_db(log_path, str(source)), **kwargs)

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ReplayHeader(self.index, id="replay-header")
        with Horizontal(id="replay-main"):
            yield Timeline(self.index, id="timeline")
            yield EventDetail(self.index, id="detail")
        yield Static("", id="replay-bar")
        yield Input(
            placeholder="Search commands, args and output — enter to find, esc to close",
            id="search",
        )
        yield Footer()

    def on_mount(self) -> None:
        timeline = self.query_one(Timeline)
        timeline.focus()
        timeline.move_to(0, force=True)
        # Marks cost one query: after the first screen, not before it.
        self.call_after_refresh(timeline.load_marks)
        self._bar()
        if self.verify_enabled:
            self._verify()
        else:
            self.query_one(ReplayHeader).set_verify(None, "verification skipped")

    def on_unmount(self) -> None:
        self.index.close()

    # -- verify ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self) -> None:
        try:
            result, error = self.index.verify(), None
        except Exception as exc:  # noqa: BLE001 - the badge says so instead of crashing
            result, error = None, str(exc)
        self.post_message(self.Verified(result, error))

    def on_replay_app_verified(self, message: Verified) -> None:
        self.verify_result = message.result
        self.query_one(ReplayHeader).set_verify(message.result, message.error)
        timeline = self.query_one(Timeline)
        if message.result is not None and not message.result.ok:
            timeline.broken_seq = message.result.first_broken_seq
            timeline.refresh()

    # -- the cursor and what follows it ---------------------------------------------

    @on(Timeline.Moved)
    def _moved(self, event: Timeline.Moved) -> None:
        self._bar()
        # Show details once the cursor rests: holding a key or playing fast
        # does not parse and highlight every payload on the way.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        if self.detail_delay <= 0:
            self._show_detail()
        else:
            self._detail_timer = self.set_timer(self.detail_delay, self._show_detail)

    def _show_detail(self) -> None:
        seq = self.query_one(Timeline).current_seq
        if seq is not None:
            self.query_one(EventDetail).show(seq)

    def _bar(self) -> None:
        t = self.query_one(Timeline)
        bar = Text()
        if t.row_count:
            bar.append(f"seq {t.current_seq}", style="bold")
            bar.append(f"  row {t.cursor + 1:,}/{t.row_count:,}", style="dim")
        else:
            bar.append("no events match the filter", style="bold yellow")
        bar.append("   ")
        if self.playing:
            bar.append(f"▶ playing {SPEEDS[self.speed_i]}/s", style="bold green")
        else:
            bar.append(f"⏸ paused ({SPEEDS[self.speed_i]}/s)", style="dim")
        if self.kinds_shown is not None:
            n = len(self.kinds_shown)
            bar.append(f"   filter: {n} kind{'s' if n != 1 else ''}", style="bold cyan")
        if self.query_text:
            visible = self._visible_matches()
            here = t.current_seq
            n = (
                bisect.bisect_right(visible, here)
                if here is not None and here in set(visible)
                else 0
            )
            where = f"{n}/{len(visible)}" if n else f"{len(visible)}"
            bar.append(f"   search '{self.query_text}': {where} matches", style="bold yellow")
        self.query_one("#replay-bar", Static).update(bar)

    def action_step(self, delta: int) -> None:
        self.query_one(Timeline).action_move(delta)

    def action_edge(self, end: int) -> None:
        self.query_one(Timeline).action_edge(end)

    def _visible(self, seq: int) -> bool:
        if self.kinds_shown is None:
            return True
        return self.index.kinds[self.index.position(seq)] in self.kinds_shown

    def _go_to_seq(self, seq: int) -> None:
        timeline = self.query_one(Timeline)
        timeline.move_to(timeline.row_of_seq(seq), force=True)

    def action_jump(self, direction: int) -> None:
        """To the previous/next approval, denial, question or flag."""
        current = self.query_one(Timeline).current_seq
        if current is None:
            return
        marks = self.index.marks()
        broken = self.query_one(Timeline).broken_seq
        if broken is not None and broken not in marks:
            # Where the chain breaks is what an auditor most needs to find.
            marks = sorted([*marks, broken])
        marks = [s for s in marks if self._visible(s)]
        if direction > 0:
            i = bisect.bisect_right(marks, current)
            target = marks[i] if i < len(marks) else None
        else:
            i = bisect.bisect_left(marks, current)
            target = marks[i - 1] if i > 0 else None
        if target is None:
            self.notify(
                "No more approvals, denials, flags or breaks "
                + ("ahead." if direction > 0 else "before this.")
            )
            return
        self._go_to_seq(target)

    # -- play ----------------------------------------------------------------

    def action_play(self) -> None:
        self.playing = not self.playing
        if self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None
        if self.playing:
            self._play_timer = self.set_interval(max(FRAME_S, 1 / SPEEDS[self.speed_i]), self._tick)
        self._bar()

    def _tick(self) -> None:
        timeline = self.query_one(Timeline)
        if timeline.cursor >= timeline.row_count - 1:
            self.action_play()
            self.notify("End of the session.")
            return
        step = max(1, round(SPEEDS[self.speed_i] * FRAME_S))
        timeline.move_to(timeline.cursor + step)

    def action_speed(self, delta: int) -> None:
        self.speed_i = max(0, min(len(SPEEDS) - 1, self.speed_i + delta))
        if self.playing:  # restart at the new rate
            self.action_play()
            self.action_play()
        self._bar()

    # -- filter ----------------------------------------------------------------

    def action_filter(self) -> None:
        counts = self.index.kind_counts()
        self.push_screen(FilterScreen(counts, self.kinds_shown), self._filtered)

    def _filtered(self, kinds: set[str] | None) -> None:
        if kinds is None:
            return
        self.apply_filter(kinds)

    def apply_filter(self, kinds: set[str] | None) -> None:
        """Show only events of these kinds (None or every kind: no filter)."""
        everything = set(self.index.kind_counts())
        if kinds is None or kinds >= everything:
            self.kinds_shown = None
            rows = None
        else:
            self.kinds_shown = set(kinds)
            wanted = self.kinds_shown
            rows = [i for i, k in enumerate(self.index.kinds) if k in wanted]
        self.query_one(Timeline).set_rows(rows)
        self._bar()

    # -- search ----------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.add_class("open")
        search.focus()

    def action_close_search(self) -> None:
        search = self.query_one("#search", Input)
        if search.has_class("open"):
            search.remove_class("open")
            self.query_one(Timeline).focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        self.search(event.value)
        self.action_close_search()

    def search(self, text: str) -> list[int]:
        """Find ``text``; the cursor goes to the first match from here on."""
        self.query_text = text.strip()
        self.matches = self.index.search(self.query_text) if self.query_text else []
        timeline = self.query_one(Timeline)
        timeline.matches = set(self.matches)
        timeline.refresh()
        visible = self._visible_matches()
        if self.query_text and not visible:
            self.notify(
                f"No match for '{self.query_text}'"
                + (" among the shown kinds" if self.matches else ""),
                severity="warning",
            )
        elif visible:
            current = timeline.current_seq or 0
            i = bisect.bisect_left(visible, current)
            self._go_to_seq(visible[i] if i < len(visible) else visible[0])
        self._bar()
        return self.matches

    def _visible_matches(self) -> list[int]:
        return [s for s in self.matches if self._visible(s)]

    def action_next_match(self, direction: int) -> None:
        visible = self._visible_matches()
        if not visible:
            self.notify("No search results: press / to search.")
            return
        current = self.query_one(Timeline).current_seq or 0
        if direction > 0:
            i = bisect.bisect_right(visible, current)
            target = visible[i % len(visible)]
        else:
            i = bisect.bisect_left(visible, current)
            target = visible[(i - 1) % len(visible)]
        self._go_to_seq(target)

    # -- detail tabs -------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        detail = self.query_one(EventDetail)
        detail.active = tab
        if tab == "tab-approvals":
            # The table takes the keys: arrows choose a decision, enter jumps to it.
            detail.load_approvals()
            detail.query_one("#approvals-table").focus()
        else:
            self.query_one(Timeline).focus()

    @on(EventDetail.JumpTo)
    def _jump_to(self, event: EventDetail.JumpTo) -> None:
        self._go_to_seq(event.seq)
        self.query_one(Timeline).focus()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, _event: TabbedContent.TabActivated) -> None:
        self._bar()
