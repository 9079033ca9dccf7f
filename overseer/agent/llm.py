"""The LLM agent: a LangChain 1.x ``create_agent`` loop under overseer.

``LLMAgent(model, max_steps=100, max_tokens=None)`` takes a ``--model`` spec
(``PROVIDER:MODEL`` or ``module:attr``, with options; see ``models.py``) or a
chat model object. ``run(session)`` exposes the session's tools to the model
(name, description and JSON schema of each overseer Tool), and runs the loop
with ``OverseerMiddleware``: every tool call goes through the session's
broker, every model turn is recorded.

The loop runs on asyncio (``graph.ainvoke``), so the providers' async clients
make the requests and a stop cancels a request in flight instead of leaving
a thread waiting on it; the broker runs in worker threads. It runs in the
thread that calls ``run`` (the TUI's agent worker, or the main thread when
headless), so nothing blocks the UI's event loop. A caller that is already
inside an event loop gets the sync loop instead.

No checkpointer: the audit log is the record, and a checkpointer would
re-serialise the whole history at every step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langgraph.errors import GraphRecursionError

from ..errors import UsageError
from ..session import AgentOutcome, Session
from .calls import RawArgsCapture
from .faults import RetryRecorder
from .middleware import MediatedTool, OverseerMiddleware
from .models import load_model
from .prompt import build_system_prompt
from .spec import parse_spec

# Stops that are a person's or a signal's doing (terminated), and budget stops (failed).
_TERMINATED = ("interrupted", "terminated", "stop_requested")


def _base_url_of(model: BaseChatModel) -> str | None:
    for attr in ("openai_api_base", "anthropic_api_url", "base_url"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return None


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each job in a daemon thread of its own.

    The loop's default executor (``asyncio.to_thread``: the broker's calls; a
    chat model without async support) must not keep the process alive, or
    make the loop's shutdown wait, for a job nobody waits on any more: a
    model call abandoned because the session was stopped."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
                future.set_exception(exc)

        threading.Thread(target=job, name="agent-worker", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: the threads are daemons, each gone with its job."""


def run_loop(coro: Any) -> Any:
    """``asyncio.run`` with a default executor that never holds the loop up."""
    loop = asyncio.new_event_loop()
    loop.set_default_executor(DaemonExecutor())
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class LLMAgent:
    """An LLM agent. The model is resolved when the agent is made, so a missing
    provider package or API key is a usage error before any session starts."""

    name = "llm"

    def __init__(
        self,
        model: str | BaseChatModel,
        max_steps: int = 100,
        *,
        max_tokens: int | None = None,
        base_url: str | None = None,
        use_async: bool = True,
    ) -> None:
        if max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {max_steps}")
        if max_tokens is not None and max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, got {max_tokens}")
        if isinstance(model, BaseChatModel):
            self.chat_model = model
            self.model: str | None = (
                getattr(model, "model_name", None)
                or getattr(model, "model", None)
                or type(model).__name__
            )
        else:
            self.chat_model = load_model(model, base_url=base_url)
            self.model = parse_spec(model).text
        self.max_steps = max_steps
        self.max_tokens = max_tokens
        self.base_url = base_url or _base_url_of(self.chat_model)
        self.use_async = use_async
        self.middleware: OverseerMiddleware | None = None

    @property
    def streaming(self) -> bool:
        return bool(getattr(self.chat_model, "streaming", False))

    def build(self, session: Session) -> tuple[Any, OverseerMiddleware]:
        """The compiled agent graph for a session, and its middleware."""
        tools: list[MediatedTool] = []
        for name, tool in session.registry.tools().items():
            try:
                tools.append(MediatedTool.of(tool))
            except Exception as exc:  # noqa: BLE001 - one tool without a schema must not stop the run
                session.notice("tools", f"tool {name!r} not offered to the model: {exc}")
        middleware = OverseerMiddleware(
            session,
            max_steps=self.max_steps,
            max_tokens=self.max_tokens,
            base_url=self.base_url,
            capture=RawArgsCapture() if self.streaming else None,
        )
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
        if mw.capture is not None:
            config["callbacks"] = [mw.capture]
        retries = RetryRecorder(
            lambda message, data: session.notice("model", message, **data)
        ).install()
        mw.start()
        try:
            self._invoke(graph, {"messages": [task]}, config)
        except GraphRecursionError:
            mw.stop_reason = mw.stop_reason or "max_steps"
        except Exception:
            if mw.model_error is None:
                raise
            return self._outcome(session, mw, failed=f"the model call failed: {mw.model_error}")
        finally:
            mw.close()
            retries.remove()
        return self._outcome(session, mw)

    def _invoke(self, graph: Any, state: dict[str, Any], config: dict[str, Any]) -> None:
        if self.use_async:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                run_loop(graph.ainvoke(state, config))
                return
        graph.invoke(state, config)

    def _outcome(
        self, session: Session, mw: OverseerMiddleware, failed: str | None = None
    ) -> AgentOutcome:
        data: dict[str, Any] = {"model_turns": mw.turns, "tool_calls": mw.tool_calls}
        if mw.usage:
            data["usage"] = dict(mw.usage)
        if self.max_tokens is not None:
            data["max_tokens"] = self.max_tokens
        if mw.stop_reason is not None:
            data["stop"] = mw.stop_reason
        if failed is not None:
            data["error"] = mw.model_error
            return AgentOutcome(status="failed", final=failed, data=data)
        if session.broker.terminated or mw.stop_reason in _TERMINATED:
            reason = mw.stop_reason if mw.stop_reason in _TERMINATED else "terminated"
            return AgentOutcome(status="terminated", final=mw.stop_text(reason), data=data)  # type: ignore[arg-type]
        if mw.stop_reason is not None:
            final = mw.stop_text(mw.stop_reason)
            if mw.last_text:
                final += f"\nThe model's last message was:\n{mw.last_text}"
            return AgentOutcome(status="failed", final=final, data=data)
        return AgentOutcome(status="completed", final=mw.last_text, data=data)
