"""The contract between the broker and the policy engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..events import Decision, PartDecision
from ..toolapi import Facts

STRICTNESS: dict[str, int] = {"allow": 0, "ask": 1, "deny": 2}


def strictest(decisions: list[Decision], default: Decision = "allow") -> Decision:
    return max(decisions, key=STRICTNESS.__getitem__) if decisions else default


class Verdict(BaseModel):
    """A policy's answer for one call."""

    decision: Decision
    rule: str | None = None  # the deciding rule's name (None: the default)
    reason: str = ""
    parts: list[PartDecision] = Field(default_factory=list)  # shell commands, part by part
    # If this call runs (allowed, or an `ask` a person approved), it may use
    # the network: set only by a rule that names network (network = true).
    network: bool = False
    # The ask (or deny) comes from analysis, not from a rule: outside the
    # workspace, a protected path, workspace code with no sandbox, a finding
    # in a part. No "always allow" grant may cover it.
    hard: bool = False


@runtime_checkable
class Policy(Protocol):
    name: str  # "default", "strict" or the file path
    text: str  # the TOML source, recorded in session_started
    hash: str  # sha256 of text

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        """Judge one call. Must not raise for any input; the broker still
        treats an exception as deny."""
        ...
