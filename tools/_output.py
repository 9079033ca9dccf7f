"""Bounded output: what a tool keeps of a stream of bytes it cannot predict.

A command may print 100 MB; the runtime must not hold it (invariant 7). The
collector keeps the first ``head`` bytes and the last ``tail`` bytes in
memory, counts the total, and optionally spools the full stream to a
temporary file up to ``spool_cap`` so the complete output (or its first
``spool_cap`` bytes) can be stored as a blob in the log.
"""

from __future__ import annotations

import tempfile
from typing import IO

HEAD_BYTES = 16 * 1024
TAIL_BYTES = 16 * 1024
SPOOL_CAP = 8 * 1024 * 1024


class BoundedOutput:
    """Collects a byte stream keeping head, tail, total size and a capped spool."""

    def __init__(
        self, head: int = HEAD_BYTES, tail: int = TAIL_BYTES, spool_cap: int = SPOOL_CAP
    ) -> None:
        self.head_limit = head
        self.tail_limit = tail
        self.spool_cap = spool_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._spool: IO[bytes] | None = None
        self._spooled = 0

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.total += len(data)
        if self.spool_cap and self._spooled < self.spool_cap:
            if self._spool is None:
                # A spooled temp file stays in memory while small, so short
                # outputs never touch the disk.
                self._spool = tempfile.SpooledTemporaryFile(max_size=256 * 1024)  # noqa: SIM115 - lives as long as the collector
            part = data[: self.spool_cap - self._spooled]
            self._spool.write(part)
            self._spooled += len(part)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail += data
        if len(self.tail) > 2 * self.tail_limit:
            # Trim rarely (amortised) rather than on every chunk.
            del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + min(len(self.tail), self.tail_limit)

    def text(self) -> str:
        """Head and tail as text, with a marker saying how much was left out."""
        tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
        omitted = self.total - len(self.head) - len(tail)
        head_text = bytes(self.head).decode("utf-8", errors="replace")
        if omitted <= 0:
            return head_text + tail.decode("utf-8", errors="replace")
        marker = f"\n[... {omitted} bytes omitted; {self.total} bytes in total ...]\n"
        return head_text + marker + tail.decode("utf-8", errors="replace")

    def full(self) -> bytes | None:
        """The spooled bytes (complete up to ``spool_cap``), or None if none kept."""
        if self._spool is None:
            return None
        self._spool.seek(0)
        return self._spool.read()

    @property
    def spool_complete(self) -> bool:
        return self._spooled == self.total

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


def bound_text(text: str, limit: int = HEAD_BYTES + TAIL_BYTES) -> tuple[str, int]:
    """Cut a string to about ``limit`` bytes keeping head and tail; returns (text, full size)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text, len(data)
    out = BoundedOutput(head=limit // 2, tail=limit // 2, spool_cap=0)
    out.feed(data)
    return out.text(), len(data)
