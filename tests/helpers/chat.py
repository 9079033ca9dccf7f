"""A scripted tool-calling chat model for tests and benchmarks.

``ScriptedChatModel`` is a real LangChain ``BaseChatModel``: ``create_agent``
binds tools to it (``bind_tools``) and calls it like any provider's model.
Its replies are a script of ``AIMessage``s (with ``tool_calls``) or callables
that build the reply from the messages the model was sent, so a test can
react to what the agent loop delivered (a tool error, a steering message).
It records every request it saw, so a test can assert on what reached the
model and when.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

Reply = AIMessage | Callable[[list[BaseMessage]], AIMessage]

_ids = itertools.count(1)


def call(name: str, args: Any, id: str | None = None) -> dict[str, Any]:
    """One tool call as a model emits it (``args`` may be anything a model could send)."""
    return {"name": name, "args": args, "id": id or f"call_{next(_ids)}", "type": "tool_call"}


def tool_calls(*calls: dict[str, Any], text: str = "") -> AIMessage:
    """An assistant turn that makes the given tool calls."""
    return AIMessage(content=text, tool_calls=list(calls))


def bad_json_call(name: str, raw: str, id: str | None = None, text: str = "") -> AIMessage:
    """A turn whose tool-call arguments are not even JSON (a provider's ``invalid_tool_calls``)."""
    return AIMessage(
        content=text,
        invalid_tool_calls=[
            {
                "name": name,
                "args": raw,
                "id": id or f"call_{next(_ids)}",
                "error": "bad json",
                "type": "invalid_tool_call",
            }
        ],
    )


def final(text: str) -> AIMessage:
    """The closing turn: text and no tool calls."""
    return AIMessage(content=text)


def last_tool_messages(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    """The tool results that follow the last assistant turn."""
    out: list[ToolMessage] = []
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            out.append(m)
        elif isinstance(m, AIMessage):
            break
    return list(reversed(out))


class ScriptedChatModel(BaseChatModel):
    """Replies from a script. When the script runs out it answers ``exhausted``
    (a plain final message), so a loop that asks too often ends visibly."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    exhausted: str = "script exhausted"
    # Copy each scripted reply, so one AIMessage may be reused and the
    # agent loop's edits (ids, rewritten tool calls) never leak into the script.
    copy_replies: bool = True

    _seen: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _pos: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def seen(self) -> list[list[BaseMessage]]:
        """The messages of each request, in order (system message included)."""
        return self._seen

    @property
    def bound_tools(self) -> list[dict[str, Any]]:
        """The tool schemas last bound with ``bind_tools`` (OpenAI format)."""
        return self._bound

    @property
    def calls(self) -> int:
        return len(self._seen)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        # Converting the tools exercises the same schema path a provider uses.
        formatted = [convert_to_openai_tool(t) for t in tools]
        self._bound = formatted
        return self.bind(tools=formatted, **kwargs)

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            self._seen.append(list(messages))
            if self._pos >= len(self.script):
                return AIMessage(content=self.exhausted)
            reply = self.script[self._pos]
            self._pos += 1
        msg = reply(list(messages)) if callable(reply) else reply
        if not isinstance(msg, AIMessage):
            raise TypeError(f"a scripted reply must be an AIMessage, got {type(msg).__name__}")
        return msg.model_copy(deep=True) if self.copy_replies else msg

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])
