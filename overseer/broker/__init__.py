"""The broker: THE choke point between an agent's proposal and the world.

``Broker.submit(call)`` takes every call down one road, a stage per module:

- ``intake``: what is recorded of the proposal (malformed args too), and the
  validation into canonical args;
- ``judge``: the tool's facts, the hard ``guard`` (no tool touches
  overseer's own files), the policy -> ``policy_decided``;
- ``ask``: a person's decision behind a deadline (fail closed), and the
  agent's questions;
- ``run``: the tool, once, and the bounded record of how it ended;
- ``record``: the call's held records and the log failure that stops it all;
- ``core``: the ``Broker`` itself, which puts them in order.
"""

from __future__ import annotations

from .core import MAX_EDITS, Broker
from .guard import GUARD_RULE, Guard
from .judge import FAIL_CLOSED_RULE
from .record import BLOB_CAP, Held, Recorder
from .run import LOG_OUTPUT_HEAD, LOG_OUTPUT_TAIL, bound_output

__all__ = [
    "BLOB_CAP",
    "FAIL_CLOSED_RULE",
    "GUARD_RULE",
    "LOG_OUTPUT_HEAD",
    "LOG_OUTPUT_TAIL",
    "MAX_EDITS",
    "Broker",
    "Guard",
    "Held",
    "Recorder",
    "bound_output",
]
