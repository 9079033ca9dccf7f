"""The first two stages of a call: what is recorded of the proposal, and the
validation that turns the agent's raw arguments into canonical ones.

Both are pure: they read the call and the session's tools and return a
value; the broker records it. Whatever the agent sent is recorded (malformed
arguments too, converted by ``recordable`` so the record can always be
written); only a call that names a known tool and whose arguments validate
against its pydantic ``Args`` gets canonical arguments, the one object that
is hashed, judged, shown and run (invariant 3).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ..canonical import canonical_json
from ..events import ActionStatus
from ..recordable import MAX_ARGS_BYTES, depth_exceeded, oversized, recordable
from ..recordable import MAX_DEPTH as MAX_ARGS_DEPTH
from ..toolapi import Tool, ToolCall

MAX_ID = 200  # characters of a call id or tool name


@dataclass(slots=True)
class Refusal:
    """Why a call goes no further, as the agent will read it."""

    status: ActionStatus
    message: str


@dataclass(slots=True)
class Proposal:
    """A call as the broker records it before judging anything."""

    call: ToolCall  # the call, its name bounded
    call_id: str
    record: dict[str, Any]  # the ``action_proposed`` payload
    refusal: Refusal | None  # set when the arguments are too big to take
    plain: bool  # the raw args were plain JSON (so within the depth limit)


def propose(call: ToolCall) -> Proposal:
    """What the log keeps of ``call`` before anything else happens to it."""
    # Ids and names are short in any real call; a model's megabyte-long one
    # would otherwise be copied into every record and message of the call.
    call_id = call.id if call.id and len(call.id) <= MAX_ID else uuid.uuid4().hex[:10]
    if len(call.name) > MAX_ID:
        call = call.model_copy(update={"name": call.name[:MAX_ID] + "…"})
    proposed = recordable(call.args)
    too_big = oversized(
        proposed if isinstance(proposed, str) else canonical_json(proposed, check=False)
    )
    refusal = None
    if too_big is not None:
        refusal = Refusal(
            "invalid",
            f"arguments for {call.name} are {too_big['size']} bytes; the limit is "
            f"{MAX_ARGS_BYTES} (write large content in parts)",
        )
    record = {
        "call_id": call_id,
        "tool": call.name,
        "args": too_big or proposed,
        "source": call.source,
        "parent_call_id": call.parent_call_id,
    }
    # recordable() hands plain JSON back as is, and plain means within the
    # depth limit: only converted or JSON-text arguments need the walk.
    plain = proposed is call.args and not isinstance(call.args, str)
    return Proposal(call, call_id, record, refusal, plain)


def validate(
    tools: Mapping[str, Tool], call: ToolCall, *, plain: bool = False
) -> tuple[Tool, dict[str, Any]] | Refusal:
    """The tool and the canonical arguments of ``call``, or why there are none.

    ``plain`` says the raw arguments are already known to be plain JSON within
    the depth limit (see ``Proposal.plain``), which spares the depth walk.
    """
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools)) or "none"
        return Refusal("invalid", f"unknown tool {call.name!r}; available tools: {known}")
    raw = call.args
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            # The model reads the parser's own words: where its JSON broke.
            return Refusal(
                "invalid",
                f"arguments for {call.name} are not valid JSON ({exc}); send one JSON object",
            )
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return Refusal(
            "invalid",
            f"arguments for {call.name} must be a JSON object, got {type(raw).__name__}",
        )
    if not plain and depth_exceeded(raw):
        return Refusal(
            "invalid", f"arguments for {call.name} nest deeper than {MAX_ARGS_DEPTH} levels"
        )
    try:
        parsed = tool.Args.model_validate(raw)
        canonical: dict[str, Any] = parsed.model_dump(mode="json")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
        )
        return Refusal("invalid", f"invalid arguments for {call.name}: {problems}")
    except Exception as exc:  # noqa: BLE001 - a broken Args model must not crash the session
        return Refusal("invalid", f"cannot validate arguments for {call.name}: {exc}")
    return tool, canonical
