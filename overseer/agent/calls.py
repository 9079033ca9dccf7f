"""Tool calls between the model and the broker: how tools are offered, how a
model's calls are made fit for the broker, and what the model reads back.

* ``MediatedTool`` — an overseer Tool as LangChain sees it (name, description,
  schema); it cannot run itself.
* ``model_facing_name`` — tool names providers accept (``mcp:git:x`` ->
  ``mcp__git__x``).
* ``normalise_tool_calls`` — every call gets an id, and calls whose arguments
  were not JSON become ordinary calls carrying the raw text
  (``RAW_ARGS_KEY``), so the broker records them as ``invalid``.
* ``ProviderHistory`` — the provider is sent back what the model really
  said: a normalised message is replaced by the original (with its
  ``invalid_tool_calls``) in later requests, so the internal key never leaks.
* ``RawArgsCapture`` — in a streamed reply LangChain *repairs* cut JSON
  (``{"command": "rm -rf /tm`` becomes ``{"command": "rm -rf /tm"}``); the
  capture keeps the raw text of each streamed call so such a call is
  proposed as what it was, invalid, and never run as a guess.
* ``result_content`` — the text of the ``ToolMessage`` the model reads.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from ..toolapi import Tool, ToolResult

# Marks the raw text of arguments that were not JSON, between the model's
# reply and the broker; unwrapped before the broker sees the call, and never
# sent to the provider (see ProviderHistory).
RAW_ARGS_KEY = "__overseer_raw_args__"

DENIED_NOTE = (
    "\n[overseer: this action was denied and did not run. The denial is a decision, not an "
    "obstacle: do not retry it in other words or reach the same effect another way. Continue "
    "with what you may do, or use ask_human.]"
)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def model_facing_name(name: str) -> str:
    """A tool name providers accept (letters, digits, ``_``, ``-``; <= 64 chars).

    ``mcp:git:git_status`` becomes ``mcp__git__git_status``; the middleware maps
    it back, so the broker, the policy and the log only ever see overseer's name.
    """
    safe = _UNSAFE.sub("__", name)
    if len(safe) > 64:
        safe = safe[:55] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return safe


class MediatedTool(BaseTool):
    """An overseer Tool as LangChain sees it: name, description, JSON schema.

    It has no way to run itself: the middleware sends its calls to the broker.
    If anything ever invoked it directly, it refuses (fail closed) rather than
    run an action nobody decided on.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @classmethod
    def of(cls, tool: Tool) -> MediatedTool:
        return cls(
            name=model_facing_name(tool.name),
            description=tool.description or tool.name,
            args_schema=tool.args_schema(),
        )

    def _run(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"tool {self.name!r} can only run through overseer's broker")


def result_content(result: ToolResult, edit_note: str = "") -> str:
    """What the model reads: the output, plus what it cannot see otherwise (exit code, denial)."""
    out = result.output or ""
    if result.status == "ok":
        out = out or "(no output)"
    elif result.status == "failed":
        out = (out.rstrip("\n") + "\n" if out else "") + (
            f"[exit code {result.exit_code}]" if result.exit_code is not None else "[failed]"
        )
    elif result.status == "timeout":
        out = (out.rstrip("\n") + "\n" if out else "") + "[stopped at its time limit]"
    elif result.status == "denied":
        out = (out or "denied") + DENIED_NOTE
    elif not out:
        out = result.error or result.status
    return out + edit_note


def _json_object(raw: str) -> bool:
    try:
        return isinstance(json.loads(raw), dict) if raw.strip() else True
    except ValueError:
        return False


