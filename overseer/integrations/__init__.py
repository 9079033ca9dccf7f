"""Foreign tools under mediation: LangChain tools and MCP servers.

They plug in by the road every tool takes, entry points declared in
overseer's pyproject (see ``overseer.registry``), so neither the registry nor
the session imports this package, and nothing here imports the session:

- ``adapt_langchain`` (``overseer.tool_adapters``: ``langchain``) makes any
  LangChain ``BaseTool`` named by ``--tool``, a project's ``tools = [...]``
  or an entry point a mediated Tool (source ``langchain``);
- ``load_mcp_servers`` (``overseer.tool_sources``: ``mcp``) starts the
  project's ``[mcp.servers.NAME]`` for a session (tools ``mcp:NAME:tool``),
  with what it needs handed in as a ``SourceContext``.

The heavy libraries (langchain-mcp-adapters, mcp) are imported only when a
project configures an MCP server.
"""

from __future__ import annotations

from .langchain_tools import LangChainTool, adapt_langchain, wrap
from .mcp import MCPHub, MCPTool, load_mcp_servers

__all__ = ["LangChainTool", "MCPHub", "MCPTool", "adapt_langchain", "load_mcp_servers", "wrap"]
