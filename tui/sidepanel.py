"""The side panel: what needs you, what changed, what was flagged, what is granted.

Four short lists fed from the log: requests waiting for a decision, files
changed in the workspace (select one to see its diff), flags the watchers
raised, and the session's "always allow" grants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import ListItem, ListView, Static

from .views import short


@dataclass
class FileChange:
    path: str
    change: str
    diffs: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


class SidePanel(VerticalScroll):
    """Waiting requests, changed files, flags and grants."""

    DEFAULT_CSS = """
    SidePanel { width: 36; min-width: 28; border-left: solid $primary; padding: 0 1; }
    SidePanel .section { text-style: bold; color: $text-muted; margin-top: 1; }
    SidePanel #waiting-title.active { color: $warning; }
    SidePanel ListView { height: auto; max-height: 12; background: transparent; }
    SidePanel ListItem { background: transparent; }
    SidePanel .empty { color: $text-disabled; }
    SidePanel #flags-list { color: $error; }
    """

    class FileSelected(Message):
        """A file was chosen in the panel. Handler: ``on_side_panel_file_selected``."""

        def __init__(self, change: FileChange) -> None:
            super().__init__()
            self.change = change

    class WaitingSelected(Message):
        """A waiting request was chosen. Handler: ``on_side_panel_waiting_selected``."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, FileChange] = {}
        self.flags: list[str] = []
        self.grants: dict[str, str] = {}
        self.waiting: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static("Waiting for you", id="waiting-title", classes="section")
        yield ListView(id="waiting-list")
        yield Static("Files changed", id="files-title", classes="section")
        yield ListView(id="files-list")
        yield Static("Flags", id="flags-title", classes="section")
        yield Static("none", id="flags-list", classes="empty")
        yield Static("Grants (always allow)", id="grants-title", classes="section")
        yield Static("none", id="grants-list", classes="empty")

    def on_mount(self) -> None:
        self._render_waiting()
        self._render_files()

    # -- feeding ---------------------------------------------------------------

    def apply(self, seq: int, kind: str, p: dict[str, Any]) -> None:
        if kind == "file_changed" and p.get("change") != "ref":
            path = str(p.get("path"))
            fc = self.files.setdefault(path, FileChange(path, str(p.get("change"))))
            fc.change = str(p.get("change"))
            if p.get("diff"):
                fc.diffs.append(str(p["diff"]))
            if p.get("call_id"):
                fc.calls.append(str(p["call_id"]))
            self._render_files()
        elif kind == "flag_raised":
            self.flags.append(f"{p.get('flag')}: {p.get('reason')} [seq {seq}]")
            self._render_flags()
        elif kind == "grant_added":
            self.grants[str(p.get("grant_id"))] = str(p.get("description") or p.get("prefix"))
            self._render_grants()
        elif kind == "grant_revoked":
            self.grants.pop(str(p.get("grant_id")), None)
            self._render_grants()

    def set_waiting(self, waiting: list[tuple[str, str]]) -> None:
        """``[(key, label)]`` of the requests waiting for a decision."""
        self.waiting = list(waiting)
        if self.is_mounted:
            self._render_waiting()

    # -- rendering -------------------------------------------------------------

    def _render_waiting(self) -> None:
        title = self.query_one("#waiting-title", Static)
        title.update(
            f"Waiting for you ({len(self.waiting)})" if self.waiting else "Waiting for you"
        )
        title.set_class(bool(self.waiting), "active")
        lv = self.query_one("#waiting-list", ListView)
        lv.clear()
        if not self.waiting:
            lv.append(ListItem(Static("nothing", classes="empty"), disabled=True))
        for key, label in self.waiting:
            item = ListItem(Static(Text("? ", style="bold yellow") + Text(short(label, 60))))
            item.data_key = key  # type: ignore[attr-defined]
            lv.append(item)

    def _render_files(self) -> None:
        self.query_one("#files-title", Static).update(
            f"Files changed ({len(self.files)})" if self.files else "Files changed"
        )
        lv = self.query_one("#files-list", ListView)
        lv.clear()
        if not self.files:
            lv.append(ListItem(Static("none", classes="empty"), disabled=True))
        marks = {
            "created": ("A", "green"),
            "modified": ("M", "yellow"),
            "deleted": ("D", "red"),
            "moved": ("R", "cyan"),
        }
        for path in sorted(self.files):
            fc = self.files[path]
            mark, style = marks.get(fc.change, ("?", ""))
            item = ListItem(Static(Text(f"{mark} ", style=f"bold {style}") + Text(short(path, 60))))
            item.data_key = path  # type: ignore[attr-defined]
            lv.append(item)

    def _render_flags(self) -> None:
        flags = self.query_one("#flags-list", Static)
        flags.set_class(not self.flags, "empty")
        flags.update("\n".join(f"⚑ {f}" for f in self.flags) if self.flags else "none")
        self.query_one("#flags-title", Static).update(
            f"Flags ({len(self.flags)})" if self.flags else "Flags"
        )

    def _render_grants(self) -> None:
        grants = self.query_one("#grants-list", Static)
        grants.set_class(not self.grants, "empty")
        grants.update(
            "\n".join(f"{gid}: {d}" for gid, d in self.grants.items()) if self.grants else "none"
        )
        self.query_one("#grants-title", Static).update(
            f"Grants (always allow) ({len(self.grants)})"
            if self.grants
            else "Grants (always allow)"
        )

    @on(ListView.Selected)
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        key = getattr(event.item, "data_key", None)
        if key is None:
            return
        if event.list_view.id == "files-list":
            self.post_message(self.FileSelected(self.files[key]))
        else:
            self.post_message(self.WaitingSelected(key))
