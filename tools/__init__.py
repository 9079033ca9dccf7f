"""overseer's built-in tools, and the Tool API for plugin authors.

Plugin authors write ``from overseer.tools import Tool, ToolResult`` (or use
``@tool`` on a typed function). The built-in tools live in the submodules of
this package and are registered through the ``overseer.tools`` entry-point
group declared in the project's pyproject, exactly like any plugin: core never
imports this package.
"""

from __future__ import annotations

from overseer.toolapi import Facts, Sandbox, Tool, ToolContext, ToolResult, tool

__all__ = ["Facts", "Sandbox", "Tool", "ToolContext", "ToolResult", "tool"]
