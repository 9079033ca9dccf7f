"""The LangChain middleware that puts a ``create_agent`` loop under overseer.

``OverseerMiddleware`` hooks the two places where a LangChain agent touches
the world:

* ``wrap_tool_call`` — every tool call the model makes goes to
  ``session.broker.submit`` with its *raw* arguments. LangChain's own tool
  execution (and its argument validation) is never called: the broker
  validates, decides, asks, records and runs, and its result comes back as a
  ``ToolMessage``. Calls whose arguments were not even JSON (a provider's
  ``invalid_tool_calls``) are turned into ordinary calls carrying the raw text,
  so they too are proposed to the broker and recorded as ``invalid``.
* ``wrap_model_call`` — before the model is called: stop if the session was
  terminated, a stop was requested or the step budget is spent, and deliver
  the developer's steering messages as ``HumanMessage``s. The call itself
  runs in a helper thread, so a person who terminates or quits while a
  provider hangs is not kept waiting: the turn is recorded as abandoned and
  the loop ends (the late answer, if any, is dropped). After: record a
  ``model_turn`` event.

How a turn is recorded (and why it stays O(1) per turn): every message is
stored once in the log's ``messages`` table (content-addressed) and cached by
message id, so a message is serialised and stored the first time it is seen
and never again. The ``model_turn`` event does not repeat the whole history:
``messages`` lists only the hashes of the messages that are new in this
request, and ``prior`` says how many leading messages it shares with the
previous turn's context (that turn's request plus its response). When the
history was rewritten (a summarising middleware, say), ``prior`` is 0 and
``messages`` is the full list. ``expand_turns`` rebuilds each turn's full
request from the events.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    message_to_dict,
)
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command
from pydantic import ConfigDict

from ..log import AuditLog
from ..session import Session
from ..toolapi import Tool, ToolCall, ToolResult

# Marks the raw text of arguments that were not JSON. It stays in the model's
# history (what it sent, shown back with the validation error) and is unwrapped
# before the broker sees the call, so the broker records the raw text.
RAW_ARGS_KEY = "__overseer_raw_args__"

StopReason = Literal["terminated", "stop_requested", "max_steps"]
# How often a model call in flight looks for a stop.
MODEL_POLL_S = 0.1


class _Abandoned(Exception):
    """A stop arrived while the model was answering; the answer is not awaited."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason)
        self.reason: StopReason = reason


STOP_TEXT: dict[str, str] = {
    "terminated": "Stopped: a person terminated the session.",
    "stop_requested": "Stopped: the session was asked to stop before the agent finished.",
    "max_steps": "Stopped: the step limit ({n} model turns) was reached before the agent finished.",
}

DENIED_NOTE = (
    "\n[overseer: this action was denied and did not run. The denial is a decision, not an "
    "obstacle: do not retry it in other words or reach the same effect another way. Continue "
    "with what you may do, or use ask_human.]"
)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


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


def _text(msg: BaseMessage) -> str:
    # ``text`` is a property in langchain-core 1.x (a str that is still callable).
    return str(msg.text)


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


class MessageStore:
    """Stores model messages in the log once each.

    Cached by message id *and* object identity: LangGraph carries the same
    message objects from turn to turn, so each one is serialised and written
    once. A message replaced under the same id (a different object) is stored
    again. The cache holds the objects, so an identity can never be reused.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._by_id: dict[str, tuple[BaseMessage, str]] = {}
        self.writes = 0

    def put(self, msg: BaseMessage) -> str:
        # Messages without an id (the system message) are keyed by identity.
        key = msg.id if msg.id is not None else f"obj:{id(msg)}"
        hit = self._by_id.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        h = self.log.put_message(message_to_dict(msg))
        self.writes += 1
        self._by_id[key] = (msg, h)
        return h


@dataclass
class EditTrace:
    """What a person's edit turned a call into, learned from the log."""

    args: Any = None
    ran: bool = False


