"""The LLM agent: a LangChain 1.x ``create_agent`` loop under overseer.

``LLMAgent(model, max_steps=100)`` takes a ``--model`` spec (``PROVIDER:MODEL``
or ``module:attr``, see ``models.py``) or a chat model object. ``run(session)``
exposes the session's tools to the model (name, description and JSON schema
of each overseer Tool), and runs the loop with ``OverseerMiddleware``: every
tool call goes through the session's broker, every model turn is recorded.
No checkpointer: the audit log is the record, and a checkpointer would
re-serialise the whole history at every step.
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.errors import GraphRecursionError

from ..errors import UsageError
from ..session import AgentOutcome, Session
from .middleware import STOP_TEXT, MediatedTool, OverseerMiddleware
from .models import load_model
from .prompt import build_system_prompt


class LLMAgent:
    """An LLM agent. The model is resolved when the agent is made, so a missing
    provider package or API key is a usage error before any session starts."""

    name = "llm"

    def __init__(self, model: str | BaseChatModel, max_steps: int = 100) -> None:
        if max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {max_steps}")
        if isinstance(model, BaseChatModel):
            self.chat_model = model
            self.model: str | None = (
                getattr(model, "model_name", None)
                or getattr(model, "model", None)
                or type(model).__name__
            )
        else:
            self.chat_model = load_model(model)
            self.model = model
        self.max_steps = max_steps
        self.middleware: OverseerMiddleware | None = None

    def build(self, session: Session) -> tuple[Any, OverseerMiddleware]:
        """The compiled agent graph for a session, and its middleware."""
        tools: list[MediatedTool] = []
        for name, tool in session.registry.tools().items():
            try:
                tools.append(MediatedTool.of(tool))
            except Exception as exc:  # noqa: BLE001 - one tool without a schema must not stop the run
                session.notice("tools", f"tool {name!r} not offered to the model: {exc}")
        middleware = OverseerMiddleware(session, max_steps=self.max_steps)
        graph = create_agent(
            self.chat_model,
            tools,
            system_prompt=build_system_prompt(
                str(session.workspace), (t.name for t in tools), self.max_steps
            ),
            middleware=[middleware],
        )
        return graph, middleware

    def run(self, session: Session) -> AgentOutcome:
        graph, mw = self.build(session)
        return self.run_graph(session, graph, mw)

    def run_graph(self, session: Session, graph: Any, mw: OverseerMiddleware) -> AgentOutcome:
        """Run a graph made by ``build`` (split from ``run`` so a benchmark can time the loop alone)."""
        self.middleware = mw
        task = HumanMessage(content=session.config.task, id=f"task-{uuid.uuid4().hex}")
        # Each turn is two graph steps (model, tools); the middleware stops the
        # loop at max_steps turns, the recursion limit is only a backstop.
        config: dict[str, Any] = {"recursion_limit": 2 * self.max_steps + 10}
        mw.start()
        try:
            graph.invoke({"messages": [task]}, config)
        except GraphRecursionError:
            mw.stop_reason = mw.stop_reason or "max_steps"
        finally:
            mw.close()
        return self._outcome(session, mw)

    def _outcome(self, session: Session, mw: OverseerMiddleware) -> AgentOutcome:
        data: dict[str, Any] = {"model_turns": mw.turns, "tool_calls": mw.tool_calls}
        if mw.usage:
            data["usage"] = dict(mw.usage)
        if mw.stop_reason is not None:
            data["stop"] = mw.stop_reason
        if session.broker.terminated or mw.stop_reason == "terminated":
            return AgentOutcome(status="terminated", final=STOP_TEXT["terminated"], data=data)
        if mw.stop_reason == "stop_requested":
            return AgentOutcome(status="terminated", final=STOP_TEXT["stop_requested"], data=data)
        if mw.stop_reason == "max_steps":
            final = STOP_TEXT["max_steps"].format(n=self.max_steps)
            if mw.last_text:
                final += f"\nThe model's last message was:\n{mw.last_text}"
            return AgentOutcome(status="failed", final=final, data=data)
        return AgentOutcome(status="completed", final=mw.last_text, data=data)
