"""MCP servers as overseer tools, through langchain-mcp-adapters.

A project names its servers in its config (``[mcp.servers.NAME]``: ``command``
+ ``args``/``env``/``cwd`` for stdio, or ``url`` for streamable HTTP). For a
session, ``MCPHub`` starts every server once, lists its tools with
``load_mcp_tools(session)`` and offers each as a Tool named
``mcp:NAME:tool`` — the name the log and policy rules use.

MCP is async and the broker is not: the hub runs one asyncio event loop in a
background thread, and that loop owns every client session for the whole run
(one session per server, not one per call). The broker's thread hands a call
over with ``asyncio.run_coroutine_threadsafe`` and waits, with a timeout on
every call.

The server's tool annotations become risk hints in the call's facts
(``readOnlyHint`` -> ``read_only``; otherwise ``destructive`` and
``open_world`` unless the server says ``false``, as the MCP spec defaults
them), which the policy uses only when no rule matches the call. They are the
server's own claims: a rule in the user's policy always wins.

A server that fails to start, exits, stops answering or answers with
malformed data is reported with a notice (stderr tail included); its tools
are removed from the run and the session goes on.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from ..project import MCPServerConfig
from ..toolapi import Facts, Risk, Tool, ToolContext, ToolResult
from .langchain_tools import result_from_output
from .schema import SchemaConversionError, model_from_schema, payload

if TYPE_CHECKING:
    from ..registry import SourceContext

# The SDK logs unparsable server output with a traceback; the hub reports it
# as a notice instead, so the library's records stay off the terminal.
logging.getLogger("mcp").addHandler(logging.NullHandler())

PING_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0
STDERR_TAIL = 4000
STDERR_LINES = 12
_ENV_REF = re.compile(r"\$\{([^}]+)\}")

Notice = Callable[..., None]  # notice(message, **data)
ServerStatus = Literal["starting", "ready", "failed", "gone", "stopped"]


def tool_name(server: str, tool: str) -> str:
    """The name a server's tool has in overseer: the log, policy rules, the agent."""
    return f"mcp:{server}:{tool}"


def risk_from_annotations(annotations: dict[str, Any] | None) -> list[Risk]:
    """Risk hints from MCP tool annotations, with the MCP spec's defaults:
    a tool not marked read-only may be destructive and open-world unless the
    server says otherwise."""
    ann = annotations or {}
    if ann.get("readOnlyHint") is True:
        # openWorldHint also defaults to true: a read-only tool that reaches
        # the outside world (a fetcher) can still leak data, so it is not
        # "read_only" alone unless the server says it is closed-world.
        return ["read_only"] if ann.get("openWorldHint") is False else ["read_only", "open_world"]
    risk: list[Risk] = []
    if ann.get("destructiveHint") is not False:
        risk.append("destructive")
    if ann.get("openWorldHint") is not False:
        risk.append("open_world")
    return risk


def _expand(value: str) -> str:
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), m.group(0)), value)


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    exc = _leaf(exc)
    if type(exc).__name__ == "McpError" and "connection closed" in str(exc).lower():
        return "the server closed the connection (its process exited?)"
    if isinstance(exc, FileNotFoundError):
        return f"command not found ({exc.filename or exc})"
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, OSError) else f"{type(exc).__name__}: {text}"


@dataclass
class _Server:
    """One configured server and the state of its single session."""

    name: str
    config: MCPServerConfig
    status: ServerStatus = "starting"
    error: str = ""
    session: Any = None  # mcp.ClientSession, owned by the hub's loop
    lc_tools: dict[str, Any] = field(default_factory=dict)  # MCP tool name -> LangChain tool
    tools: list[MCPTool] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: asyncio.Event | None = None
    holder: concurrent.futures.Future[None] | None = None
    inflight: set[concurrent.futures.Future[Any]] = field(default_factory=set)
    stderr: IO[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stderr_tail(self) -> str:
        if self.stderr is None:
            return ""
        try:
            self.stderr.flush()
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - STDERR_TAIL))
            lines = self.stderr.read().strip().splitlines()
            return "\n".join(lines[-STDERR_LINES:])
        except (OSError, ValueError):
            return ""


