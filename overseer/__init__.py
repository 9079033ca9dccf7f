"""overseer: an agent-oversight runtime.

A coding agent acts only through one mediated tool layer: every proposed
action is checked by a policy, risky ones wait for a person, and everything
is written to a tamper-evident audit log before and after it happens.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
