"""How model turns are recorded, at a cost that does not grow with the session.

Every message is stored once in the log's ``messages`` table
(content-addressed) and cached by message id, so a message is serialised and
stored the first time it is seen and never again. The ``model_turn`` event
does not repeat the whole history: ``messages`` lists only the hashes of the
messages that are new in this request, and ``prior`` says how many leading
messages it shares with the previous turn's context (that turn's request
plus its response). When the history was rewritten (a summarising
middleware, say), ``prior`` is 0 and ``messages`` is the full list.
``expand_turns`` rebuilds each turn's full request from the events.

Recognising "the previous context plus new messages" is O(1): the first
and the last message of the previous context are looked for, by identity, at
their indexes. That is exact for overseer's agent, whose history only ever
grows at the end (LangGraph appends each reply and tool result; the
middleware appends steering messages) and whose messages after the task are
all objects the middleware saw: an insertion or removal anywhere moves the
last message off its index, and a new history (another task message) has
another first message. Either way ``prior`` is 0 and the turn lists every
message, so the record stays exact.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, message_to_dict

from ..log import AuditLog
from ..session import Session


class MessageStore:
    """Stores model messages in the log once each.

    Cached by message id *and* object identity: LangGraph carries the same
    message objects from turn to turn, so each one is serialised and written
    once. A message replaced under the same id (a different object) is stored
    again. The cache holds the objects, so an identity can never be reused.
    """

    def __init__(self, log: AuditLog) -> None:
        self.log = log
        self._by_id: dict[str, tuple[BaseMessage, str]] = {}
        self.writes = 0

    def put(self, msg: BaseMessage) -> str:
        # Messages without an id (the system message) are keyed by identity.
        key = msg.id if msg.id is not None else f"obj:{id(msg)}"
        hit = self._by_id.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        h = self.log.put_message(message_to_dict(msg))
        self.writes += 1
        self._by_id[key] = (msg, h)
        return h


def _text(msg: BaseMessage) -> str:
    # ``text`` is a property in langchain-core 1.x (a str that is still callable).
    return str(msg.text)


class TurnRecorder:
    """Writes ``model_turn`` events and keeps the session's token count."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.store = MessageStore(session.log)
        self.usage: dict[str, int] = {}
        self.last_text = ""
        # The previous turn's context (request + response): its length, and
        # its first and last messages, which is all the next turn needs to
        # recognise it as a prefix of its own request.
        self._prev_len = 0
        self._prev_first: BaseMessage | None = None
        self._prev_last: BaseMessage | None = None

    @property
    def tokens(self) -> int:
        """Input + output tokens used so far (what ``--max-tokens`` counts)."""
        total = self.usage.get("total_tokens", 0)
        return total or self.usage.get("input_tokens", 0) + self.usage.get("output_tokens", 0)

    def _prior(self, msgs: Sequence[BaseMessage]) -> int:
        k = self._prev_len
        if not k or len(msgs) < k:
            return 0
        if msgs[0] is self._prev_first and msgs[k - 1] is self._prev_last:
            return k
        return 0

    def record(
        self,
        turn: int,
        msgs: Sequence[BaseMessage],
        system: BaseMessage | None,
        ai: AIMessage | None,
        started: float,
        error: str | None = None,
    ) -> None:
        duration = int((time.monotonic() - started) * 1000)
        prior = self._prior(msgs)
        payload: dict[str, Any] = {
            "turn": turn,
            "messages": [self.store.put(m) for m in msgs[prior:]],
            "prior": prior,
            "duration_ms": duration,
        }
        if system is not None:
            payload["system"] = self.store.put(system)
        if ai is not None:
            payload["response"] = self.store.put(ai)
            payload["text"] = self.last_text = _text(ai)
            payload["tool_calls"] = [
                {"id": tc.get("id"), "name": tc.get("name"), "args": tc.get("args")}
                for tc in ai.tool_calls
            ] + [
                # Arguments that were not JSON: the raw text, as the model sent it.
                {
                    "id": tc.get("id"),
                    "name": tc.get("name"),
                    "args": tc.get("args"),
                    "invalid": True,
                }
                for tc in ai.invalid_tool_calls
            ]
            usage = ai.usage_metadata
            if usage:
                payload["usage"] = {
                    n: usage.get(n, 0) for n in ("input_tokens", "output_tokens", "total_tokens")
                }
                for key, v in payload["usage"].items():
                    self.usage[key] = self.usage.get(key, 0) + int(v or 0)
        if msgs or ai is not None:
            first = msgs[0] if msgs else ai
            last = ai if ai is not None else msgs[-1]
            self._prev_len = len(msgs) + (1 if ai is not None else 0)
            self._prev_first, self._prev_last = first, last
        if error is not None:
            payload["error"] = error
        self.session.log.append(self.session.id, "model_turn", payload)


def expand_turns(turns: Iterable[Mapping[str, Any]]) -> list[list[str]]:
    """Each turn's full request as message hashes, from ``model_turn`` payloads in order."""
    out: list[list[str]] = []
    context: list[str] = []
    for p in turns:
        full = [*context[: int(p.get("prior", 0))], *p.get("messages", [])]
        out.append(full)
        context = [*full, p["response"]] if p.get("response") else full
    return out
