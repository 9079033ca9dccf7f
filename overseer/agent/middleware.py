"""The LangChain middleware that puts a ``create_agent`` loop under overseer.

``OverseerMiddleware`` hooks the two places where a LangChain agent touches
the world, in both LangChain's sync and async loops:

* ``wrap_tool_call`` / ``awrap_tool_call`` — every tool call the model makes
  goes to ``session.broker.submit`` with its *raw* arguments. LangChain's own
  tool execution (and its argument validation) is never called: the broker
  validates, decides, asks, records and runs, and its result comes back as a
  ``ToolMessage``. Calls whose arguments were not JSON (a provider's
  ``invalid_tool_calls``, or a streamed call LangChain "repaired") are
  proposed with their raw text and recorded as ``invalid`` (see ``calls.py``).
  The async variant runs the broker in a worker thread, so parallel calls
  stay parallel and the event loop never blocks.
* ``wrap_model_call`` / ``awrap_model_call`` — before the model is called:
  stop if the session was interrupted or terminated, a stop was requested,
  or the step or token budget is spent, and deliver the developer's steering
  messages as ``HumanMessage``s. A stop that arrives *during* the call does
  not wait for the provider: the async call is cancelled (its connection is
  closed); the sync one runs in a helper thread that is left behind. The turn
  is recorded as abandoned and the loop ends. After the call: record a
  ``model_turn`` event (``turns.py``: O(1) per turn).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from ..session import Session
from ..toolapi import ToolCall
from .calls import (
    RAW_ARGS_KEY,
    MediatedTool,
    ProviderHistory,
    RawArgsCapture,
    model_facing_name,
    normalise_tool_calls,
    provider_form,
    result_content,
)
from .faults import describe_model_error
from .turns import MessageStore, TurnRecorder, expand_turns

__all__ = [
    "RAW_ARGS_KEY",
    "STOP_TEXT",
    "MediatedTool",
    "MessageStore",
    "OverseerMiddleware",
    "expand_turns",
    "model_facing_name",
    "normalise_tool_calls",
    "result_content",
]

StopReason = Literal[
    "interrupted", "terminated", "stop_requested", "max_steps", "max_tokens", "no_usage"
]
# How often a model call in flight looks for a stop.
MODEL_POLL_S = 0.1

STOP_TEXT: dict[str, str] = {
    "interrupted": "Stopped: the session was interrupted ({signal}).",
    "terminated": "Stopped: a person terminated the session.",
    "stop_requested": "Stopped: the session was asked to stop before the agent finished.",
    "max_steps": "Stopped: the step limit ({n} model turns) was reached before the agent finished.",
    "max_tokens": (
        "Stopped: the token budget ({budget} tokens, input and output) was spent "
        "({used} used) before the agent finished."
    ),
    "no_usage": (
        "Stopped: --max-tokens is set but the model reports no token usage, so the budget "
        "cannot be kept."
    ),
}


class _Abandoned(Exception):
    """A stop arrived while the model was answering; the answer is not awaited."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason)
        self.reason: StopReason = reason


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@dataclass
class EditTrace:
    """What a person's edit turned a call into, learned from the log."""

    args: Any = None
    ran: bool = False


@dataclass
class _Turn:
    """One model call being made: its number, the request (with steering) as
    the graph has it and as the provider is sent it, and its start time."""

    number: int
    request: ModelRequest
    sent: ModelRequest
    steering: list[HumanMessage]
    started: float


