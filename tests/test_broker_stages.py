"""Each stage of the broker's road, alone: intake (proposal, validation),
the guard, judging, asking, running and recording. ``test_broker.py`` drives
the whole road; these pin what each stage decides on its own inputs, so a
change to one stage is checked without building a session around it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from overseer.approval import ApprovalDecision, ApprovalRequest
from overseer.broker.ask import Approvals
from overseer.broker.guard import GUARD_RULE, Guard
from overseer.broker.intake import MAX_ID, Refusal, propose, validate
from overseer.broker.judge import FAIL_CLOSED_RULE, decision_record, judge
from overseer.broker.record import Recorder
from overseer.broker.run import LOG_OUTPUT_HEAD, LOG_OUTPUT_TAIL, record_result, run_once
from overseer.errors import LogWriteError
from overseer.events import SessionStartedPayload
from overseer.grants import Grant
from overseer.log import AuditLog
from overseer.paths import protected_paths
from overseer.policy.base import Verdict
from overseer.recordable import MAX_ARGS_BYTES, MAX_DEPTH
from overseer.toolapi import Facts, Tool, ToolCall, ToolContext, ToolResult
from tests.helpers.fakes import EchoTool, FixedPolicy, ScriptedApprover


@pytest.fixture
def session(log: AuditLog, tmp_path: Path) -> str:
    return log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(tmp_path)))


def kinds(log: AuditLog, sid: str) -> list[str]:
    return [e.kind for e in log.events(sid) if e.kind not in ("seal", "session_started")]


def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspace=tmp_path, session_id="s")


# -- intake: the proposal ------------------------------------------------------


def test_the_proposal_records_raw_args_and_bounds_ids_and_names():
    p = propose(ToolCall(id="x" * (MAX_ID + 1), name="n" * (MAX_ID + 5), args={"a": 1}))
    assert p.call_id != "x" * (MAX_ID + 1) and len(p.call_id) == 10
    assert p.call.name == "n" * MAX_ID + "…" and p.record["tool"] == p.call.name
    assert p.record["args"] == {"a": 1} and p.refusal is None and p.plain


def test_a_proposal_too_big_to_take_is_recorded_as_its_size_and_refused():
    p = propose(ToolCall(id="c1", name="echo", args={"text": "x" * (MAX_ARGS_BYTES + 1)}))
    assert p.refusal is not None and p.refusal.status == "invalid"
    assert str(MAX_ARGS_BYTES) in p.refusal.message
    assert p.record["args"]["size"] > MAX_ARGS_BYTES  # a summary, not 8 MB in the log


def test_json_text_args_are_not_plain():
    # Text is parsed later, so its depth is unknown here: validation must walk it.
    assert not propose(ToolCall(id="c1", name="echo", args='{"text": "x"}')).plain


# -- intake: validation --------------------------------------------------------


def test_validation_gives_canonical_args_with_defaults():
    tools = {"echo": EchoTool()}
    tool, args = validate(tools, ToolCall(id="c", name="echo", args='{"text": "hi"}'))  # type: ignore[misc]
    assert tool is tools["echo"] and args == {"text": "hi", "times": 1}


@pytest.mark.parametrize(
    ("name", "args", "says"),
    [
        ("nope", {}, "unknown tool 'nope'; available tools: echo"),
        ("echo", [1, 2], "must be a JSON object, got list"),
        ("echo", {"times": 2}, "invalid arguments for echo: text: Field required"),
        ("echo", {"text": "x", "times": "many"}, "times: Input should be a valid integer"),
        # JSON text that does not parse: the model reads where the parser stopped.
        (
            "echo",
            '{"text": "x",',
            "arguments for echo are not valid JSON (Expecting property name enclosed in "
            "double quotes: line 1 column 14 (char 13)); send one JSON object",
        ),
    ],
)
def test_validation_refuses_with_a_reason(name: str, args: Any, says: str):
    refusal = validate({"echo": EchoTool()}, ToolCall(id="c", name=name, args=args))
    assert isinstance(refusal, Refusal) and refusal.status == "invalid"
    assert says in refusal.message


def test_validation_walks_the_depth_of_args_that_were_not_plain():
    deep: Any = "x"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    call = ToolCall(id="c", name="echo", args={"text": "x", "extra": deep})
    refusal = validate({"echo": EchoTool()}, call, plain=False)
    assert isinstance(refusal, Refusal) and f"deeper than {MAX_DEPTH}" in refusal.message


def test_a_broken_args_model_is_an_invalid_call_not_a_crash():
    class Angry(BaseModel):
        text: str

        @field_validator("text")
        @classmethod
        def explode(cls, v: str) -> str:
            raise KeyError("bug in the plugin")

    class Broken(EchoTool):
        Args = Angry

    refusal = validate({"echo": Broken()}, ToolCall(id="c", name="echo", args={"text": "x"}))
    assert isinstance(refusal, Refusal) and "cannot validate arguments for echo" in refusal.message


# -- the guard -----------------------------------------------------------------


@pytest.fixture
def guard(tmp_path: Path) -> Guard:
    db = tmp_path / "home" / "audit.db"
    db.parent.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    return Guard(protected_paths(db), ws)


def test_the_guard_refuses_paths_commands_and_args_that_reach_the_log(guard: Guard, tmp_path):
    db = str(tmp_path / "home" / "audit.db")
    assert guard.check({}, Facts(reads=[db]))
    assert guard.check({}, Facts(writes=[db + "-wal"]))
    assert guard.check({"command": f"cat {db}"}, Facts(commands=[f"cat {db}"]))
    assert guard.check({"note": db}, Facts())  # named in the args, whatever the facts say
    walked = guard.check({}, Facts(commands=[f"rm -rf {tmp_path / 'home'}"]))
    assert walked and "walks it" in walked


def test_the_guard_sees_through_a_symlink_into_overseer_files(guard: Guard, tmp_path):
    (guard.workspace / "innocent").symlink_to(tmp_path / "home" / "audit.db")
    assert guard.check({}, Facts(reads=["innocent"]))


def test_the_guard_lets_workspace_work_through(guard: Guard):
    assert guard.check({"command": "ls -la src"}, Facts(commands=["ls -la src"])) is None
    assert guard.check({}, Facts(reads=["src/main.py"], writes=["out.txt"])) is None


# -- judging -------------------------------------------------------------------


def test_judging_hands_the_tools_facts_to_the_policy(guard: Guard, tmp_path):
    tool = EchoTool()
    tool.paths = ["notes.txt"]
    policy = FixedPolicy({"echo": "allow"})
    verdict, facts = judge(
        tool,
        "echo",
        {"text": "x", "times": 1},
        ctx(tmp_path),
        policy=policy,
        guard=guard,
        workspace=guard.workspace,
    )
    assert verdict.decision == "allow" and facts is not None and facts.reads == ["notes.txt"]
    assert policy.seen == [("echo", {"text": "x", "times": 1}, facts)]


class _Unsayable(EchoTool):
    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        raise OSError("cannot stat")


class _NotAVerdict(FixedPolicy):
    def decide(self, *a: Any) -> Any:
        return "allow"


@pytest.mark.parametrize(
    ("tool", "policy", "rule", "reason"),
    [
        (_Unsayable(), FixedPolicy(default="allow"), FAIL_CLOSED_RULE, "could not describe"),
        (EchoTool(), FixedPolicy(raises=True), FAIL_CLOSED_RULE, "policy error"),
        (EchoTool(), _NotAVerdict(), FAIL_CLOSED_RULE, "not a Verdict"),
    ],
)
def test_judging_fails_closed(guard: Guard, tmp_path, tool: Tool, policy: Any, rule, reason):
    verdict, _facts = judge(
        tool,
        "echo",
        {"text": "x"},
        ctx(tmp_path),
        policy=policy,
        guard=guard,
        workspace=guard.workspace,
    )
    assert verdict.decision == "deny" and verdict.rule == rule and reason in verdict.reason


def test_the_guard_overrules_a_policy_that_allows_everything(guard: Guard, tmp_path):
    tool = EchoTool()
    tool.paths = [str(tmp_path / "home" / "audit.db")]
    policy = FixedPolicy(default="allow")
    verdict, _ = judge(
        tool,
        "echo",
        {"text": "x"},
        ctx(tmp_path),
        policy=policy,
        guard=guard,
        workspace=guard.workspace,
    )
    assert verdict.decision == "deny" and verdict.rule == GUARD_RULE
    assert policy.seen == []  # the policy was never consulted


def test_the_decision_record_is_bound_to_the_args_hash():
    rec = decision_record("c1", Verdict(decision="ask", rule="r", reason="why"), "h" * 64, None)
    assert rec == {
        "call_id": "c1",
        "decision": "ask",
        "rule": "r",
        "reason": "why",
        "parts": [],
        "args_hash": "h" * 64,
        "facts": {},
    }


# -- recording -----------------------------------------------------------------


def test_held_records_are_written_with_the_next_one_and_only_once(log: AuditLog, session: str):
    rec = Recorder(log, session)
    held = [("action_proposed", {"call_id": "c1", "tool": "echo", "args": {}})]
    rec.record("action_finished", {"call_id": "c1", "tool": "echo", "status": "ok"}, held)
    assert held == [] and kinds(log, session) == ["action_proposed", "action_finished"]
    rec.flush(held, durable=True)  # nothing left to write
    assert kinds(log, session) == ["action_proposed", "action_finished"]


def test_a_failed_write_marks_the_recorder_and_finish_never_raises(log, session, monkeypatch):
    rec = Recorder(log, session)

    def full(*_a: Any, **_k: Any) -> Any:
        raise LogWriteError("disk full")

    monkeypatch.setattr(log, "append_many", full)
    with pytest.raises(LogWriteError):
        rec.record("notice", {"topic": "t", "message": "m"})
    assert rec.failure == "disk full"
    result = rec.finish("c1", "echo", "denied", "no", [("action_proposed", {})])
    assert result.status == "denied" and result.error == "no"


# -- asking --------------------------------------------------------------------


def _ask(log: AuditLog, sid: str, tmp_path: Path, approver: Any, **kw: Any) -> Any:
    approvals = Approvals(approver, Recorder(log, sid), **kw)
    try:
        return approvals.ask(
            ToolCall(id="c1", name="echo", args={"text": "x"}),
            "c1",
            EchoTool(),
            {"text": "x", "times": 1},
            "a" * 64,
            Verdict(decision="ask", rule="r", reason="why"),
            ctx(tmp_path),
        )
    finally:
        approvals.close()


def test_asking_records_the_request_and_the_answer(log, session, tmp_path):
    approver = ScriptedApprover("approve")
    answer = _ask(log, session, tmp_path, approver, sandbox="bwrap")
    assert answer.decision.decision == "approve" and answer.by == "tester"
    [req] = approver.requests
    assert req.args == {"text": "x", "times": 1} and req.args_hash == "a" * 64
    assert req.sandbox == "bwrap"
    assert kinds(log, session) == ["approval_requested", "approval_decided"]
    [decided] = [e.payload for e in log.events(session, kinds=["approval_decided"])]
    assert decided["decision"] == "approve" and decided["args_hash"] == "a" * 64


def test_an_approval_of_other_args_is_a_deny(log, session, tmp_path):
    other = ApprovalDecision(decision="approve", by="tester", args_hash="b" * 64)
    answer = _ask(log, session, tmp_path, ScriptedApprover(other))
    assert answer.decision.decision == "deny" and "different arguments" in answer.decision.reason


def test_a_silent_approver_times_out_into_a_deny_and_is_withdrawn(log, session, tmp_path):
    release = threading.Event()
    withdrawn: list[str] = []

    class Silent:
        name = "silent"

        def request(self, req: ApprovalRequest) -> ApprovalDecision:
            release.wait(5)
            return ApprovalDecision(decision="approve", args_hash=req.args_hash)

        def withdraw(self, call_id: str) -> None:
            withdrawn.append(call_id)

    try:
        answer = _ask(log, session, tmp_path, Silent(), timeout=0.2)
    finally:
        release.set()
    assert answer.decision.decision == "deny" and answer.by == "timeout"
    assert withdrawn == ["c1"]


def test_a_crashing_approver_is_a_deny(log, session, tmp_path):
    def crash(_req: ApprovalRequest) -> ApprovalDecision:
        raise RuntimeError("ui gone")

    answer = _ask(log, session, tmp_path, ScriptedApprover(crash))
    assert (
        answer.decision.decision == "deny" and "approver failed: ui gone" in answer.decision.reason
    )


def test_settling_always_without_a_grant_approves_this_call_once(log, session):
    approvals = Approvals(ScriptedApprover(), Recorder(log, session))
    always = ApprovalDecision(decision="always", by="dev", args_hash="a" * 64)
    once = approvals.settle(always, "a" * 64, None, "c1")
    assert once.decision.decision == "approve" and once.grant is None
    grant = Grant(tool="shell", prefix=["git", "log"])
    kept = approvals.settle(always, "a" * 64, grant, "c1")
    assert kept.grant is grant and grant.by == "dev" and grant.call_id == "c1"
    approvals.close()


def test_a_question_is_answered_or_ends_the_session(log, session):
    approvals = Approvals(
        ScriptedApprover(("approve", {"answer": "use v2"}), "terminate"), Recorder(log, session)
    )
    assert approvals.question("c1", "which api?", ["v1", "v2"]) == ("use v2", False)
    answer, terminated = approvals.question("c2", "and now?")
    assert terminated and "terminated" in answer
    approvals.close()
    assert kinds(log, session) == ["question_asked", "question_answered"] * 2


# -- running and recording the result ------------------------------------------


def test_a_tool_runs_once_and_its_crash_is_an_error_result(tmp_path):
    runs: list[Any] = []

    class Crashing(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            runs.append(args)
            raise ValueError("boom")

    result = run_once(Crashing(), "echo", {"text": "x"}, ctx(tmp_path))
    assert result.status == "error" and "echo failed: ValueError: boom" in result.output
    assert len(runs) == 1


def test_the_result_record_is_bounded_and_keeps_the_whole_output_as_a_blob(log, session):
    text = "a" * LOG_OUTPUT_HEAD + "MIDDLE" + "z" * LOG_OUTPUT_TAIL
    result = record_result(Recorder(log, session), ToolResult(output=text), "echo", "c1", 0.0)
    assert "MIDDLE" not in result.output and result.output_size == len(text)
    assert result.output_blob and log.get_blob(result.output_blob) == text.encode()
    [finished] = [e.payload for e in log.events(session, kinds=["action_finished"])]
    assert finished["truncated"] and finished["output"] == result.output


def test_a_log_failure_after_the_run_is_told_to_the_agent(log, session, monkeypatch):
    def full(*_a: Any, **_k: Any) -> Any:
        raise LogWriteError("disk full")

    monkeypatch.setattr(log, "append_many", full)
    rec = Recorder(log, session)
    result = record_result(rec, ToolResult(output="done"), "echo", "c1", 0.0)
    assert "the audit log failed after this ran" in result.output and rec.failure == "disk full"