class OverseerMiddleware(AgentMiddleware):
    """Routes every tool call through the broker and records every model turn."""

    def __init__(self, session: Session, *, max_steps: int = 100) -> None:
        super().__init__()
        self.session = session
        self.max_steps = max_steps
        self.store = MessageStore(session.log)
        self.turns = 0
        self.tool_calls = 0
        self.stop_reason: StopReason | None = None
        self.last_text = ""
        self.usage: dict[str, int] = {}
        # model-facing tool name -> overseer's tool name (see model_facing_name)
        self.tool_names: dict[str, str] = {
            model_facing_name(name): name for name in session.registry.tools()
        }
        self._prev_context: list[BaseMessage] = []  # the last turn's request + response
        self._used_ids: set[str] = set()
        self._lock = threading.Lock()
        # Edits: a person may turn call X into X-e1 (and that into X-e2...);
        # the broker returns the final result only, so the log tells us.
        self._root: dict[str, str] = {}
        self._edits: dict[str, EditTrace] = {}
        self._subscribed = False

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        if not self._subscribed:
            self.session.log.subscribe(self._on_event)
            self._subscribed = True

    def close(self) -> None:
        if self._subscribed:
            self.session.log.unsubscribe(self._on_event)
            self._subscribed = False

    def _on_event(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if session_id != self.session.id:
            return
        if kind == "action_proposed" and payload.get("source") == "edit":
            parent = str(payload.get("parent_call_id"))
            with self._lock:
                root = self._root.get(parent, parent)
                self._root[str(payload.get("call_id"))] = root
                self._edits[root] = EditTrace(args=payload.get("args"))
        elif kind == "action_started":
            with self._lock:
                started_root = self._root.get(str(payload.get("call_id")))
                if started_root is not None:
                    self._edits[started_root] = EditTrace(args=payload.get("args"), ran=True)

    # -- model turns ------------------------------------------------------

    def _should_stop(self) -> StopReason | None:
        reason = self._interrupted()
        if reason is None and self.turns >= self.max_steps:
            return "max_steps"
        return reason

    def _interrupted(self) -> StopReason | None:
        """A person's stop (not the step budget): ends even a model call in flight."""
        if self.session.broker.terminated:
            return "terminated"
        if self.session.stop_requested.is_set():
            return "stop_requested"
        return None

    def _stop(self, reason: StopReason) -> ModelResponse:
        """A closing message without tool calls: it ends the loop."""
        self.stop_reason = reason
        text = STOP_TEXT[reason].format(n=self.max_steps)
        self.session.notice("agent", text, reason=reason, turns=self.turns)
        return ModelResponse(result=[AIMessage(content=text, id=_new_id("overseer-stop"))])

    def _call_model(
        self, handler: Callable[[ModelRequest], ModelResponse], request: ModelRequest
    ) -> ModelResponse:
        """``handler(request)`` in a helper thread, waited for in short steps so a
        stop ends the wait; raises ``_Abandoned`` then. The thread carries this
        context (LangChain's callbacks and run config live in context variables)."""
        ctx = contextvars.copy_context()
        box: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                box["response"] = ctx.run(handler, request)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name=f"model-turn-{self.turns}", daemon=True).start()
        while not done.wait(MODEL_POLL_S):
            reason = self._interrupted()
            if reason is not None:
                raise _Abandoned(reason)
        if "error" in box:
            raise box["error"]
        return box["response"]  # type: ignore[no-any-return]

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        reason = self._should_stop()
        if reason is not None:
            return self._stop(reason)

        steering = [
            HumanMessage(
                content=f"[message from the developer, sent during the run]\n{text}",
                id=_new_id("steer"),
            )
            for text in self.session.take_messages()
        ]
        if steering:
            request = request.override(messages=[*request.messages, *steering])

        self.turns += 1
        turn = self.turns
        started = time.monotonic()
        try:
            response = self._call_model(handler, request)
        except _Abandoned as stop:
            why = "terminated" if stop.reason == "terminated" else "asked to stop"
            self._record_turn(
                turn, request, None, started, error=f"abandoned: the session was {why} mid-call"
            )
            return self._stop(stop.reason)
        except Exception as exc:
            self._record_turn(turn, request, None, started, error=f"{type(exc).__name__}: {exc}")
            raise
        ai = next((m for m in response.result if isinstance(m, AIMessage)), None)
        if ai is not None:
            fixed = normalise_tool_calls(ai)
            if fixed is not ai:
                response = ModelResponse(
                    result=[fixed if m is ai else m for m in response.result],
                    structured_response=response.structured_response,
                )
                ai = fixed
        self._record_turn(turn, request, ai, started)
        if steering:
            # Steering messages join the history just before the reply they led to,
            # so later turns (and the record) see them where the model saw them.
            response = ModelResponse(
                result=[*steering, *response.result],
                structured_response=response.structured_response,
            )
        return response

    def _record_turn(
        self,
        turn: int,
        request: ModelRequest,
        ai: AIMessage | None,
        started: float,
        error: str | None = None,
    ) -> None:
        duration = int((time.monotonic() - started) * 1000)
        msgs = request.messages
        prev = self._prev_context
        k = len(prev)
        # The usual case: this request is the previous turn's context plus new
        # messages. The list comparison runs in C and short-circuits on identity,
        # so recognising it costs next to nothing however long the history is,
        # and only the new messages are looked at.
        prior = k if k and len(msgs) >= k and msgs[:k] == prev else 0
        payload: dict[str, Any] = {
            "turn": turn,
            "messages": [self.store.put(m) for m in msgs[prior:]],
            "prior": prior,
            "duration_ms": duration,
        }
        if request.system_message is not None:
            payload["system"] = self.store.put(request.system_message)
        if ai is not None:
            payload["response"] = self.store.put(ai)
            payload["text"] = self.last_text = _text(ai)
            payload["tool_calls"] = [
                {"id": tc.get("id"), "name": tc.get("name"), "args": tc.get("args")}
                for tc in ai.tool_calls
            ]
            usage = ai.usage_metadata
            if usage:
                payload["usage"] = {
                    n: usage.get(n, 0) for n in ("input_tokens", "output_tokens", "total_tokens")
                }
                for key, v in payload["usage"].items():
                    self.usage[key] = self.usage.get(key, 0) + int(v or 0)
            self._prev_context = [*msgs, ai]
        else:
            self._prev_context = list(msgs)
        if error is not None:
            payload["error"] = error
        self.session.log.append(self.session.id, "model_turn", payload)

    # -- tool calls -------------------------------------------------------

    def _call_id(self, model_id: str | None) -> str:
        """The broker's id for a call: the model's, unless the session already used it
        (some models number their calls per turn), so records never collide."""
        base = model_id or uuid.uuid4().hex[:10]
        with self._lock:
            self.tool_calls += 1
            cid = base if base not in self._used_ids else f"{base}~t{self.turns}-{self.tool_calls}"
            self._used_ids.add(cid)
        return cid

    def wrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], ToolMessage | Command[Any]],
    ) -> ToolMessage | Command[Any]:
        # ``handler`` (LangChain running the tool itself) is deliberately never called.
        tc = request.tool_call
        name = str(tc.get("name") or "")
        name = self.tool_names.get(name, name)
        model_id = str(tc.get("id") or "")
        raw: Any = tc.get("args")
        if isinstance(raw, Mapping) and set(raw) == {RAW_ARGS_KEY}:
            raw = raw[RAW_ARGS_KEY]
        call_id = self._call_id(model_id)
        if self.session.stop_requested.is_set() and not self.session.broker.terminated:
            self.session.notice(
                "agent",
                f"call {call_id} ({name}) not proposed: the session is stopping",
                call_id=call_id,
            )
            return ToolMessage(
                content="Not run: the session is stopping.",
                tool_call_id=model_id,
                name=name,
                status="error",
                id=_new_id("tool"),
            )
        result = self.session.broker.submit(
            ToolCall(id=call_id, name=name, args=raw, source="agent")
        )
        with self._lock:
            trace = self._edits.pop(call_id, None)
        note = ""
        if trace is not None:
            shown = json.dumps(trace.args, ensure_ascii=False)
            note = (
                f"\n[overseer: a person edited this call before it ran; it ran as {name} {shown}]"
                if trace.ran
                else f"\n[overseer: a person edited this call into {name} {shown}; the edit did not run]"
            )
        return ToolMessage(
            content=result_content(result, note),
            tool_call_id=model_id,
            name=name,
            status="success" if result.status == "ok" else "error",
            id=_new_id("tool"),
        )


