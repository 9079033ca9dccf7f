"""The Tool API: what every tool — built-in, plugin, LangChain, MCP — is.

A tool is a small class with a ``name``, a ``description``, a pydantic
``Args`` model and ``run(args, ctx) -> ToolResult``. Two optional methods
make it governable: ``facts(args, ctx)`` tells the policy what the call
touches (paths read and written, shell commands, network hosts, risk hints)
and ``preview(args, ctx)`` shows the approver what will happen (a diff, the
parsed command). Tools never see the broker, the policy or the log: they get
a ``ToolContext`` with exactly what they may use.

``@tool`` turns a typed function into a Tool: the signature becomes the
``Args`` model and the docstring the description.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from .events import ActionStatus

# runs_code: the call runs code from the workspace (a test runner, a bisect
# step); without a sandbox the policy asks whatever the rules say.
Risk = Literal["read_only", "destructive", "open_world", "privileged", "writes_tests", "runs_code"]


class Facts(BaseModel):
    """What a call touches: the input the policy judges."""

    model_config = ConfigDict(extra="forbid")

    reads: list[str] = Field(default_factory=list)
    writes: list[str] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list)  # shell source the policy parses
    network: list[str] = Field(default_factory=list)  # hosts or URLs; "*" = anywhere
    risk: list[Risk] = Field(default_factory=list)
    # The directory relative paths (and the shell's commands) start from, when
    # it is not the workspace: a persistent shell sends its current directory
    # so that `cat x` after an earlier `cd` is judged where it really runs.
    cwd: str | None = None
    # The sandbox the call's commands or code run in ("bwrap", "none"); None
    # when the tool runs no commands. Code from the workspace that would run
    # with no sandbox (test runners, interpreters, make) asks.
    sandbox: str | None = None


class ToolResult(BaseModel):
    """What a tool returns. ``output`` goes to the agent; ``data`` is structured."""

    status: ActionStatus = "ok"
    output: str = ""
    exit_code: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    output_size: int | None = None  # full size when ``output`` was already cut
    output_blob: str | None = None  # hash of the full output, if the tool stored it

    @classmethod
    def fail(cls, message: str, status: ActionStatus = "error", **data: Any) -> ToolResult:
        return cls(status=status, output=message, error=message, data=data)


@dataclass
class Sandbox:
    """How commands are confined. ``name`` is recorded on every action."""

    name: str = "none"  # none | bwrap
    reason: str = ""


@dataclass
class ToolContext:
    """What a running tool may use. Built by the broker for each call."""

    workspace: Path
    session_id: str
    call_id: str = ""
    sandbox: Sandbox = field(default_factory=Sandbox)
    network_allowed: bool = False  # the policy allowed network for this call
    timeout_s: float | None = None
    # Streams a chunk of output to whoever watches (UI, headless printer).
    stream: Callable[[str], None] = lambda _text: None
    # Stores bytes content-addressed in the log; returns their hash.
    store_blob: Callable[[bytes], str] | None = None
    # Asks the person a question through the session's approver channel.
    ask: Callable[[str, list[str]], str] | None = None
    # Per-session state shared by calls of the same tool (e.g. the persistent shell).
    state: dict[str, Any] = field(default_factory=dict)

    def resolve(self, path: str | Path) -> Path:
        """A path argument resolved against the workspace (symlinks resolved)."""
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = self.workspace / p
        return p.resolve()


class EmptyArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tool:
    """Base class of every tool. Subclass it, or use ``@tool`` on a function."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Args: ClassVar[type[BaseModel]] = EmptyArgs
    # Where the tool came from, for `overseer tools` (set by the registry).
    source: str = "python"

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        raise NotImplementedError(f"tool {self.name!r} does not implement run(args, ctx)")

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return Facts()

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        return None

    def close(self) -> None:
        """Release per-session resources (a shell, a server connection)."""

    def args_schema(self) -> dict[str, Any]:
        return self.Args.model_json_schema()


class FunctionTool(Tool):
    """A Tool made from a typed function by ``@tool``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        description: str | None = None,
        facts: Callable[..., Facts] | None = None,
        preview: Callable[..., str | None] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__  # type: ignore[misc]
        self.description = description or inspect.getdoc(fn) or ""  # type: ignore[misc]
        self._facts = facts
        self._preview = preview
        self._wants_ctx = "ctx" in inspect.signature(fn).parameters
        fields: dict[str, Any] = {}
        for pname, param in inspect.signature(fn).parameters.items():
            if pname == "ctx":
                continue
            ann = param.annotation if param.annotation is not inspect.Parameter.empty else Any
            default = param.default if param.default is not inspect.Parameter.empty else ...
            fields[pname] = (ann, default)
        self.Args = create_model(  # type: ignore[misc]
            f"{self.name}_args", __config__=ConfigDict(extra="forbid"), **fields
        )

    def _call(self, hook: Callable[..., Any], args: BaseModel, ctx: ToolContext) -> Any:
        kwargs = {k: getattr(args, k) for k in type(args).model_fields}
        if "ctx" in inspect.signature(hook).parameters:
            kwargs["ctx"] = ctx
        return hook(**kwargs)

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        out = self._call(self.fn, args, ctx)
        if isinstance(out, ToolResult):
            return out
        if isinstance(out, str):
            return ToolResult(output=out)
        return ToolResult(
            output=str(out), data={"value": out} if isinstance(out, dict | list) else {}
        )

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        return self._call(self._facts, args, ctx) if self._facts else Facts()

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        return self._call(self._preview, args, ctx) if self._preview else None


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    facts: Callable[..., Facts] | None = None,
    preview: Callable[..., str | None] | None = None,
) -> Any:
    """Decorate a typed function to make it a Tool.

    ``facts`` and ``preview``, when given, are called with the same keyword
    arguments as the function (plus ``ctx`` if they accept it).
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, facts=facts, preview=preview)

    return wrap(fn) if fn is not None else wrap


class ToolCall(BaseModel):
    """One proposed call, as the agent made it. ``args`` is raw: it may be anything."""

    id: str
    name: str
    args: Any = None
    source: str = "agent"  # agent | edit | rerun
    parent_call_id: str | None = None