class MCPTool(Tool):
    """One tool of an MCP server. Runs through the hub's session for that server."""

    def __init__(self, hub: MCPHub, server: str, lc_tool: Any) -> None:
        self.hub = hub
        self.server = server
        self.mcp_name: str = lc_tool.name
        self.name = tool_name(server, lc_tool.name)  # type: ignore[misc]
        self.description = lc_tool.description or ""  # type: ignore[misc]
        self.source = f"mcp:{server}"
        self.annotations: dict[str, Any] = {
            k: v for k, v in (lc_tool.metadata or {}).items() if k.endswith("Hint") or k == "title"
        }
        self.risk = risk_from_annotations(self.annotations)
        self.Args = model_from_schema(self.name, lc_tool.args_schema, description=self.description)  # type: ignore[misc]

    def default_facts(self) -> Facts:
        return Facts(risk=list(self.risk))

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        # What an MCP tool touches is known only to its server; the hints are
        # what it says about itself. The broker's guard still scans the args.
        return Facts(risk=list(self.risk))

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        import json

        hints = ", ".join(self.risk) or "none"
        body = json.dumps(
            payload(args) if isinstance(args, BaseModel) else args, indent=2, ensure_ascii=False
        )
        return f"MCP server {self.server!r}, tool {self.mcp_name!r} (hints: {hints})\n{body}"

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        return self.hub.call(self.server, self.mcp_name, payload(args), ctx.call_id)

    def close(self) -> None:
        self.hub.stop()


_LIVE_HUBS: weakref.WeakSet[MCPHub] = weakref.WeakSet()


@atexit.register
def _stop_live_hubs() -> None:
    # A session that never ended (a crash before Session.end) must not leave
    # server processes behind.
    for hub in list(_LIVE_HUBS):
        hub.stop()