def normalise_tool_calls(ai: AIMessage) -> AIMessage:
    """Give every tool call an id, and turn unparseable ones into calls the broker sees.

    LangChain would answer an ``invalid_tool_call`` itself (or, if it is the
    only call of the turn, end the run as if the model had finished); here it
    becomes a normal call whose arguments carry the raw text, so the broker
    records the proposal as ``invalid`` and the model reads why and can retry.
    """
    if not ai.invalid_tool_calls and all(tc.get("id") for tc in ai.tool_calls):
        return ai
    calls: list[Any] = [
        tc if tc.get("id") else {**tc, "id": f"call_{uuid.uuid4().hex[:12]}"}
        for tc in ai.tool_calls
    ]
    for bad in ai.invalid_tool_calls:
        calls.append(
            {
                "name": bad.get("name") or "",
                "args": {RAW_ARGS_KEY: bad.get("args")},
                "id": bad.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                "type": "tool_call",
            }
        )
    return ai.model_copy(update={"tool_calls": calls, "invalid_tool_calls": []})


def expand_turns(turns: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """Each turn's full request as message hashes, from ``model_turn`` payloads in order."""
    out: list[list[str]] = []
    context: list[str] = []
    for p in turns:
        full = [*context[: int(p.get("prior", 0))], *p.get("messages", [])]
        out.append(full)
        context = [*full, p["response"]] if p.get("response") else full
    return out
