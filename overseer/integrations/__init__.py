"""Foreign tools under mediation: LangChain tools and MCP servers.

Importing this package registers two hooks, once:

- ``adapt_langchain`` in ``overseer.registry.ADAPTERS``, so any LangChain
  ``BaseTool`` named by ``--tool``, a project's ``tools = [...]`` or an entry
  point becomes a mediated Tool (source ``langchain``);
- ``load_mcp_servers`` in ``overseer.session.TOOL_LOADERS``, so a session
  starts the project's ``[mcp.servers.NAME]`` (tools ``mcp:NAME:tool``).

The heavy libraries (langchain-mcp-adapters, mcp) are imported only when a
project configures an MCP server.
"""

from __future__ import annotations

from ..registry import ADAPTERS
from ..session import TOOL_LOADERS
from .langchain_tools import LangChainTool, adapt_langchain, wrap
from .mcp import MCPHub, MCPTool, load_mcp_servers


def register() -> None:
    """Install the adapter and the MCP loader (idempotent)."""
    if adapt_langchain not in ADAPTERS:
        ADAPTERS.append(adapt_langchain)
    if load_mcp_servers not in TOOL_LOADERS:
        TOOL_LOADERS.append(load_mcp_servers)


register()

__all__ = ["LangChainTool", "MCPHub", "MCPTool", "load_mcp_servers", "register", "wrap"]
