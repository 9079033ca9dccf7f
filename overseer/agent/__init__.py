"""Agents: an LLM through LangChain, or the offline ones (bisect, script).

``make_agent(spec, ...)`` picks one: ``llm`` (needs ``--model``), ``bisect``,
or ``script:PLAN.json``. Every agent acts only through ``session.broker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..session import Agent


def make_agent(spec: str, *, model: str | None = None, **options: Any) -> Agent:
    if spec == "llm":
        if not model:
            raise UsageError("the llm agent needs --model PROVIDER:MODEL (or module:attr)")
        from .llm import LLMAgent

        return LLMAgent(model, max_steps=int(options.get("max_steps", 100)))
    if spec == "bisect":
        from .bisect import BisectAgent

        test = options.get("test")
        if not test:
            raise UsageError("the bisect agent needs --test COMMAND")
        return BisectAgent(test=test, good=options.get("good"), bad=options.get("bad") or "HEAD")
    if spec.startswith("script:"):
        from .script import ScriptAgent

        return ScriptAgent.from_file(Path(spec.removeprefix("script:")))
    raise UsageError(f"unknown agent {spec!r}; choose llm, bisect or script:PLAN.json")