class OverseerMiddleware(AgentMiddleware):
    """Routes every tool call through the broker and records every model turn."""

    def __init__(
        self,
        session: Session,
        *,
        max_steps: int = 100,
        max_tokens: int | None = None,
        base_url: str | None = None,
        capture: RawArgsCapture | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.base_url = base_url  # named in connection errors when the SDK does not say
        self.capture = capture  # raw streamed arguments, when the model streams
        self.recorder = TurnRecorder(session)
        self.store = self.recorder.store
        self.turns = 0
        self.tool_calls = 0
        self.stop_reason: StopReason | None = None
        self.model_error: str | None = None  # how the last failed model call failed
        self.history = ProviderHistory()
        # model-facing tool name -> overseer's tool name (see model_facing_name)
        self.tool_names: dict[str, str] = {
            model_facing_name(name): name for name in session.registry.tools()
        }
        self._used_ids: set[str] = set()
        self._lock = threading.Lock()
        # Edits: a person may turn call X into X-e1 (and that into X-e2...);
        # the broker returns the final result only, so the log tells us.
        self._root: dict[str, str] = {}
        self._edits: dict[str, EditTrace] = {}
        self._subscribed = False

    @property
    def usage(self) -> dict[str, int]:
        return self.recorder.usage

    @property
    def last_text(self) -> str:
        return self.recorder.last_text

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

    # -- stopping ---------------------------------------------------------

    def _interrupted(self) -> StopReason | None:
        """A stop from outside (not a budget): ends even a model call in flight."""
        if self.session.interrupted:
            return "interrupted"
        if self.session.broker.terminated:
            return "terminated"
        if self.session.stop_requested.is_set():
            return "stop_requested"
        return None

    def _should_stop(self) -> StopReason | None:
        reason = self._interrupted()
        if reason is None and self.turns >= self.max_steps:
            return "max_steps"
        if reason is None and self.max_tokens is not None:
            if self.turns and not self.usage:
                return "no_usage"
            if self.recorder.tokens >= self.max_tokens:
                return "max_tokens"
        return reason

    def stop_text(self, reason: StopReason) -> str:
        return STOP_TEXT[reason].format(
            n=self.max_steps,
            budget=self.max_tokens,
            used=self.recorder.tokens,
            signal=self.session.interrupted or "a signal",
        )

    def _stop(self, reason: StopReason) -> ModelResponse:
        """A closing message without tool calls: it ends the loop."""
        self.stop_reason = reason
        text = self.stop_text(reason)
        data: dict[str, Any] = {"reason": reason, "turns": self.turns}
        if reason in ("max_tokens", "no_usage"):
            data.update(budget=self.max_tokens, used=self.recorder.tokens)
        self.session.notice("agent", text, **data)
        return ModelResponse(result=[AIMessage(content=text, id=_new_id("overseer-stop"))])

    # -- model turns ------------------------------------------------------

    def _begin(self, request: ModelRequest) -> _Turn | ModelResponse:
        """Before a model call: a stop response, or the turn to make."""
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
        # The provider is sent its replies in the form the model gave them.
        cleaned = self.history.apply(request.messages)
        sent = request if cleaned is None else request.override(messages=cleaned)  # type: ignore[arg-type]
        return _Turn(self.turns, request, sent, steering, time.monotonic())

    def _abandoned(self, turn: _Turn, reason: StopReason) -> ModelResponse:
        why = {
            "interrupted": f"interrupted by {self.session.interrupted}",
            "terminated": "terminated",
        }.get(reason, "asked to stop")
        self._record(turn, None, error=f"abandoned: the session was {why} mid-call")
        return self._stop(reason)

    def _failed(self, turn: _Turn, exc: BaseException) -> None:
        if self.capture is not None:
            self.capture.take()
        self.model_error = describe_model_error(exc, self.base_url)
        self._record(turn, None, error=self.model_error)

    def _finish(self, turn: _Turn, response: ModelResponse) -> ModelResponse:
        ai = next((m for m in response.result if isinstance(m, AIMessage)), None)
        if ai is not None:
            raw = self.capture.take() if self.capture is not None else None
            fixed = normalise_tool_calls(ai, raw)
            if fixed is not ai:
                response = ModelResponse(
                    result=[fixed if m is ai else m for m in response.result],
                    structured_response=response.structured_response,
                )
                # The graph keeps ``fixed`` (its calls reach the broker); the record
                # and later requests get what the model said. The reply will sit
                # right after this request in the next one.
                said = provider_form(ai, fixed)
                self.history.remember(len(turn.request.messages), fixed, said)
                ai = said
        self._record(turn, ai)
        if turn.steering:
            # Steering messages join the history just before the reply they led to,
            # so later turns (and the record) see them where the model saw them.
            response = ModelResponse(
                result=[*turn.steering, *response.result],
                structured_response=response.structured_response,
            )
        return response

    def _record(self, turn: _Turn, ai: AIMessage | None, error: str | None = None) -> None:
        request = turn.sent
        self.recorder.record(
            turn.number, request.messages, request.system_message, ai, turn.started, error
        )

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        turn = self._begin(request)
        if isinstance(turn, ModelResponse):
            return turn
        try:
            response = self._call_in_thread(handler, turn.sent)
        except _Abandoned as stop:
            return self._abandoned(turn, stop.reason)
        except KeyboardInterrupt:
            # Ctrl-C in the waiting thread: the turn is recorded before the run unwinds.
            self._record(turn, None, error="abandoned: interrupted (Ctrl-C) mid-call")
            raise
        except Exception as exc:
            self._failed(turn, exc)
            raise
        return self._finish(turn, response)

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        turn = self._begin(request)
        if isinstance(turn, ModelResponse):
            return turn
        task = asyncio.ensure_future(handler(turn.sent))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=MODEL_POLL_S)
                if done:
                    break
                reason = self._interrupted()
                if reason is not None:
                    task.cancel()
                    # The cancelled request closes its connection; do not wait long for it.
                    await asyncio.wait({task}, timeout=1.0)
                    return self._abandoned(turn, reason)
            response = task.result()
        except asyncio.CancelledError:
            task.cancel()
            self._record(turn, None, error="abandoned: the run was cancelled mid-call")
            raise
        except Exception as exc:
            self._failed(turn, exc)
            raise
        return self._finish(turn, response)

    def _call_in_thread(
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

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        # The broker blocks (policy, approval, the tool itself): a worker thread
        # keeps the event loop free, and parallel calls run side by side.
        return await asyncio.to_thread(self.wrap_tool_call, request, handler)  # type: ignore[arg-type]
