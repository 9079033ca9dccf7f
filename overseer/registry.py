"""Where a session's tools come from, all by one road: entry points.

Three entry-point groups, each declared in overseer's own pyproject for what
ships with it, so core never imports a tool or an integration:

- ``overseer.tools``: tools. Built-ins and plugins alike; ``--tool
  module:attr`` and a project's ``tools = [...]`` load Python objects the same
  way. An entry may be a Tool subclass, a Tool instance, a ``@tool``
  function, anything an adapter takes, or a zero-argument callable returning
  any of those or a list.
- ``overseer.tool_adapters``: ``adapter(obj) -> Tool | None`` turns a foreign
  tool object into a Tool (the LangChain adapter: any ``BaseTool``).
- ``overseer.tool_sources``: ``source(ctx: SourceContext) -> None`` adds tools
  when a session opens (the MCP source starts the project's servers). A
  source is handed a ``SourceContext`` — the registry, the project config,
  the workspace and three callbacks — never the session itself.

A plugin may also declare tools in the ``overseer.tools.opt_in`` group
(examples, tools that reach outside services): those are installed but not
offered to an agent until a session names them — ``--tool NAME`` or
``tools = ["NAME"]`` in the project config, a bare name where a Python tool
is ``module:attr``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import inspect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import UsageError
from .project import ProjectConfig
from .toolapi import Tool

ENTRY_POINT_GROUP = "overseer.tools"
OPT_IN_GROUP = "overseer.tools.opt_in"
ADAPTER_GROUP = "overseer.tool_adapters"
SOURCE_GROUP = "overseer.tool_sources"

Adapter = Callable[[Any], "Tool | None"]

# Observers started with every session and stopped at its end (the flag
# detector): ``make(session) -> observer``. Registered in-process by whoever
# wants them (importing ``overseer.audit`` installs the flag observer); kept
# here, below the session, so an observer's module never imports the session.
SESSION_OBSERVERS: list[Callable[[Any], Any]] = []


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class SourceContext:
    """What a tool source gets to add its tools to one session."""

    registry: Registry
    project: ProjectConfig
    workspace: Path
    # notice(message, **data): recorded in the session under the source's name.
    notice: Callable[..., None] = lambda message, **data: None
    # keep(obj): obj.stop() is called when the session ends (a server hub...).
    keep: Callable[[Stoppable], None] = lambda obj: None
    # withdraw(name): the tool went away mid-session; it is offered no more.
    withdraw: Callable[[str], None] = lambda name: None


ToolSource = Callable[[SourceContext], None]

_adapters: list[tuple[str, Adapter]] | None = None
_adapter_problems: list[str] = []
_adapters_lock = threading.Lock()


def adapters() -> list[tuple[str, Adapter]]:
    """The installed tool adapters (loaded once per process), by entry-point name."""
    global _adapters
    with _adapters_lock:
        if _adapters is None:
            loaded: list[tuple[str, Adapter]] = []
            for ep in md.entry_points(group=ADAPTER_GROUP):
                try:
                    loaded.append((ep.name, ep.load()))
                except Exception as exc:  # noqa: BLE001 - one broken adapter must not stop the rest
                    _adapter_problems.append(f"tool adapter {ep.name!r} failed to load: {exc}")
            _adapters = loaded
        return _adapters


def tool_sources() -> list[tuple[str, ToolSource | None, str]]:
    """The installed tool sources: ``(name, source or None, why it failed to load)``."""
    out: list[tuple[str, ToolSource | None, str]] = []
    for ep in md.entry_points(group=SOURCE_GROUP):
        try:
            out.append((ep.name, ep.load(), ""))
        except Exception as exc:  # noqa: BLE001 - reported by the caller, the rest still load
            out.append((ep.name, None, str(exc)))
    return out


def _adapt(obj: Any, where: str) -> list[Tool]:
    if isinstance(obj, Tool):
        return [obj]
    if inspect.isclass(obj) and issubclass(obj, Tool):
        return [obj()]
    for _name, adapter in adapters():
        tool = adapter(obj)
        if tool is not None:
            return [tool]
    if isinstance(obj, list | tuple):
        return [t for item in obj for t in _adapt(item, where)]
    if callable(obj):
        try:
            produced = obj()
        except TypeError as exc:
            raise UsageError(f"{where}: calling it to get tools failed ({exc})") from exc
        return _adapt(produced, where)
    raise UsageError(
        f"{where} is a {type(obj).__name__}, not a tool: expected an overseer Tool (class or "
        "instance), a @overseer.tool function, a LangChain BaseTool, or a factory returning them"
    )


def load_object(spec: str) -> Any:
    """Import ``module:attr`` (``module.attr`` also accepted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise UsageError(f"{spec!r} is not module:attr")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r} for {spec!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise UsageError(f"{module_name!r} has no attribute {attr!r} (from {spec!r})") from exc
    return obj


@dataclass
class ToolSpec:
    tool: Tool
    source: str  # builtin | plugin:<dist> | python | langchain | mcp:<server>


@dataclass
class Registry:
    """The tools of one session, by name."""

    specs: dict[str, ToolSpec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, tool: Tool, source: str | None = None) -> None:
        name = tool.name
        if not name:
            raise UsageError(f"tool {tool!r} has no name")
        src: str = source or str(getattr(tool, "source", None) or "python")
        tool.source = src
        if name in self.specs and self.specs[name].source != src:
            self.problems.append(
                f"tool {name!r} from {src} replaces the one from {self.specs[name].source}"
            )
        self.specs[name] = ToolSpec(tool, src)

    def add_object(self, obj: Any, where: str, source: str) -> None:
        for tool in _adapt(obj, where):
            self.add(
                tool,
                source
                if not getattr(tool, "source", "python").startswith(("langchain", "mcp"))
                else tool.source,
            )

    def add_spec(self, spec: str, source: str = "python") -> None:
        if spec.isidentifier():  # a bare name: an opt-in plugin tool
            self.add_opt_in(spec)
            return
        self.add_object(load_object(spec), spec, source)

    def add_opt_in(self, name: str) -> None:
        """Load the opt-in plugin tool ``name`` (a session named it)."""
        eps = opt_in_entry_points()
        ep = eps.get(name)
        if ep is None:
            known = f" (installed: {', '.join(sorted(eps))})" if eps else ""
            raise UsageError(
                f"no opt-in plugin tool named {name!r} is installed{known}; "
                "a Python tool is given as module:attr"
            )
        dist = ep.dist.name if ep.dist else "unknown"
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - asked for by name: a usage error, said why
            raise UsageError(f"opt-in tool {name!r} from {dist} failed to load: {exc}") from exc
        self.add_object(obj, f"entry point {name} ({ep.value})", f"plugin:{dist}")

    def load_entry_points(self, only: Iterable[str] | None = None) -> None:
        wanted = set(only) if only is not None else None
        adapters()  # loaded once per process; a broken one is said in every session
        self.problems.extend(p for p in _adapter_problems if p not in self.problems)
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            dist = ep.dist.name if ep.dist else "unknown"
            source = "builtin" if dist == "overseer" else f"plugin:{dist}"
            try:
                obj = ep.load()
                self.add_object(obj, f"entry point {ep.name} ({ep.value})", source)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the session
                self.problems.append(f"plugin tool {ep.name!r} from {dist} failed to load: {exc}")

    def load_sources(
        self,
        project: ProjectConfig,
        workspace: Path,
        *,
        notice: Callable[..., None] | None = None,
        keep: Callable[[Stoppable], None] | None = None,
        withdraw: Callable[[str], None] | None = None,
    ) -> None:
        """Let every installed tool source add its tools. ``notice(topic,
        message, **data)`` reports what a source says, under its name; a source
        that fails is a problem, and the others still load."""
        for name, source, failure in tool_sources():
            if source is None:
                self.problems.append(f"tool source {name!r} failed to load: {failure}")
                continue

            ctx = SourceContext(
                self,
                project,
                workspace,
                notice=functools.partial(notice, name) if notice else _ignore,
                keep=keep or _ignore,
                withdraw=withdraw or _ignore,
            )
            try:
                source(ctx)
            except Exception as exc:  # noqa: BLE001 - an integration failing must not stop the session
                self.problems.append(f"tool source {name!r} failed: {exc}")

    def tools(self) -> dict[str, Tool]:
        return {name: spec.tool for name, spec in self.specs.items()}

    def remove(self, name: str) -> None:
        self.specs.pop(name, None)


def opt_in_entry_points() -> dict[str, md.EntryPoint]:
    """The installed opt-in tools by entry-point name (offered only when named)."""
    return {ep.name: ep for ep in md.entry_points(group=OPT_IN_GROUP)}


def _ignore(*_args: Any, **_data: Any) -> None:
    return None


def default_registry(extra: Iterable[str] = ()) -> Registry:
    reg = Registry()
    reg.load_entry_points()
    for spec in extra:
        reg.add_spec(spec)
    return reg