def normalise_tool_calls(ai: AIMessage, raw_args: dict[str, str] | None = None) -> AIMessage:
    """Give every tool call an id, and turn unparseable ones into calls the broker sees.

    LangChain would answer an ``invalid_tool_call`` itself (or, if it is the
    only call of the turn, end the run as if the model had finished); here it
    becomes a normal call whose arguments carry the raw text, so the broker
    records the proposal as ``invalid`` and the model reads why and can retry.
    ``raw_args`` (call id -> streamed text) turns a call whose streamed
    arguments were not a JSON object, though LangChain parsed them, back into
    its raw text.
    """
    repaired = {cid for cid, text in (raw_args or {}).items() if not _json_object(text)} & {
        str(tc.get("id")) for tc in ai.tool_calls
    }
    if not ai.invalid_tool_calls and not repaired and all(tc.get("id") for tc in ai.tool_calls):
        return ai

    def marked(name: Any, raw: Any, cid: Any) -> dict[str, Any]:
        return {
            "name": name or "",
            "args": {RAW_ARGS_KEY: raw},
            "id": cid or f"call_{uuid.uuid4().hex[:12]}",
            "type": "tool_call",
        }

    calls: list[Any] = []
    for tc in ai.tool_calls:
        if str(tc.get("id")) in repaired:
            calls.append(marked(tc.get("name"), (raw_args or {})[str(tc.get("id"))], tc.get("id")))
        else:
            calls.append(tc if tc.get("id") else {**tc, "id": f"call_{uuid.uuid4().hex[:12]}"})
    for bad in ai.invalid_tool_calls:
        calls.append(marked(bad.get("name"), bad.get("args"), bad.get("id")))
    return ai.model_copy(update={"tool_calls": calls, "invalid_tool_calls": []})


def provider_form(ai: AIMessage, fixed: AIMessage) -> AIMessage:
    """What the provider is sent back for ``fixed``: the calls it made, the
    unparseable ones as ``invalid_tool_calls`` with their raw text."""
    valid = [tc for tc in fixed.tool_calls if set(tc.get("args") or {}) != {RAW_ARGS_KEY}]
    invalid = [
        {
            "name": tc.get("name"),
            "args": (tc.get("args") or {}).get(RAW_ARGS_KEY),
            "id": tc.get("id"),
            "error": None,
            "type": "invalid_tool_call",
        }
        for tc in fixed.tool_calls
        if set(tc.get("args") or {}) == {RAW_ARGS_KEY}
    ]
    return ai.model_copy(update={"tool_calls": valid, "invalid_tool_calls": invalid})


class ProviderHistory:
    """Replaces normalised replies by their provider form in later requests.

    The history LangGraph keeps is append-only in the usual case, so each
    normalised reply is looked for at the index it was added at: O(replaced
    messages) per request, not O(history). If the history was rewritten, a
    scan finds it.
    """

    def __init__(self) -> None:
        self._swaps: list[tuple[int, BaseMessage, BaseMessage]] = []  # (index, ours, provider's)

    def remember(self, index: int, ours: BaseMessage, theirs: BaseMessage) -> None:
        self._swaps.append((index, ours, theirs))

    def apply(self, messages: Sequence[BaseMessage]) -> list[BaseMessage] | None:
        """The messages to send, or None when nothing needs replacing."""
        if not self._swaps:
            return None
        out: list[BaseMessage] | None = None
        for index, ours, theirs in self._swaps:
            if index < len(messages) and messages[index] is ours:
                at = index
            else:
                at = next((i for i, m in enumerate(messages) if m is ours), -1)
            if at >= 0:
                out = out if out is not None else list(messages)
                out[at] = theirs
        return out


class RawArgsCapture(BaseCallbackHandler):
    """Keeps the raw argument text of each streamed tool call, by call id."""

    run_inline = True  # called in the model's own thread or task, in order

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[tuple[UUID, int], list[str]] = {}
        self._ids: dict[tuple[UUID, int], str] = {}

    def on_llm_new_token(self, token: Any, *, chunk: Any = None, run_id: UUID, **_: Any) -> None:
        message = getattr(chunk, "message", None)
        for tcc in getattr(message, "tool_call_chunks", None) or ():
            index = tcc.get("index")
            key = (run_id, int(index) if isinstance(index, int) else 0)
            with self._lock:
                if tcc.get("id"):
                    self._ids[key] = str(tcc["id"])
                if tcc.get("args"):
                    self._parts.setdefault(key, []).append(str(tcc["args"]))

    def take(self) -> dict[str, str]:
        """Raw text by call id of everything streamed since the last take."""
        with self._lock:
            out = {
                self._ids[key]: "".join(self._parts.get(key, ()))
                for key in self._ids
                if key in self._ids
            }
            self._parts.clear()
            self._ids.clear()
        return out
