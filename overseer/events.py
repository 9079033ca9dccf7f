"""The log's vocabulary: one pydantic model per event kind.

Every event has ``session_id``, ``seq`` (1, 2, 3... within its session), ``ts``
(integer nanoseconds since the epoch) and a typed ``payload``. ``Event`` is the
discriminated union of all kinds; ``parse_event`` turns a stored row back into
its model. Payloads hold no floats: they are hashed as canonical JSON.
"""

from __future__ import annotations

import getpass
import socket
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Decision = Literal["allow", "ask", "deny"]
"""What a policy says about a proposed action."""

ApprovalChoice = Literal["approve", "edit", "deny", "always", "terminate"]
"""What a person (or an automatic approver) says about an ``ask``."""

SessionStatus = Literal["running", "completed", "failed", "terminated", "interrupted"]

ActionStatus = Literal[
    "ok",  # ran, succeeded
    "failed",  # ran, the command/tool reported failure (non-zero exit...)
    "error",  # the tool raised; the message goes back to the agent
    "timeout",  # ran and was stopped at its time limit
    "denied",  # never ran: policy, person, grant or fail-closed fallback said no
    "edited",  # never ran as proposed: a person edited it into a new call
    "invalid",  # never ran: unknown tool or arguments that do not validate
    "terminated",  # never ran: the session was terminated
]


def now_ns() -> int:
    return time.time_ns()


