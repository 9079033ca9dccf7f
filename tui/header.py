"""The session header: who is doing what, where, under which rules.

Two lines from ``session_started`` (id, task; agent/model, policy, workspace,
sandbox) and a status on the right that the app keeps current (running,
waiting for you, completed...).
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

STATUS_STYLES = {
    "starting": "dim",
    "running": "bold cyan",
    "waiting for you": "bold black on yellow",
    "stopping": "bold yellow",
    "completed": "bold green",
    "failed": "bold red",
    "terminated": "bold red",
    "interrupted": "bold yellow",
    "attached": "bold cyan",
}


class SessionHeader(Static):
    """Session facts plus a live status."""

    DEFAULT_CSS = """
    SessionHeader { height: 3; background: $panel; padding: 0 1; border-bottom: solid $primary; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.session_id = ""
        self.info: dict[str, Any] = {}
        self.status = "starting"
        self.mode = ""
        self.shipping = ""

    def set_session(self, session_id: str, info: dict[str, Any]) -> None:
        self.session_id = session_id
        self.info = dict(info)
        self._render_header()

    def set_status(self, status: str) -> None:
        self.status = status
        self._render_header()

    def set_mode(self, mode: str) -> None:
        """``attached by user@host`` and the like, shown after the status."""
        self.mode = mode
        self._render_header()

    def set_shipping(self, text: str) -> None:
        """How far shipping to a team store has got ("" when not shipping)."""
        if text != self.shipping:
            self.shipping = text
            self._render_header()

    def _render_header(self) -> None:
        i = self.info
        line1 = Text()
        line1.append("overseer ", style="bold")
        line1.append(f"session {self.session_id or '…'}", style="bold cyan")
        task = str(i.get("task") or "").replace("\n", " ")
        if task:
            line1.append("  ·  ")
            line1.append(task, style="bold")
        line2 = Text(style="dim")
        agent = str(i.get("agent") or "?")
        if i.get("model"):
            agent += f" ({i['model']})"
        for label, value in (
            ("agent", agent),
            ("policy", i.get("policy_name") or "?"),
            ("workspace", i.get("workspace") or "?"),
            ("sandbox", i.get("sandbox") or "none"),
            *((("ship", self.shipping),) if self.shipping else ()),
        ):
            line2.append(f"{label} ", style="dim")
            line2.append(str(value), style="")
            line2.append("   ")
        status = Text(f" {self.status} ", style=STATUS_STYLES.get(self.status, "bold"))
        if self.mode:
            status.append(f"  {self.mode}", style="dim")
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True)
        grid.add_row(line1, status)
        grid.add_row(line2, "")
        self.update(grid)
