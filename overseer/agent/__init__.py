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

        max_tokens = options.get("max_tokens")
        return LLMAgent(
            model,
            max_steps=int(options.get("max_steps", 100)),
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            base_url=options.get("base_url"),
        )
    for option in ("max_tokens", "base_url"):
        if options.get(option) is not None:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} is for the llm agent (with --model), not {spec}")
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