def who() -> str:
    """The person at this terminal, for the record: user@host."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Payload(BaseModel):
    # Unknown fields are kept rather than rejected: an older overseer must be
    # able to read and verify a log written by a newer one.
    model_config = ConfigDict(extra="allow")


class SessionStartedPayload(Payload):
    task: str
    agent: str
    model: str | None = None
    policy_name: str = ""
    policy_text: str = ""
    policy_hash: str = ""
    workspace: str = ""
    git_head: str | None = None
    snapshot_ref: str | None = None
    sandbox: str = "none"
    approver: str = ""
    versions: dict[str, str] = Field(default_factory=dict)
    pid: int | None = None
    host: str | None = None


class ModelTurnPayload(Payload):
    """One model call. Messages are stored once in the ``messages`` table; a
    turn lists only those new since the previous turn (``prior`` says how
    many carry over), so a long session does not grow quadratically."""

    turn: int
    messages: list[str] = Field(default_factory=list)  # hashes into `messages`, new this turn
    prior: int = 0
    system: str | None = None  # hash of the system prompt
    response: str | None = None  # hash of the model's reply
    text: str = ""
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    duration_ms: int = 0


class ActionProposedPayload(Payload):
    call_id: str
    tool: str
    args: Any = None  # raw, exactly as proposed (malformed ones too)
    source: str = "agent"  # agent | edit | rerun
    parent_call_id: str | None = None


class PartDecision(BaseModel):
    """The decision on one part of a compound shell command."""

    command: str
    decision: Decision
    rule: str | None = None
    reason: str = ""
    # The program and arguments actually run, after unwrapping (env, nice...).
    argv: list[str] = Field(default_factory=list)
    # True when the ask/deny comes from analysis no grant may cover
    # (substitution, eval, interpreter code, redirection, parse error).
    hard: bool = False


class PolicyDecidedPayload(Payload):
    call_id: str
    decision: Decision
    rule: str | None = None
    reason: str = ""
    parts: list[PartDecision] = Field(default_factory=list)
    args_hash: str = ""
    facts: dict[str, Any] = Field(default_factory=dict)


class ApprovalRequestedPayload(Payload):
    call_id: str
    tool: str
    args: Any = None
    args_hash: str
    preview: str | None = None
    rule: str | None = None
    reason: str = ""
    parts: list[PartDecision] = Field(default_factory=list)
    approver: str = ""
    timeout_s: int = 600
    sandbox: str = "none"
    # Why this call's commands would run with no sandbox ("" when they run
    # in one, or the call runs none): the approver shows it as a warning.
    unsandboxed: str = ""
    grant_preview: str | None = None  # the narrow rule "always" would add; None: not offered
    kind: Literal["approval", "question"] = "approval"


class ApprovalDecidedPayload(Payload):
    call_id: str
    decision: ApprovalChoice
    by: str
    reason: str = ""
    args_hash: str = ""
    edited_args: Any = None
    grant_id: str | None = None
    latency_ms: int = 0


class ActionStartedPayload(Payload):
    """The durable decision record: written (synchronous=FULL) before running."""

    call_id: str
    tool: str
    args: Any = None
    args_hash: str
    decided_by: str  # policy | approver:<name> | grant:<id>
    rule: str | None = None
    sandbox: str = "none"


class ActionFinishedPayload(Payload):
    call_id: str
    tool: str
    status: ActionStatus
    exit_code: int | None = None
    output: str = ""  # bounded: head + tail
    output_size: int = 0
    output_blob: str | None = None  # hash into `blobs` when the full output is kept
    truncated: bool = False
    duration_ms: int = 0
    error: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class FileChangedPayload(Payload):
    path: str
    change: Literal["created", "modified", "deleted", "moved", "ref"]
    dest_path: str | None = None
    before_hash: str | None = None
    after_hash: str | None = None
    size: int | None = None
    diff: str | None = None
    call_id: str | None = None


class QuestionAskedPayload(Payload):
    call_id: str
    question: str
    choices: list[str] = Field(default_factory=list)


class QuestionAnsweredPayload(Payload):
    call_id: str
    answer: str
    by: str


class UserMessagePayload(Payload):
    text: str
    by: str = ""


class FlagRaisedPayload(Payload):
    flag: str  # reward_hacking | out_of_band | unsupported_claim | novel_action
    reason: str
    evidence: list[int] = Field(default_factory=list)  # event seqs
    call_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class GrantAddedPayload(Payload):
    grant_id: str
    tool: str
    prefix: list[str] = Field(default_factory=list)
    # Command grants: the exact option words covered (None: not a command grant).
    options: list[str] | None = None
    # Path grants: the resolved directories a covered call's paths lie in.
    dirs: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    description: str = ""
    by: str = ""
    call_id: str | None = None


class GrantRevokedPayload(Payload):
    grant_id: str
    by: str = ""
    reason: str = ""


class SealPayload(Payload):
    seq: int
    head: str
    count: int
    # The base64 RFC 9162 root of the first ``count`` events (absent in
    # sessions sealed with HMAC, before signed checkpoints).
    root: str | None = None


class SessionEndedPayload(Payload):
    status: SessionStatus
    final: str = ""
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class NoticePayload(Payload):
    """Runtime facts worth keeping that are not actions: sandbox fallback,
    an MCP server that died, an undo, a tool set change."""

    topic: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str
    seq: int = 0
    ts: int = Field(default_factory=now_ns)


def _kind(name: str, payload: type[Payload]) -> type[_EventBase]:
    cls = type(
        "".join(p.title() for p in name.split("_")),
        (_EventBase,),
        {
            "__annotations__": {"kind": Literal[name], "payload": payload},  # type: ignore[valid-type]
            "kind": name,
            "__module__": __name__,
        },
    )
    return cls


PAYLOADS: dict[str, type[Payload]] = {
    "session_started": SessionStartedPayload,
    "model_turn": ModelTurnPayload,
    "action_proposed": ActionProposedPayload,
    "policy_decided": PolicyDecidedPayload,
    "approval_requested": ApprovalRequestedPayload,
    "approval_decided": ApprovalDecidedPayload,
    "action_started": ActionStartedPayload,
    "action_finished": ActionFinishedPayload,
    "file_changed": FileChangedPayload,
    "question_asked": QuestionAskedPayload,
    "question_answered": QuestionAnsweredPayload,
    "user_message": UserMessagePayload,
    "flag_raised": FlagRaisedPayload,
    "grant_added": GrantAddedPayload,
    "grant_revoked": GrantRevokedPayload,
    "seal": SealPayload,
    "session_ended": SessionEndedPayload,
    "notice": NoticePayload,
}

EVENT_KINDS: tuple[str, ...] = tuple(PAYLOADS)
EVENT_CLASSES: dict[str, type[_EventBase]] = {k: _kind(k, p) for k, p in PAYLOADS.items()}

SessionStarted = EVENT_CLASSES["session_started"]
ModelTurn = EVENT_CLASSES["model_turn"]
ActionProposed = EVENT_CLASSES["action_proposed"]
PolicyDecided = EVENT_CLASSES["policy_decided"]
ApprovalRequested = EVENT_CLASSES["approval_requested"]
ApprovalDecided = EVENT_CLASSES["approval_decided"]
ActionStarted = EVENT_CLASSES["action_started"]
ActionFinished = EVENT_CLASSES["action_finished"]
FileChanged = EVENT_CLASSES["file_changed"]
QuestionAsked = EVENT_CLASSES["question_asked"]
QuestionAnswered = EVENT_CLASSES["question_answered"]
UserMessage = EVENT_CLASSES["user_message"]
FlagRaised = EVENT_CLASSES["flag_raised"]
GrantAdded = EVENT_CLASSES["grant_added"]
GrantRevoked = EVENT_CLASSES["grant_revoked"]
Seal = EVENT_CLASSES["seal"]
SessionEnded = EVENT_CLASSES["session_ended"]
Notice = EVENT_CLASSES["notice"]

Event = Annotated[
    SessionStarted  # type: ignore[valid-type]
    | ModelTurn  # type: ignore[valid-type]
    | ActionProposed  # type: ignore[valid-type]
    | PolicyDecided  # type: ignore[valid-type]
    | ApprovalRequested  # type: ignore[valid-type]
    | ApprovalDecided  # type: ignore[valid-type]
    | ActionStarted  # type: ignore[valid-type]
    | ActionFinished  # type: ignore[valid-type]
    | FileChanged  # type: ignore[valid-type]
    | QuestionAsked  # type: ignore[valid-type]
    | QuestionAnswered  # type: ignore[valid-type]
    | UserMessage  # type: ignore[valid-type]
    | FlagRaised  # type: ignore[valid-type]
    | GrantAdded  # type: ignore[valid-type]
    | GrantRevoked  # type: ignore[valid-type]
    | Seal  # type: ignore[valid-type]
    | SessionEnded  # type: ignore[valid-type]
    | Notice,  # type: ignore[valid-type]
    Field(discriminator="kind"),
]
"""Any event: a discriminated union on ``kind``."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def parse_event(data: dict[str, Any]) -> Any:
    """Validate a dict (``session_id, seq, ts, kind, payload``) into its event model."""
    return _ADAPTER.validate_python(data)


def make_payload(kind: str, **fields: Any) -> Payload:
    try:
        cls = PAYLOADS[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}") from None
    return cls(**fields)
