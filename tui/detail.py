"""The replay's right-hand pane: everything about the selected event.

Four tabs: *Details* (the event, and the whole story of its call — proposed,
judged, asked, decided by whom and why, run, finished), *Output* (the call's
output, the full text from the blob store when the log kept only head and
tail), *Diff* (a file change's diff or the preview the approver saw) and
*Approvals* (every decision in the session: who approved what, when, why;
selecting one jumps the timeline there).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from overseer.log import iso
from overseer.render import clock, describe

from .index import EventIndex
from .views import CHOICE_STYLES, args_renderable, code, looks_like_diff, short

RAW_LIMIT = 20_000  # characters of raw payload shown


class EventDetail(Vertical):
    """Details, output, diff and approvals for the selected event."""

    DEFAULT_CSS = """
    EventDetail { height: 1fr; }
    EventDetail TabbedContent { height: 1fr; }
    EventDetail TabPane { padding: 0 1; height: 1fr; }
    EventDetail .label { text-style: bold; color: $text-muted; margin-top: 1; }
    EventDetail DataTable { height: 1fr; }
    """

    class JumpTo(Message):
        """Show this seq in the timeline. Handler: ``on_event_detail_jump_to``."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, index: EventIndex, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.seq: int | None = None
        self._approvals_loaded = False

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="tab-details", id="tabs"):
            with TabPane("Details", id="tab-details"), VerticalScroll():
                yield Static("", id="details-body")
            with TabPane("Output", id="tab-output"), VerticalScroll():
                yield Static("", id="output-body")
            with TabPane("Diff", id="tab-diff"), VerticalScroll():
                yield Static("", id="diff-body")
            with TabPane("Approvals", id="tab-approvals"):
                yield DataTable(id="approvals-table", cursor_type="row", zebra_stripes=True)

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    @active.setter
    def active(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    # -- showing an event ---------------------------------------------------------

    def show(self, seq: int) -> None:
        self.seq = seq
        seq, ts, kind, p = self.index.event(seq)
        call_id = str(p.get("call_id") or "")
        related = self.index.related(call_id, seq) if call_id else []
        self.query_one("#details-body", Static).update(
            self._details(seq, ts, kind, p, call_id, related)
        )
        self.query_one("#output-body", Static).update(self._output(kind, p, related))
        self.query_one("#diff-body", Static).update(self._diff(kind, p, related))

    def _details(
        self, seq: int, ts: int, kind: str, p: dict[str, Any], call_id: str,
        related: list[tuple[int, int, str, dict[str, Any]]],
    ) -> RenderableType:  # fmt: skip
        items: list[RenderableType] = []
        head = Text(f"seq {seq}", style="bold")
        head.append(f"  {iso(ts)}  ", style="dim")
        head.append(kind, style="bold")
        items += [head, Text(describe(kind, p))]
        if kind == "approval_decided":
            items.append(self._decision(p))
        if related:
            items += [Text(""), Text(f"The story of call {call_id}", style="bold")]
            # No time column: the pane is narrow and the timeline has the times.
            table = Table(box=None, show_header=False, pad_edge=False, expand=True)
            table.add_column(width=6, justify="right")
            table.add_column(ratio=1, overflow="fold")
            for rseq, _rts, rkind, rp in related:
                style = "reverse" if rseq == seq else ""
                table.add_row(
                    Text(str(rseq), style=style or "dim"), Text(describe(rkind, rp), style=style)
                )
            items.append(table)
        args_from = next(
            (rp for _s, _t, k, rp in related if k in ("action_started", "action_proposed")), None
        )
        if kind in ("action_proposed", "action_started", "approval_requested"):
            args_from = p
        if args_from is not None and "args" in args_from:
            items += [
                Text(""),
                Text("Args", style="bold"),
                args_renderable(str(args_from.get("tool")), args_from.get("args")),
            ]
        raw = json.dumps(p, indent=2, sort_keys=True, ensure_ascii=False)
        if len(raw) > RAW_LIMIT:
            raw = raw[:RAW_LIMIT] + f"\n… ({len(raw) - RAW_LIMIT} more characters)"
        items += [Text(""), Text("Payload", style="bold"), code(raw, "json")]
        return Group(*items)

    @staticmethod
    def _decision(p: dict[str, Any]) -> Text:
        choice = str(p.get("decision"))
        text = Text("\n")
        text.append(f" {choice} ", style=f"reverse {CHOICE_STYLES.get(choice, '')}")
        text.append(f" by {p.get('by')}", style="bold")
        if p.get("latency_ms") is not None:
            text.append(f" after {int(p['latency_ms']) / 1000:.1f} s", style="dim")
        text.append("\nreason: " + (str(p.get("reason")) or "(none given)"))
        if p.get("grant_id"):
            text.append(f"\nadded grant {p['grant_id']}", style="green")
        if p.get("edited_args") is not None:
            text.append(
                "\nedited args: " + json.dumps(p["edited_args"], sort_keys=True), style="blue"
            )
        return text

    def _output(
        self, kind: str, p: dict[str, Any], related: list[tuple[int, int, str, dict[str, Any]]]
    ) -> RenderableType:
        finished = (
            p
            if kind == "action_finished"
            else next((rp for _s, _t, k, rp in related if k == "action_finished"), None)
        )
        if finished is None:
            return Text("(no output: this event is not part of a finished call)", style="dim")
        output = str(finished.get("output") or "")
        note = Text("")
        blob = finished.get("output_blob")
        if finished.get("truncated") and isinstance(blob, str):
            data = self.index.blob(blob)
            if data is not None:
                output = data.decode("utf-8", "replace")
                note = Text(
                    f"full output from the blob store ({len(output)} characters)", style="dim"
                )
            else:
                note = Text(
                    f"the log kept head and tail of {finished.get('output_size')} characters",
                    style="dim",
                )
        head = Text(f"{finished.get('tool')}: {finished.get('status')}", style="bold")
        if finished.get("exit_code") is not None:
            head.append(f"  exit {finished['exit_code']}")
        if not output.strip():
            return Group(head, Text("(empty output)", style="dim"))
        body = code(output, "diff") if looks_like_diff(output) else Text(output)
        return Group(head, note, body)

    def _diff(
        self, kind: str, p: dict[str, Any], related: list[tuple[int, int, str, dict[str, Any]]]
    ) -> RenderableType:
        diffs: list[tuple[str, str]] = []
        if kind == "file_changed" and p.get("diff"):
            diffs.append((f"{p.get('change')} {p.get('path')}", str(p["diff"])))
        for _s, _t, k, rp in related:
            if k == "file_changed" and rp.get("diff") and rp is not p:
                diffs.append((f"{rp.get('change')} {rp.get('path')}", str(rp["diff"])))
            elif (
                k == "approval_requested"
                and isinstance(rp.get("preview"), str)
                and looks_like_diff(rp["preview"])
            ):
                diffs.append(("preview shown to the approver", rp["preview"]))
        if kind == "approval_requested" and isinstance(p.get("preview"), str) and not related:
            diffs.append(("preview shown to the approver", p["preview"]))
        if not diffs:
            return Text("(no diff for this event)", style="dim")
        items: list[RenderableType] = []
        for title, diff in diffs:
            items += [Text(title, style="bold"), code(diff, "diff"), Text("")]
        return Group(*items)

    # -- who approved what -----------------------------------------------------------

    def load_approvals(self) -> None:
        if self._approvals_loaded:
            return
        self._approvals_loaded = True
        table = self.query_one("#approvals-table", DataTable)
        table.add_columns("seq", "time", "decision", "by", "what · why")
        for a in self.index.approvals():
            style = CHOICE_STYLES.get(a["decision"], "")
            # Two lines per decision: the pane is narrow, and the reason
            # matters as much as the command.
            what = Text(short(a["what"], 200))
            what.append(
                "\n" + (short(a["reason"], 200) if a["reason"] else "no reason given"), style="dim"
            )
            table.add_row(
                str(a["seq"]), clock(a["ts"]), Text(a["decision"], style=style), short(a["by"], 20),
                what, key=str(a["seq"]), height=2,
            )  # fmt: skip

    @on(TabbedContent.TabActivated)
    def _tab(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "tab-approvals":
            self.load_approvals()

    @on(DataTable.RowSelected, "#approvals-table")
    def _jump(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.JumpTo(int(event.row_key.value)))
