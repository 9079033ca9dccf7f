"""overseer: an agent-oversight runtime.

A coding agent acts only through one mediated tool layer: every proposed
action is checked by a policy, risky ones wait for a person, and everything
is written to a tamper-evident audit log before and after it happens.

For tool authors: ``overseer.Tool`` (subclass it) and ``@overseer.tool``
(decorate a typed function); both are mediated exactly like the built-ins.
"""

from __future__ import annotations

from .toolapi import Facts, Tool, ToolContext, ToolResult, tool

__version__ = "0.1.0"

__all__ = ["Facts", "Tool", "ToolContext", "ToolResult", "__version__", "tool"]
