"""Any LangChain ``BaseTool`` as an overseer Tool, mediated like the built-ins.

``adapt_langchain`` is the ``langchain`` entry point in ``overseer.tool_adapters``, so a
``--tool module:attr``, a project's ``tools = [...]`` entry or a plugin entry
point that names a LangChain tool (a ``langchain_community`` tool, a
``@langchain_core.tools.tool`` function, an MCP tool from
langchain-mcp-adapters) is wrapped by ``LangChainTool``:

- its ``Args`` model comes from the tool's ``tool_call_schema`` (the
  arguments a model supplies; injected ones are left out) with unknown keys
  refused, so the broker validates the call before the policy sees it;
- its facts come from ``facts=`` / ``risk=`` given to ``wrap``, or, for the
  file-management and shell tools of langchain-community, from what their
  arguments name (paths resolved the way the tool resolves them), so path and
  shell rules judge them like ``read_file`` or ``shell``;
- it runs with ``tool.invoke(tool_call)``; an exception or an error
  ``ToolMessage`` comes back as a tool error, never as a crash.

This module does not import LangChain until it sees a LangChain object.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import UsageError
from ..toolapi import Facts, Risk, Tool, ToolContext, ToolResult
from .schema import SchemaArgs, SchemaConversionError, model_from_schema, payload

SOURCE = "langchain"
# Structured results larger than this stay out of the log (the text output is bounded by the broker).
MAX_DATA_CHARS = 64 * 1024


def is_langchain_tool(obj: Any) -> bool:
    """True for a ``langchain_core.tools.BaseTool`` instance. No import: if
    the object is one, langchain_core is already loaded."""
    tools_mod = sys.modules.get("langchain_core.tools")
    base = getattr(tools_mod, "BaseTool", None) if tools_mod is not None else None
    return base is not None and isinstance(obj, base)


def args_model(lc_tool: Any, name: str) -> type[BaseModel]:
    """A pydantic ``Args`` model with the tool's arguments and ``extra="forbid"``."""
    schema = lc_tool.tool_call_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        # A subclass keeps the tool's own field types and validators; only
        # unknown keys are refused on top of them.
        config = ConfigDict(**{**schema.model_config, "extra": "forbid"})  # type: ignore[typeddict-item]
        return type(f"{name}_args", (schema,), {"model_config": config, "__module__": __name__})
    if isinstance(schema, dict):
        return model_from_schema(name, schema, description=lc_tool.description or "")
    # A pydantic v1 model (older community tools): go through its JSON Schema.
    to_schema = getattr(schema, "schema", None)
    if callable(to_schema):
        return model_from_schema(name, to_schema(), description=lc_tool.description or "")
    raise SchemaConversionError(
        f"cannot read the argument schema of LangChain tool {name!r} ({schema!r})"
    )


