"""The policy engine: which proposed actions run, ask a person, or are refused.

Public API::

    from overseer.policy import load_policy
    policy = load_policy("default")            # or "strict", or a path to a TOML file
    verdict = policy.decide("shell", {"command": cmd}, Facts(commands=[cmd]), workspace)
    verdict.decision, verdict.rule, verdict.reason, verdict.parts, verdict.network

- ``load_policy(name_or_path)``: shipped names (None/"default", "strict") or a
  path; raises ``PolicyError`` naming file, line and problem.
- ``parse_policy(text, source)``: the same from TOML text (no examples run).
- ``RulePolicy``: the implementation of the ``Policy`` protocol.
- ``shell_parts(command)`` / ``analyse(command)``: the shell analysis alone.
- ``facts_from_args(tool, args)``: facts for a call known only by its args.

The file format is documented in docs/policy.md.
"""

from __future__ import annotations

from ..errors import PolicyError
from .base import STRICTNESS, Policy, Verdict, strictest
from .loader import (
    SHIPPED,
    ExampleResult,
    LoadedPolicy,
    check_examples,
    facts_from_args,
    load_policy,
    parse_policy,
    read_policy_text,
    shipped_path,
)
from .rule import Rule
from .rules import RulePolicy
from .shell import Analysis, Part, Word, analyse, shell_parts

__all__ = [
    "SHIPPED",
    "STRICTNESS",
    "Analysis",
    "ExampleResult",
    "LoadedPolicy",
    "Part",
    "Policy",
    "PolicyError",
    "Rule",
    "RulePolicy",
    "Verdict",
    "Word",
    "analyse",
    "check_examples",
    "facts_from_args",
    "load_policy",
    "parse_policy",
    "read_policy_text",
    "shell_parts",
    "shipped_path",
    "strictest",
]
