"""The last two stages: run the tool once, and record how it ended.

A tool runs exactly once (invariant 8: side effects are never retried); a
crash is an error result, not an exception in the agent's loop. The result is
bounded before it reaches the log or the agent (invariant 7): the head and
tail are kept, the size recorded, and the full output stored as a blob.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import LogWriteError
from ..recordable import recordable
from ..toolapi import Tool, ToolContext, ToolResult
from .record import Recorder

LOG_OUTPUT_HEAD = 16_384
LOG_OUTPUT_TAIL = 16_384


def bound_output(
    text: str, head: int = LOG_OUTPUT_HEAD, tail: int = LOG_OUTPUT_TAIL
) -> tuple[str, bool]:
    """Keep the head and tail of a long text, with a marker saying what was cut."""
    if len(text) <= head + tail:
        return text, False
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters omitted ...]\n{text[-tail:]}", True


def run_once(tool: Tool, name: str, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Run the tool on the canonical args. A crash is an error result, never
    retried; a ``KeyboardInterrupt`` propagates (the caller records it)."""
    try:
        result = tool.run(tool.Args.model_validate(args), ctx)
        if not isinstance(result, ToolResult):
            result = ToolResult(output=str(result))
    except Exception as exc:  # noqa: BLE001 - a tool crash is an error result, never retried
        result = ToolResult.fail(f"{name} failed: {type(exc).__name__}: {exc}")
    return result


def record_result(
    recorder: Recorder, result: ToolResult, name: str, call_id: str, started: float
) -> ToolResult:
    """Record ``action_finished`` for a call that ran, and bound its output."""
    duration = int((time.monotonic() - started) * 1000)
    full = result.output or ""
    size = result.output_size if result.output_size is not None else len(full)
    shown, cut = bound_output(full)
    blob = result.output_blob
    if blob is None and (cut or size > len(full)) and full:
        try:
            blob = recorder.store_blob(full.encode("utf-8", "replace"))
        except LogWriteError:
            blob = None
    try:
        recorder.record(
            "action_finished",
            {
                "call_id": call_id,
                "tool": name,
                "status": result.status,
                "exit_code": result.exit_code,
                "output": shown,
                "output_size": size,
                "output_blob": blob,
                "truncated": cut or size > len(full),
                "duration_ms": duration,
                "error": result.error,
                "data": recordable(result.data),
            },
        )
    except LogWriteError as exc:
        result.output = (
            shown + f"\n[overseer: the audit log failed after this ran ({exc}); the session stops]"
        )
        return result
    result.output = shown
    result.output_size = size
    result.output_blob = blob
    return result
