"""The broker's flow and DESIGN.md's invariants, each with a test that fails
if the invariant breaks. Real SQLite logs; a fixed policy and a recording tool."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overseer.approval import ApprovalDecision, ApprovalRequest, DenyAll
from overseer.broker import Broker
from overseer.errors import LogWriteError
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog
from overseer.toolapi import Facts, ToolCall, ToolContext, ToolResult
from tests.helpers.fakes import EchoTool, FixedPolicy, ScriptedApprover


def kinds(log: AuditLog, sid: str) -> list[str]:
    return [e.kind for e in log.events(sid) if e.kind != "seal"]


def payloads(log: AuditLog, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in log.events(sid, kinds=[kind])]


@pytest.fixture
def session(log: AuditLog, tmp_path: Path) -> str:
    return log.start_session(SessionStartedPayload(task="t", agent="test", workspace=str(tmp_path)))


def make(
    log: AuditLog,
    sid: str,
    tmp_path: Path,
    policy: Any = None,
    approver: Any = None,
    tool: EchoTool | None = None,
    **kw: Any,
) -> tuple[Broker, EchoTool]:
    """A broker over one echo-like tool (``tool``, else a plain EchoTool)."""
    tool = tool or EchoTool()
    broker = Broker(
        log,
        sid,
        {"echo": tool},
        policy or FixedPolicy({"echo": "allow"}),
        approver or DenyAll(),
        tmp_path,
        **kw,
    )
    return broker, tool


def test_allowed_call_runs_once_and_is_recorded_in_order(log, session, tmp_path):
    broker, tool = make(log, session, tmp_path)
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "hi", "times": 2}))
    assert result.status == "ok" and result.output == "hihi"
    assert len(tool.runs) == 1
    assert kinds(log, session)[1:] == [
        "action_proposed",
        "policy_decided",
        "action_started",
        "action_finished",
    ]
    started = payloads(log, session, "action_started")[0]
    assert started["args"] == {"text": "hi", "times": 2}
    assert started["args_hash"] == payloads(log, session, "policy_decided")[0]["args_hash"]


def test_decision_is_durable_before_the_tool_runs(log, session, tmp_path, log_path):
    seen: list[Any] = []

    class Checking(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            # Read through an independent connection: only a committed event is visible.
            with AuditLog(log_path, create=False) as other:
                seen.extend(
                    e.payload for e in other.events(ctx.session_id, kinds=["action_started"])
                )
            return super().run(args, ctx)

    tool = Checking()
    broker, _ = make(log, session, tmp_path, tool=tool)
    broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert seen and seen[0]["call_id"] == "c1" and seen[0]["args"] == {"text": "x", "times": 1}


def test_nothing_runs_when_the_log_cannot_be_written(log, session, tmp_path, monkeypatch):
    broker, tool = make(log, session, tmp_path)
    real_append_many = log.append_many

    def failing(sid: str, records: Any, **kw: Any) -> Any:
        if any(kind == "action_started" for kind, _ in records):
            raise LogWriteError("disk full")
        return real_append_many(sid, records, **kw)

    monkeypatch.setattr(log, "append_many", failing)
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and "nothing was run" in result.output
    assert tool.runs == []
    # After a log failure nothing more runs at all.
    monkeypatch.setattr(log, "append_many", real_append_many)
    assert broker.submit(ToolCall(id="c2", name="echo", args={"text": "y"})).status == "denied"
    assert tool.runs == []


def test_policy_exception_denies(log, session, tmp_path):
    broker, tool = make(log, session, tmp_path, policy=FixedPolicy(raises=True))
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and "policy error" in result.output
    assert tool.runs == []
    assert payloads(log, session, "policy_decided")[0]["rule"] == "builtin:fail-closed"


@pytest.mark.parametrize(
    "answer",
    [
        lambda req: (_ for _ in ()).throw(RuntimeError("approver crashed")),
        lambda req: "not a decision",
        lambda req: time.sleep(5),
    ],
    ids=["raises", "garbage", "timeout"],
)
def test_approver_failure_denies(log, session, tmp_path, answer):
    broker, tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "ask"}),
        approver=ScriptedApprover(answer),
        approval_timeout=0.5,
    )
    t0 = time.monotonic()
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert time.monotonic() - t0 < 3
    assert result.status == "denied" and tool.runs == []
    decided = payloads(log, session, "approval_decided")[0]
    assert decided["decision"] == "deny"


def test_what_is_approved_is_what_runs_even_if_the_approver_mutates_its_copy(
    log, session, tmp_path
):
    def sneaky(req: ApprovalRequest) -> ApprovalDecision:
        req.args["text"] = "rm -rf /"
        return ApprovalDecision(decision="approve", by="tester", args_hash=req.args_hash)

    broker, tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "ask"}),
        approver=ScriptedApprover(sneaky),
    )
    broker.submit(ToolCall(id="c1", name="echo", args={"text": "safe"}))
    assert [r.text for r in tool.runs] == ["safe"]
    shown = payloads(log, session, "approval_requested")[0]
    started = payloads(log, session, "action_started")[0]
    assert shown["args"] == started["args"] == {"text": "safe", "times": 1}
    assert shown["args_hash"] == started["args_hash"]


def test_approval_for_other_args_is_a_deny(log, session, tmp_path):
    wrong = ApprovalDecision(decision="approve", by="tester", args_hash="0" * 64)
    broker, tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "ask"}),
        approver=ScriptedApprover(wrong),
    )
    assert broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"})).status == "denied"
    assert tool.runs == []


def test_edit_is_a_new_proposal_checked_by_the_policy_again(log, session, tmp_path):
    approver = ScriptedApprover(("edit", {"edited_args": {"text": "forbidden thing"}}))
    broker, tool = make(
        log, session, tmp_path, policy=FixedPolicy({"echo": "ask"}), approver=approver
    )
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and tool.runs == []
    proposed = payloads(log, session, "action_proposed")
    assert [p["source"] for p in proposed] == ["agent", "edit"]
    assert proposed[1]["parent_call_id"] == "c1"
    assert [p["decision"] for p in payloads(log, session, "policy_decided")] == ["ask", "deny"]


def test_edited_args_are_what_runs(log, session, tmp_path):
    approver = ScriptedApprover(("edit", {"edited_args": {"text": "edited"}}), "approve")
    broker, tool = make(
        log, session, tmp_path, policy=FixedPolicy({"echo": "ask"}), approver=approver
    )
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "original"}))
    assert result.output == "edited"
    assert [r.text for r in tool.runs] == ["edited"]
    assert len(approver.requests) == 2  # the edit was shown again before it ran


def test_deny_reason_reaches_the_agent(log, session, tmp_path):
    broker, tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "ask"}),
        approver=ScriptedApprover(("deny", {"reason": "use the staging db"})),
    )
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and "use the staging db" in result.output


def test_terminate_stops_everything_after(log, session, tmp_path):
    broker, tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "ask"}),
        approver=ScriptedApprover("terminate", "approve"),
    )
    assert broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"})).status == "terminated"
    assert broker.terminated
    assert broker.submit(ToolCall(id="c2", name="echo", args={"text": "y"})).status == "terminated"
    assert tool.runs == []


def test_malformed_calls_are_recorded_and_the_session_goes_on(log, session, tmp_path):
    broker, tool = make(log, session, tmp_path)
    bad = broker.submit(ToolCall(id="c1", name="echo", args={"text": 5, "bogus": 1}))
    assert bad.status == "invalid" and "text" in bad.output
    unknown = broker.submit(ToolCall(id="c2", name="nope", args={}))
    assert unknown.status == "invalid" and "unknown tool" in unknown.output
    junk = broker.submit(ToolCall(id="c3", name="echo", args="{not json"))
    assert junk.status == "invalid"
    assert broker.submit(ToolCall(id="c4", name="echo", args='{"text": "ok"}')).output == "ok"
    proposed = payloads(log, session, "action_proposed")
    assert proposed[0]["args"] == {"text": 5, "bogus": 1}  # raw, as proposed
    assert len(tool.runs) == 1


def test_each_outcome_keeps_the_whole_story_in_order(log, session, tmp_path):
    """The proposal and decision are held until the call's next record and
    committed with it: every path still writes all of them, in order."""
    broker, _tool = make(
        log,
        session,
        tmp_path,
        policy=FixedPolicy({"echo": "deny", "ask_me": "ask"}),
        approver=ScriptedApprover("approve"),
    )
    broker.tools["ask_me"] = EchoTool()
    broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))  # denied by policy
    broker.submit(ToolCall(id="c2", name="echo", args={"text": 5}))  # invalid
    broker.submit(ToolCall(id="c3", name="ask_me", args={"text": "y"}))  # asked, approved
    by_call: dict[str, list[str]] = {}
    for e in log.events(session):
        if "call_id" in e.payload:
            by_call.setdefault(e.payload["call_id"], []).append(e.kind)
    assert by_call == {
        "c1": ["action_proposed", "policy_decided", "action_finished"],
        "c2": ["action_proposed", "action_finished"],
        "c3": [
            "action_proposed",
            "policy_decided",
            "approval_requested",
            "approval_decided",
            "action_started",
            "action_finished",
        ],
    }
    assert log.verify(session)[0].ok


def test_an_unexpected_failure_mid_call_still_records_the_proposal(
    log, session, tmp_path, monkeypatch
):
    broker, tool = make(log, session, tmp_path)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("a bug in the broker")

    monkeypatch.setattr(broker, "_context", broken)
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and "a bug in the broker" in result.output
    assert tool.runs == []
    assert kinds(log, session)[1:] == ["action_proposed"]


def test_no_tool_may_touch_the_audit_log_whatever_the_policy(log, session, tmp_path, log_path):
    broker, tool = make(log, session, tmp_path, policy=FixedPolicy(default="allow"))
    tool.paths = [str(log_path)]
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "denied" and tool.runs == []
    tool.paths = [str(log_path) + ".seals"]
    assert broker.submit(ToolCall(id="c2", name="echo", args={"text": "x"})).status == "denied"
    tool.paths = []
    # Named in the arguments is enough.
    assert (
        broker.submit(ToolCall(id="c3", name="echo", args={"text": f"cat {log_path}"})).status
        == "denied"
    )
    assert tool.runs == []


def test_protected_paths_are_found_through_symlinks(log, session, tmp_path, log_path):
    link = tmp_path / "innocent.db"
    link.symlink_to(log_path)
    broker, tool = make(log, session, tmp_path, policy=FixedPolicy(default="allow"))
    tool.paths = ["innocent.db"]
    assert broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"})).status == "denied"


def test_a_crashing_tool_is_an_error_and_is_not_retried(log, session, tmp_path):
    calls = []

    class Crashing(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            calls.append(1)
            raise OSError("boom")

    broker, _ = make(log, session, tmp_path, tool=Crashing())
    result = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert result.status == "error" and "boom" in result.output
    assert calls == [1]


def test_output_is_bounded_in_the_log_and_kept_whole_as_a_blob(log, session, tmp_path):
    broker, tool = make(log, session, tmp_path)
    result = broker.submit(
        ToolCall(id="c1", name="echo", args={"text": "abcdefghij", "times": 100_000})
    )
    finished = payloads(log, session, "action_finished")[0]
    assert finished["output_size"] == 1_000_000
    assert len(finished["output"]) < 40_000 and finished["truncated"]
    assert finished["output"].startswith("abcdefghij") and finished["output"].endswith("ghij")
    assert log.get_blob(finished["output_blob"]) == b"abcdefghij" * 100_000
    assert len(result.output) < 40_000


def test_always_adds_a_recorded_grant_and_the_next_similar_call_is_not_asked(
    log, session, tmp_path
):
    approver = ScriptedApprover("always")
    broker, tool = make(
        log, session, tmp_path, policy=FixedPolicy({"echo": "ask"}), approver=approver
    )
    assert broker.submit(ToolCall(id="c1", name="echo", args={"text": "a"})).status == "ok"
    assert broker.submit(ToolCall(id="c2", name="echo", args={"text": "b"})).status == "ok"
    assert len(approver.requests) == 1
    grant = payloads(log, session, "grant_added")[0]
    assert payloads(log, session, "action_started")[1]["decided_by"] == f"grant:{grant['grant_id']}"
    broker.revoke_grant(grant["grant_id"], by="tester")
    assert broker.submit(ToolCall(id="c3", name="echo", args={"text": "c"})).status == "denied"
    assert payloads(log, session, "grant_revoked")[0]["grant_id"] == grant["grant_id"]


def test_questions_go_through_the_approver_and_are_recorded(log, session, tmp_path):
    approver = ScriptedApprover(
        lambda req: ApprovalDecision(decision="approve", by="dev", answer="keep the old behaviour")
    )
    broker, _ = make(log, session, tmp_path, approver=approver)
    assert broker.ask_human("c9", "Which behaviour?", ["old", "new"]) == "keep the old behaviour"
    assert payloads(log, session, "question_asked")[0]["choices"] == ["old", "new"]
    assert payloads(log, session, "question_answered")[0]["by"] == "dev"


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["echo", "nope", ""]) | st.text(max_size=20),
    args=st.none()
    | st.text(max_size=200)
    | st.binary(max_size=100).map(lambda b: b.decode("latin-1"))
    | st.dictionaries(
        st.text(max_size=10),
        st.none() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=3),
        max_size=5,
    )
    | st.lists(st.integers(), max_size=3),
)
def test_random_calls_never_crash_and_never_allow_on_exception(log, session, tmp_path, name, args):
    broker, tool = make(log, session, tmp_path, policy=FixedPolicy(raises=True))
    result = broker.submit(ToolCall(id="h", name=name, args=args))
    assert result.status in ("denied", "invalid")
    assert tool.runs == []


def test_ctrl_c_while_a_tool_runs_is_recorded_before_it_stops_the_agent(log, session, tmp_path):
    class Interrupted(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            raise KeyboardInterrupt

    broker, _ = make(log, session, tmp_path, tool=Interrupted())
    with pytest.raises(KeyboardInterrupt):
        broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    [finished] = payloads(log, session, "action_finished")
    assert finished["status"] == "terminated" and "Ctrl-C" in finished["error"]
    assert broker.terminated


def _nested(levels: int) -> list[Any]:
    top: list[Any] = []
    cur = top
    for _ in range(levels):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    return top


def test_hostile_arguments_are_refused_and_recorded_and_the_session_goes_on(
    log, session, tmp_path, log_path
):
    """Arguments nested thousands deep or megabytes big once made the proposal
    unrecordable, and the broker then failed the whole session."""
    broker, tool = make(log, session, tmp_path)
    deep = broker.submit(ToolCall(id="deep", name="echo", args={"text": "x", "n": _nested(5000)}))
    assert deep.status == "invalid" and "deeper than 64 levels" in deep.output
    big = broker.submit(ToolCall(id="big", name="echo", args={"text": "z" * (9 << 20)}))
    assert big.status == "invalid" and "the limit is" in big.output
    assert broker.failure is None and tool.runs == []
    assert broker.submit(ToolCall(id="ok", name="echo", args={"text": "fine"})).status == "ok"
    proposed = {p["call_id"]: p["args"] for p in payloads(log, session, "action_proposed")}
    assert "[nested deeper than 64 levels]" in json.dumps(proposed["deep"])
    stand_in = proposed["big"]
    assert stand_in["size"] == len(json.dumps({"text": "z" * (9 << 20)}).replace(" ", ""))
    assert len(stand_in["head"]) == 4096 and len(stand_in["sha256"]) == 64
    assert log_path.stat().st_size < 1 << 20  # the 9 MB were not stored
    assert log.verify(session)[0].ok


def test_tool_data_json_has_no_form_for_is_recorded_as_text(log, session, tmp_path):
    class Odd(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            return ToolResult(output="done", data={"obj": object(), "deep": _nested(300)})

    tool = Odd()
    broker, _ = make(log, session, tmp_path, tool=tool)
    res = broker.submit(ToolCall(id="c1", name="echo", args={"text": "x"}))
    assert res.status == "ok" and broker.failure is None
    [finished] = payloads(log, session, "action_finished")
    assert finished["data"]["obj"].startswith("<object object")
    assert "[nested deeper than 64 levels]" in json.dumps(finished["data"]["deep"])


def test_huge_ids_and_tool_names_are_cut_not_copied_into_every_record(log, session, tmp_path):
    broker, tool = make(log, session, tmp_path)
    res = broker.submit(ToolCall(id="c1", name="x" * (1 << 20), args={}))
    assert res.status == "invalid" and len(res.output) < 1000
    ok = broker.submit(ToolCall(id="i" * (1 << 20), name="echo", args={"text": "a"}))
    assert ok.status == "ok" and len(tool.runs) == 1
    for e in log.events(session):
        assert len(json.dumps(e.payload)) < 5000, e.kind


def test_a_command_with_too_many_globs_is_refused_by_the_guard(log, session, tmp_path):
    """Each glob word is expanded to see whether it names overseer's files;
    15,000 of them took seconds. Over the limit the guard refuses outright,
    whatever the policy says (and a touched() failure is never waved through)."""
    from overseer.policy.guard import TooManyGlobs, touched

    class Command(EchoTool):
        def facts(self, args: Any, ctx: ToolContext) -> Facts:
            return Facts(commands=[args.text])

    many = "ls " + " ".join(f"*{i}*" for i in range(300))
    with pytest.raises(TooManyGlobs):
        touched(many, str(tmp_path))
    tool = Command()
    broker, _ = make(log, session, tmp_path, tool=tool)
    res = broker.submit(ToolCall(id="c1", name="echo", args={"text": many}))
    assert res.status == "denied" and "cannot work out which paths" in res.output
    assert broker.submit(ToolCall(id="c2", name="echo", args={"text": "ls *.py"})).status == "ok"
    assert [r.text for r in tool.runs] == ["ls *.py"]