class MCPHub:
    """Owns the event-loop thread and one client session per configured server.

    ``notice(message, **data)`` reports problems (a session records them as
    ``notice`` events); ``on_vanish(tool_names, reason)`` is told when a
    running server's tools must leave the run.
    """

    def __init__(
        self,
        servers: dict[str, MCPServerConfig],
        workspace: Path,
        *,
        notice: Notice | None = None,
        on_vanish: Callable[[list[str], str], None] | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.servers = {name: _Server(name, cfg) for name, cfg in servers.items()}
        self.notice: Notice = notice or (lambda message, **data: None)
        self.on_vanish = on_vanish or (lambda names, reason: None)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    # -- starting ---------------------------------------------------------

    def start(self) -> list[MCPTool]:
        """Start every server (in parallel) and return the tools of those that came up."""
        if not self.servers:
            return []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="overseer-mcp", daemon=True
        )
        self.thread.start()
        _LIVE_HUBS.add(self)
        for server in self.servers.values():
            server.holder = asyncio.run_coroutine_threadsafe(self._hold(server), self.loop)
        tools: list[MCPTool] = []
        began = time.monotonic()
        for server in self.servers.values():
            # Servers start in parallel: each gets its own timeout from the common start.
            left = server.config.startup_timeout - (time.monotonic() - began)
            if not server.ready.wait(max(0.0, left)):
                self._fail(server, f"did not start within {server.config.startup_timeout:g} s")
                self._request_stop(server)
                continue
            if server.status == "ready":
                tools += server.tools
        return tools

    def _fail(self, server: _Server, reason: str) -> None:
        with server.lock:
            if server.status != "starting":
                return
            server.status = "failed"
            server.error = reason
        tail = server.stderr_tail()
        cfg = server.config
        where = f"`{' '.join([cfg.command, *cfg.args])}`" if cfg.command else cfg.url
        message = f"MCP server {server.name!r} ({where}) failed to start: {reason}; its tools are not available in this run"
        if tail:
            message += f"\n--- its stderr (last lines) ---\n{tail}"
        self.notice(message, server=server.name, reason=reason, stderr=tail)
        server.ready.set()

    def _stdio_params(self, cfg: MCPServerConfig) -> Any:
        from mcp import StdioServerParameters

        command = cfg.command or ""
        if command in ("python", "python3"):
            # "python" means the interpreter overseer runs in, so a server
            # installed next to overseer (its venv) is found without activating it.
            command = sys.executable
        elif os.sep not in command and shutil.which(command) is None:
            beside = Path(sys.executable).parent / command
            if beside.exists():
                command = str(beside)
        cwd = self.workspace
        if cfg.cwd:
            cwd = (self.workspace / Path(cfg.cwd).expanduser()).resolve()
        env = {k: _expand(v) for k, v in cfg.env.items()} if cfg.env else None
        return StdioServerParameters(command=command, args=list(cfg.args), env=env, cwd=str(cwd))

    async def _hold(self, server: _Server) -> None:
        """Open the server's session, keep it open until stop, close it in the
        same task (the MCP SDK's cancel scopes require that)."""
        from langchain_mcp_adapters.tools import load_mcp_tools
        from mcp import ClientSession
        from mcp.client.stdio import stdio_client

        cfg = server.config
        server.stop = asyncio.Event()
        read_timeout = timedelta(seconds=cfg.timeout)
        try:
            if cfg.command is not None:
                server.stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
                async with (
                    stdio_client(self._stdio_params(cfg), errlog=server.stderr) as (read, write),
                    ClientSession(
                        read,
                        write,
                        read_timeout_seconds=read_timeout,
                        message_handler=self._watch(server),
                    ) as session,
                ):
                    await self._serve(server, session, load_mcp_tools)
            else:
                from langchain_mcp_adapters.sessions import create_session

                connection: Any = {
                    "transport": "streamable_http",
                    "url": cfg.url,
                    "headers": {k: _expand(v) for k, v in cfg.headers.items()} or None,
                    "timeout": cfg.timeout,
                    "session_kwargs": {
                        "read_timeout_seconds": read_timeout,
                        "message_handler": self._watch(server),
                    },
                }
                async with create_session(connection) as session:
                    await self._serve(server, session, load_mcp_tools)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - a server's failure is reported, not raised
            if server.status == "starting":
                self._fail(server, _describe(exc))
            elif server.status == "ready":
                self._vanish(server, f"its connection failed ({_describe(exc)})")
        finally:
            if server.status == "starting":
                self._fail(server, "it closed the connection during start-up")
            elif server.status == "ready" and not self._stopped:
                self._vanish(server, "its connection closed")
            server.ready.set()

    def _watch(self, server: _Server) -> Any:
        """The session's message handler: the SDK hands it what it could not
        parse, which means the server speaks something other than MCP."""

        async def handle(message: Any) -> None:
            if isinstance(message, Exception):
                reason = f"answered with malformed data ({str(message).splitlines()[0][:200]})"
                if server.status == "starting":
                    self._fail(server, reason)
                    self._request_stop(server)
                else:
                    self._vanish(server, reason)

        return handle

    async def _serve(self, server: _Server, session: Any, load_mcp_tools: Any) -> None:
        await session.initialize()
        lc_tools = await load_mcp_tools(session, server_name=server.name)
        tools: list[MCPTool] = []
        for lc_tool in lc_tools:
            name = str(getattr(lc_tool, "name", "") or "")
            if not name or name in server.lc_tools or any(c.isspace() for c in name):
                self.notice(
                    f"MCP server {server.name!r} offered a tool with an unusable or repeated name {name!r}; left out",
                    server=server.name,
                    tool=name,
                )
                continue
            try:
                tool = MCPTool(self, server.name, lc_tool)
            except SchemaConversionError as exc:
                self.notice(
                    f"MCP server {server.name!r}: tool {name!r} has a malformed input schema ({exc}); left out",
                    server=server.name,
                    tool=name,
                )
                continue
            server.lc_tools[name] = lc_tool
            tools.append(tool)
        server.session = session
        server.tools = tools
        with server.lock:
            if server.status != "starting":  # start-up timed out meanwhile
                return
            server.status = "ready"
        server.ready.set()
        assert server.stop is not None
        await server.stop.wait()

    # -- calling ----------------------------------------------------------

    def call(
        self, server_name: str, mcp_tool: str, arguments: dict[str, Any], call_id: str = ""
    ) -> ToolResult:
        """Call one tool on its server's session, from any thread. Never raises."""
        server = self.servers.get(server_name)
        label = tool_name(server_name, mcp_tool)
        if server is None or self.loop is None:
            return ToolResult.fail(f"{label}: no MCP server {server_name!r} in this run")
        if server.status != "ready":
            return ToolResult.fail(
                f"{label} is no longer available: MCP server {server_name!r} {server.error or 'is not running'}"
            )
        lc_tool = server.lc_tools[mcp_tool]
        request = {
            "type": "tool_call",
            "id": call_id or "call",
            "name": mcp_tool,
            "args": arguments,
        }
        future = asyncio.run_coroutine_threadsafe(lc_tool.ainvoke(request), self.loop)
        server.inflight.add(future)
        timeout = server.config.timeout
        try:
            # The session times the request out first; this outer bound only
            # catches a loop that is stuck.
            out = future.result(timeout=timeout + PING_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return self._timed_out(server, label, timeout)
        except concurrent.futures.CancelledError:
            return self._gone(server, label)  # cancelled because the server went away
        except Exception as exc:  # noqa: BLE001 - classified below: every failure is a tool error
            return self._call_failed(server, label, exc, timeout)
        finally:
            server.inflight.discard(future)
        return result_from_output(out)

    def _gone(self, server: _Server, label: str) -> ToolResult:
        return ToolResult.fail(
            f"{label} failed: MCP server {server.name!r} {server.error or 'stopped'}; its tools are removed from this run"
        )

    def _call_failed(
        self, server: _Server, label: str, exc: BaseException, timeout: float
    ) -> ToolResult:
        from mcp.shared.exceptions import McpError
        from mcp.types import CONNECTION_CLOSED

        if server.status != "ready":
            return self._gone(server, label)
        leaf = _leaf(exc)
        if isinstance(leaf, McpError) and leaf.error.code == CONNECTION_CLOSED:
            reason = "closed the connection (the server process exited?)"
        elif isinstance(leaf, McpError) and leaf.error.code == 408:
            return self._timed_out(server, label, timeout)
        elif isinstance(leaf, ValidationError):
            reason = f"answered with malformed data ({str(leaf).splitlines()[0]})"
        elif type(leaf).__name__ in (
            "ClosedResourceError",
            "BrokenResourceError",
            "EndOfStream",
        ) or isinstance(leaf, BrokenPipeError | ConnectionError):
            reason = f"lost its connection ({type(leaf).__name__})"
        else:
            # The server is fine; this call failed (unsupported content, an
            # error the adapter raised...). Only this call is an error.
            return ToolResult.fail(f"{label} failed: {_describe(leaf)}")
        self._vanish(server, reason)
        return self._gone(server, label)

    def _timed_out(self, server: _Server, label: str, timeout: float) -> ToolResult:
        if server.status != "ready":
            return self._gone(server, label)
        if self._alive(server):
            return ToolResult.fail(
                f"{label} timed out after {timeout:g} s (the server is still answering)", "timeout"
            )
        reason = (
            f"stopped answering (a call timed out after {timeout:g} s and a ping got no answer)"
        )
        self._vanish(server, reason)
        result = self._gone(server, label)
        result.status = "timeout"
        return result

    def _alive(self, server: _Server) -> bool:
        if self.loop is None or server.session is None:
            return False
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(server.session.send_ping(), PING_TIMEOUT), self.loop
        )
        try:
            future.result(timeout=PING_TIMEOUT + 1)
        except Exception:  # noqa: BLE001 - no answer is the answer
            future.cancel()
            return False
        return True

    def _vanish(self, server: _Server, reason: str) -> None:
        with server.lock:
            if server.status != "ready" or self._stopped:
                return
            server.status = "gone"
            server.error = reason
        names = [t.name for t in server.tools]
        tail = server.stderr_tail()
        message = (
            f"MCP server {server.name!r} {reason}; its tools are removed from this run: "
            f"{', '.join(names) or 'none'}"
        )
        if tail:
            message += f"\n--- its stderr (last lines) ---\n{tail}"
        try:
            self.on_vanish(names, reason)
        finally:
            self.notice(message, server=server.name, reason=reason, tools=names, stderr=tail)
            # A call still waiting on the dead session would wait out its timeout.
            for future in list(server.inflight):
                future.cancel()
            self._request_stop(server)

    # -- stopping ---------------------------------------------------------

    def _request_stop(self, server: _Server) -> None:
        if self.loop is None or self.loop.is_closed():
            return
        stop = server.stop
        try:
            if stop is not None:
                self.loop.call_soon_threadsafe(stop.set)
            elif server.holder is not None:
                server.holder.cancel()
        except RuntimeError:  # the loop is already shutting down
            pass

    def stop(self) -> None:
        """Close every session and server process, then the loop. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        _LIVE_HUBS.discard(self)
        loop = self.loop
        if loop is None:
            return
        for server in self.servers.values():
            if server.status in ("starting", "ready"):
                server.status = "stopped"
            self._request_stop(server)
        for server in self.servers.values():
            if server.holder is not None:
                try:
                    server.holder.result(timeout=STOP_TIMEOUT)
                except Exception:  # noqa: BLE001, S110 - closing must go on for the others
                    server.holder.cancel()
        with contextlib.suppress(RuntimeError):  # the loop already stopped
            loop.call_soon_threadsafe(loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=STOP_TIMEOUT)
        if not loop.is_running():
            loop.close()
        for server in self.servers.values():
            if server.stderr is not None:
                server.stderr.close()


def load_mcp_servers(ctx: SourceContext) -> None:
    """The ``mcp`` tool source (entry point in ``overseer.tool_sources``):
    start the project's MCP servers for one session and offer their tools."""
    servers = ctx.project.mcp.servers
    if not servers:
        return
    notice = ctx.notice

    def vanish(names: list[str], reason: str) -> None:
        for name in names:
            ctx.withdraw(name)

    hub = MCPHub(servers, ctx.workspace, notice=notice, on_vanish=vanish)
    # Stopped when the session ends even if no MCP tool is ever called.
    ctx.keep(hub)
    for tool in hub.start():
        ctx.registry.add(tool, tool.source)
    started = [s.name for s in hub.servers.values() if s.status == "ready"]
    if started:
        notice(
            f"MCP servers started: {', '.join(started)} ({sum(len(hub.servers[n].tools) for n in started)} tools)",
            servers=started,
        )