def render_content(content: Any) -> str:
    """A ToolMessage's content as text: text blocks joined, other blocks named."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict):
                kind = block.get("type", "block")
                mime = block.get("mime_type") or block.get("mimeType") or ""
                where = block.get("url") or ""
                size = len(str(block.get("base64") or block.get("data") or ""))
                detail = ", ".join(
                    x for x in (mime, str(where), f"{size} base64 chars" if size else "") if x
                )
                parts.append(f"[{kind}{': ' + detail if detail else ''}]")
            else:
                parts.append(str(block))
        return "\n".join(parts)
    if content is None:
        return ""
    try:
        return json.dumps(content, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(content)


def result_from_output(out: Any) -> ToolResult:
    """A ToolResult from what ``BaseTool.invoke(tool_call)`` returned."""
    messages_mod = sys.modules.get("langchain_core.messages")
    tool_message = getattr(messages_mod, "ToolMessage", None)
    if tool_message is not None and isinstance(out, tool_message):
        text = render_content(out.content)
        data: dict[str, Any] = {}
        artifact = getattr(out, "artifact", None)
        if artifact is not None:
            structured = (
                artifact.get("structured_content", artifact)
                if isinstance(artifact, dict)
                else artifact
            )
            try:
                encoded = json.dumps(structured, ensure_ascii=False)
            except (TypeError, ValueError):
                encoded = None
            # data goes into the log as is: keep it bounded like the output.
            if encoded is not None and len(encoded) <= MAX_DATA_CHARS:
                data["structured"] = structured
            else:
                size = len(encoded) if encoded is not None else None
                data["artifact"] = {
                    "omitted": True,
                    "chars": size,
                    "type": type(structured).__name__,
                }
        if getattr(out, "status", "success") == "error":
            return ToolResult(
                status="error", output=text, error=text or "the tool reported an error", data=data
            )
        return ToolResult(output=text, data=data)
    return ToolResult(output=render_content(out))


# -- facts for the langchain-community tools that touch files or run commands


def _base_dir(lc_tool: Any) -> Path:
    # These tools resolve relative paths against root_dir, else the process's
    # working directory — not necessarily the workspace; the policy must judge
    # the file the tool will really open.
    root = getattr(lc_tool, "root_dir", None)
    return Path(root).expanduser().resolve() if root else Path(os.getcwd())


def _path(lc_tool: Any, value: Any) -> str:
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else _base_dir(lc_tool) / p)


def _community_facts(lc_tool: Any, args: dict[str, Any]) -> Facts | None:
    kind = type(lc_tool).__name__
    p = lambda key: _path(lc_tool, args.get(key) or ".")  # noqa: E731
    if kind in ("ReadFileTool",):
        return Facts(reads=[p("file_path")], risk=["read_only"])
    if kind in ("ListDirectoryTool", "FileSearchTool"):
        return Facts(reads=[p("dir_path")], risk=["read_only"])
    if kind in ("WriteFileTool", "DeleteFileTool"):
        return Facts(
            writes=[p("file_path")], risk=["destructive"] if kind == "DeleteFileTool" else []
        )
    if kind == "CopyFileTool":
        return Facts(reads=[p("source_path")], writes=[p("destination_path")])
    if kind == "MoveFileTool":
        return Facts(writes=[p("source_path"), p("destination_path")])
    if kind == "ShellTool":
        commands = args.get("commands")
        listed = commands if isinstance(commands, list) else [commands]
        return Facts(commands=[str(c) for c in listed if c])
    return None


class LangChainTool(Tool):
    """A LangChain ``BaseTool`` behind the overseer Tool API."""

    def __init__(
        self,
        lc_tool: Any,
        *,
        name: str | None = None,
        facts: Callable[[dict[str, Any], ToolContext], Facts] | None = None,
        risk: list[Risk] | None = None,
        preview: Callable[[dict[str, Any], ToolContext], str | None] | None = None,
        source: str = SOURCE,
    ) -> None:
        self.lc_tool = lc_tool
        self.name = name or lc_tool.name  # type: ignore[misc]
        self.description = lc_tool.description or ""  # type: ignore[misc]
        self.Args = args_model(lc_tool, self.name)  # type: ignore[misc]
        self.source = source
        self._facts = facts
        self._risk: list[Risk] = list(risk or [])
        self._preview = preview

    def arguments(self, args: BaseModel) -> dict[str, Any]:
        """What the LangChain tool is invoked with (its own argument names)."""
        if isinstance(args, SchemaArgs):
            return payload(args)
        return args.model_dump(by_alias=True)

    def default_facts(self) -> Facts:
        """Facts known without arguments (for `overseer tools`)."""
        return Facts(risk=list(self._risk))

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        kwargs = self.arguments(args)
        if self._facts is not None:
            found = self._facts(kwargs, ctx)
        else:
            found = _community_facts(self.lc_tool, kwargs) or Facts()
        if self._risk:
            found = found.model_copy(
                update={"risk": list(dict.fromkeys([*found.risk, *self._risk]))}
            )
        return found

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        if self._preview is not None:
            return self._preview(self.arguments(args), ctx)
        return None

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        call = {
            "type": "tool_call",
            "id": ctx.call_id or "call",
            "name": self.lc_tool.name,
            "args": self.arguments(args),
        }
        try:
            out = self.lc_tool.invoke(call)
        except Exception as exc:  # noqa: BLE001 - a LangChain tool's failure is the agent's tool error
            return ToolResult.fail(f"{self.name} failed: {type(exc).__name__}: {exc}")
        return result_from_output(out)


def wrap(
    lc_tool: Any,
    *,
    name: str | None = None,
    facts: Callable[[dict[str, Any], ToolContext], Facts] | None = None,
    risk: list[Risk] | None = None,
    preview: Callable[[dict[str, Any], ToolContext], str | None] | None = None,
) -> LangChainTool:
    """Wrap a LangChain tool, optionally saying what it touches.

    ``facts(args, ctx)`` and ``preview(args, ctx)`` get the call's arguments
    as a dict; ``risk`` adds hints (``"read_only"``, ``"destructive"``,
    ``"open_world"``) that the policy uses when no rule names the tool::

        search = wrap(DuckDuckGoSearchRun(), risk=["open_world"])
    """
    return LangChainTool(lc_tool, name=name, facts=facts, risk=risk, preview=preview)


def adapt_langchain(obj: Any) -> Tool | None:
    """Registry adapter: a LangChain ``BaseTool`` -> ``LangChainTool``."""
    if not is_langchain_tool(obj):
        return None
    try:
        return LangChainTool(obj)
    except SchemaConversionError as exc:
        raise UsageError(
            f"LangChain tool {getattr(obj, 'name', obj)!r} cannot be mediated: {exc}"
        ) from exc
