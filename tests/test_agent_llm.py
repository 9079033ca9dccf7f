"""The LLM agent: LangChain's real ``create_agent`` loop, driven by a scripted
tool-calling chat model, under overseer's middleware. Every test runs a real
session and asserts on the real SQLite audit log."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    ToolMessage,
    message_to_dict,
)
from pydantic import BaseModel

import overseer.policy as policy_pkg
from overseer.agent import make_agent
from overseer.agent import models as models_mod
from overseer.agent.llm import LLMAgent
from overseer.agent.middleware import RAW_ARGS_KEY, MediatedTool, expand_turns
from overseer.agent.models import load_model
from overseer.agent.prompt import SYSTEM_PROMPT
from overseer.approval import DenyAll
from overseer.errors import UsageError
from overseer.log import AuditLog
from overseer.registry import Registry
from overseer.session import RunResult, Session, SessionConfig, run_agent
from overseer.toolapi import Sandbox, Tool, ToolContext, ToolResult
from tests.helpers.chat import (
    ScriptedChatModel,
    bad_json_call,
    call,
    final,
    last_tool_messages,
    tool_calls,
)
from tests.helpers.fakes import EchoTool, FixedPolicy, ScriptedApprover

# -- harness -----------------------------------------------------------------


@pytest.fixture
def open_session(tmp_path: Path, log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Open a real Session with the given policy, approver and tools.

    The session gets a fixed policy, no sandbox and only the given tools (no
    entry-point plugins), so these tests exercise the agent and the broker,
    nothing else; ``test_end_to_end_*`` below uses the real ones."""
    opened: list[Session] = []

    def open_(
        policy: Any,
        tools: Iterable[Tool],
        approver: Any = None,
        task: str = "fix the failing test",
    ) -> Session:
        tools = list(tools)
        monkeypatch.setattr(policy_pkg, "load_policy", lambda _ref: policy, raising=False)
        monkeypatch.setattr(Session, "_resolve_sandbox", lambda self, mode, protect=None: Sandbox())
        # The given tools stand in for the entry points (built-ins and plugins).
        monkeypatch.setattr(
            Registry, "load_entry_points", lambda self, only=None: [self.add(t) for t in tools]
        )
        ws = tmp_path / "ws"
        ws.mkdir(exist_ok=True)
        cfg = SessionConfig(
            task=task, agent="llm", model="scripted", workspace=ws, watch=False, snapshot=False
        )
        s = Session.open(cfg, approver=approver or DenyAll(), log=log)
        opened.append(s)
        return s

    yield open_
    for s in opened:
        if not s.ended:
            s.end("failed", "test cleanup")


def run(session: Session, model: ScriptedChatModel, max_steps: int = 20) -> RunResult:
    return run_agent(session, LLMAgent(model, max_steps=max_steps))


def events(log: AuditLog, sid: str, *kinds: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.payload) for e in log.events(sid) if (not kinds or e.kind in kinds)]


def kinds(log: AuditLog, sid: str) -> list[str]:
    return [e.kind for e in log.events(sid) if e.kind not in ("seal", "notice")]


def payloads(log: AuditLog, sid: str, kind: str) -> list[dict[str, Any]]:
    return [e.payload for e in log.events(sid, kinds=[kind])]


def by_call(log: AuditLog, sid: str, kind: str) -> dict[str, dict[str, Any]]:
    return {p["call_id"]: p for p in payloads(log, sid, kind)}


def expect(check: Any, reply: AIMessage) -> Any:
    """A scripted reply that first checks what the model was sent."""

    def reply_fn(messages: list[BaseMessage]) -> AIMessage:
        check(messages)
        return reply

    return reply_fn


# -- the loop, through the broker ------------------------------------------


def test_allowed_call_runs_through_the_broker_and_every_turn_is_recorded(open_session, log):
    echo = EchoTool()
    s = open_session(FixedPolicy({"echo": "allow"}), [echo])

    def sees_output(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.content == "hihi" and tm.status == "success" and tm.tool_call_id == "c1"

    model = ScriptedChatModel(
        script=[
            tool_calls(call("echo", {"text": "hi", "times": 2}, id="c1"), text="Let me echo."),
            expect(sees_output, final("Echoed hi twice.")),
        ]
    )
    result = run(s, model)

    assert (
        result.status == "completed"
        and result.final == "Echoed hi twice."
        and result.exit_code == 0
    )
    assert [a.text for a in echo.runs] == ["hi"]
    assert kinds(log, s.id) == [
        "session_started",
        "model_turn",
        "action_proposed",
        "policy_decided",
        "action_started",
        "action_finished",
        "model_turn",
        "session_ended",
    ]
    # The tools the model was offered are the session's, with the Args schema.
    [bound] = model.bound_tools
    assert bound["function"]["name"] == "echo"
    assert bound["function"]["parameters"]["required"] == ["text"]
    # The system prompt says the agent works under oversight.
    assert model.seen[0][0].content.startswith(SYSTEM_PROMPT)

    t1, t2 = payloads(log, s.id, "model_turn")
    assert t1["turn"] == 1 and t1["text"] == "Let me echo." and t1["prior"] == 0
    assert t1["tool_calls"] == [{"id": "c1", "name": "echo", "args": {"text": "hi", "times": 2}}]
    assert isinstance(t1["duration_ms"], int)
    response = log.get_message(t1["response"])
    assert response is not None and response["data"]["tool_calls"][0]["id"] == "c1"
    system = log.get_message(t1["system"])
    assert system is not None and system["data"]["content"].startswith(SYSTEM_PROMPT)
    task = log.get_message(t1["messages"][0])
    assert task is not None and task["data"]["content"] == "fix the failing test"
    # Turn 2 repeats nothing: it extends turn 1's context (task + reply) by the tool result.
    assert t2["prior"] == 2 and len(t2["messages"]) == 1
    tool_msg = log.get_message(t2["messages"][0])
    assert (
        tool_msg is not None
        and tool_msg["type"] == "tool"
        and tool_msg["data"]["content"] == "hihi"
    )
    assert t2["text"] == "Echoed hi twice." and t2["tool_calls"] == []
    assert by_call(log, s.id, "action_proposed")["c1"]["source"] == "agent"
    assert payloads(log, s.id, "session_ended")[0]["status"] == "completed"
    assert all(r.ok for r in log.verify(s.id))


def test_each_turn_can_be_rebuilt_and_messages_are_stored_once(open_session, log):
    s = open_session(FixedPolicy({"echo": "allow"}), [EchoTool()])
    n = 12
    model = ScriptedChatModel(
        script=[tool_calls(call("echo", {"text": f"t{i}"})) for i in range(n)] + [final("done")]
    )
    agent = LLMAgent(model, max_steps=n + 5)
    assert run_agent(s, agent).status == "completed"

    turns = payloads(log, s.id, "model_turn")
    assert len(turns) == n + 1
    # O(1) per turn: after the first, each turn adds the previous tool result only.
    assert all(t["prior"] > 0 and len(t["messages"]) == 1 for t in turns[1:])
    # Expanding the deltas gives exactly what the model was sent (minus the system message).
    seen = [[log.put_message(message_to_dict(m)) for m in request[1:]] for request in model.seen]
    assert expand_turns(turns) == seen
    # task + system + one reply and one tool result per call + the final reply
    assert agent.middleware is not None and agent.middleware.store.writes == 2 + 2 * n + 1
    assert log.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2 + 2 * n + 1


def test_malformed_calls_reach_the_broker_and_the_model_recovers(open_session, log):
    echo = EchoTool()
    s = open_session(FixedPolicy({"echo": "allow"}), [echo])

    def sees_validation_error(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error"
        assert "invalid arguments for echo" in str(tm.content) and "text: Field required" in str(
            tm.content
        )

    def sees_json_error(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error" and "not valid JSON (Unterminated string" in str(tm.content)

    def sees_unknown_tool(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert (
            tm.status == "error"
            and "unknown tool 'ehco'" in str(tm.content)
            and "echo" in str(tm.content)
        )

    model = ScriptedChatModel(
        script=[
            tool_calls(call("echo", {"txt": 5}, id="bad1")),
            expect(
                sees_validation_error, bad_json_call("echo", '{"text": "unterminated', id="bad2")
            ),
            expect(sees_json_error, tool_calls(call("ehco", {"text": "x"}, id="bad3"))),
            expect(sees_unknown_tool, tool_calls(call("echo", {"text": "ok"}, id="good"))),
            final("Recovered."),
        ]
    )
    result = run(s, model)

    assert result.status == "completed" and result.final == "Recovered."
    assert [a.text for a in echo.runs] == ["ok"]
    proposed = by_call(log, s.id, "action_proposed")
    finished = by_call(log, s.id, "action_finished")
    # The broker saw the raw arguments, LangChain did not reject them first.
    assert proposed["bad1"]["args"] == {"txt": 5}
    assert proposed["bad2"]["args"] == '{"text": "unterminated'
    assert proposed["bad3"]["tool"] == "ehco"
    assert {finished[c]["status"] for c in ("bad1", "bad2", "bad3")} == {"invalid"}
    assert finished["good"]["status"] == "ok"
    # No invalid call got a decision or ran.
    assert set(by_call(log, s.id, "policy_decided")) == {"good"}
    # The record keeps the raw text the model sent, marked invalid; the model is
    # sent its own call back, never overseer's internal key.
    turn2 = payloads(log, s.id, "model_turn")[1]
    assert turn2["tool_calls"] == [
        {"id": "bad2", "name": "echo", "args": '{"text": "unterminated', "invalid": True}
    ]
    assert all(RAW_ARGS_KEY not in repr(request) for request in model.seen)


def test_denied_calls_return_the_reason_and_the_run_goes_on(open_session, log):
    echo = EchoTool()
    approver = ScriptedApprover(("deny", {"reason": "not on the main branch"}))
    s = open_session(
        FixedPolicy({"echo": "allow", "ask_me": "ask"}), [echo, _named_echo("ask_me")], approver
    )

    def sees_policy_denial(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error"
        assert "denied by policy (test:echo): fixed deny" in str(tm.content)
        assert "do not retry it" in str(tm.content)

    def sees_person_denial(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error" and "denied by tester: not on the main branch" in str(
            tm.content
        )

    model = ScriptedChatModel(
        script=[
            tool_calls(call("echo", {"text": "forbidden thing"}, id="d1")),
            expect(sees_policy_denial, tool_calls(call("ask_me", {"text": "please"}, id="d2"))),
            expect(sees_person_denial, tool_calls(call("echo", {"text": "allowed"}, id="a1"))),
            final("One action was denied by policy and one by a person; I did the rest."),
        ]
    )
    result = run(s, model)

    assert result.status == "completed"
    assert [a.text for a in echo.runs] == ["allowed"]
    finished = by_call(log, s.id, "action_finished")
    assert finished["d1"]["status"] == "denied" and finished["d2"]["status"] == "denied"
    assert by_call(log, s.id, "policy_decided")["d1"]["decision"] == "deny"
    decided = by_call(log, s.id, "approval_decided")["d2"]
    assert decided["decision"] == "deny" and decided["reason"] == "not on the main branch"
    assert "d1" not in by_call(log, s.id, "action_started") and "d2" not in by_call(
        log, s.id, "action_started"
    )


def test_an_edited_call_runs_as_edited_after_the_policy_checks_it_again(open_session, log):
    echo = EchoTool()
    policy = FixedPolicy({"echo": "ask"})
    approver = ScriptedApprover(
        ("edit", {"edited_args": {"text": "safe"}}),
        "approve",  # the edit is asked about again
        ("edit", {"edited_args": {"text": "forbidden after all"}}),  # the policy denies this edit
    )
    s = open_session(policy, [echo], approver)

    def sees_edit(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "success" and str(tm.content).startswith("safe")
        assert (
            'a person edited this call before it ran; it ran as echo {"text": "safe", "times": 1}'
            in str(tm.content)
        )

    def sees_denied_edit(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error" and "denied by policy" in str(tm.content)
        assert "the edit did not run" in str(tm.content)

    model = ScriptedChatModel(
        script=[
            tool_calls(call("echo", {"text": "risky"}, id="e1")),
            expect(sees_edit, tool_calls(call("echo", {"text": "risky again"}, id="e2"))),
            expect(sees_denied_edit, final("done")),
        ]
    )
    assert run(s, model).status == "completed"

    assert [a.text for a in echo.runs] == ["safe"]
    # Policy judged the proposal and then the edit.
    assert [args["text"] for _tool, args, _facts in policy.seen] == [
        "risky",
        "safe",
        "risky again",
        "forbidden after all",
    ]
    started = by_call(log, s.id, "action_started")
    assert list(started) == ["e1-e1"] and started["e1-e1"]["args"] == {"text": "safe", "times": 1}
    finished = by_call(log, s.id, "action_finished")
    assert finished["e1"]["status"] == "edited" and finished["e1-e1"]["status"] == "ok"
    assert finished["e2"]["status"] == "edited" and finished["e2-e1"]["status"] == "denied"
    assert by_call(log, s.id, "action_proposed")["e1-e1"]["parent_call_id"] == "e1"


class _BarrierArgs(BaseModel):
    text: str


class _BarrierEcho(Tool):
    """Both calls must be inside run() at once: proves the two ran in parallel."""

    name = "meet"
    description = "meet the other call"
    Args = _BarrierArgs

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.threads: set[int] = set()

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        self.threads.add(threading.get_ident())
        self.barrier.wait()
        return ToolResult(output=f"met {args.text}")


def test_parallel_calls_in_one_turn_each_get_their_own_decision_and_record(open_session, log):
    meet = _BarrierEcho()
    policy = FixedPolicy({"meet": "allow", "echo": "allow"})
    s = open_session(policy, [meet, EchoTool()])

    def sees_all(messages: list[BaseMessage]) -> None:
        tms = {tm.tool_call_id: tm for tm in last_tool_messages(messages)}
        assert set(tms) == {"p1", "p2", "p3"}
        assert tms["p1"].content == "met a" and tms["p2"].content == "met b"
        assert tms["p3"].status == "error" and "denied by policy" in str(tms["p3"].content)

    model = ScriptedChatModel(
        script=[
            tool_calls(
                call("meet", {"text": "a"}, id="p1"),
                call("meet", {"text": "b"}, id="p2"),
                call("echo", {"text": "forbidden"}, id="p3"),
            ),
            expect(sees_all, final("done")),
        ]
    )
    assert run(s, model).status == "completed"

    assert len(meet.threads) == 2
    decided = by_call(log, s.id, "policy_decided")
    assert {c: d["decision"] for c, d in decided.items()} == {
        "p1": "allow",
        "p2": "allow",
        "p3": "deny",
    }
    finished = by_call(log, s.id, "action_finished")
    assert {c: f["status"] for c, f in finished.items()} == {"p1": "ok", "p2": "ok", "p3": "denied"}
    # Every call's records are in order, and the chain verifies.
    evs = events(log, s.id)
    for cid in ("p1", "p2"):
        order = [k for k, p in evs if p.get("call_id") == cid]
        assert order == ["action_proposed", "policy_decided", "action_started", "action_finished"]
    assert all(r.ok for r in log.verify(s.id))


def test_terminate_ends_the_session_as_terminated(open_session, log):
    echo = EchoTool()
    s = open_session(FixedPolicy({"echo": "ask"}), [echo], ScriptedApprover("terminate"))
    model = ScriptedChatModel(
        script=[tool_calls(call("echo", {"text": "x"}, id="t1")), final("should not be reached")]
    )
    result = run(s, model)

    assert result.status == "terminated" and result.exit_code == 4
    assert model.calls == 1 and echo.runs == []
    assert by_call(log, s.id, "action_finished")["t1"]["status"] == "terminated"
    assert payloads(log, s.id, "session_ended")[0]["status"] == "terminated"
    assert log.session(s.id)["status"] == "terminated"


def test_a_stop_request_stops_before_the_next_turn(open_session, log):
    holder: dict[str, Session] = {}
    stopper = _named_echo("stopper", on_run=lambda: holder["s"].stop_requested.set())
    s = holder["s"] = open_session(FixedPolicy({"stopper": "allow"}), [stopper])
    model = ScriptedChatModel(
        script=[tool_calls(call("stopper", {"text": "x"})), final("unreachable")]
    )
    result = run(s, model)
    assert result.status == "terminated" and model.calls == 1
    assert "asked to stop" in result.final


def test_steering_messages_reach_the_model_before_its_next_turn(open_session, log):
    s = open_session(FixedPolicy({"echo": "allow"}), [EchoTool()])

    def turn1(messages: list[BaseMessage]) -> AIMessage:
        # The developer types while the agent works; `overseer say` posts from another process.
        s.say("use the smaller fix", by="dev")
        log.post(s.id, "message", {"text": "and keep the API"}, by="cli")
        return tool_calls(call("echo", {"text": "working"}, id="w1"))

    def turn2(messages: list[BaseMessage]) -> AIMessage:
        # After the tool result, before this turn: both steering messages, in order.
        tail = messages[-3:]
        assert isinstance(tail[0], ToolMessage) and tail[0].tool_call_id == "w1"
        assert all(isinstance(m, HumanMessage) for m in tail[1:])
        assert "use the smaller fix" in str(tail[1].content) and "and keep the API" in str(
            tail[2].content
        )
        return tool_calls(call("echo", {"text": "again"}, id="w2"))

    def turn3(messages: list[BaseMessage]) -> AIMessage:
        # They stay in the history where the model first saw them.
        texts = [str(m.content) for m in messages if isinstance(m, HumanMessage)]
        assert len(texts) == 3 and "use the smaller fix" in texts[1]
        return final("done, smaller fix, API kept")

    model = ScriptedChatModel(script=[turn1, turn2, turn3])
    assert run(s, model).status == "completed"

    order = kinds(log, s.id)
    # Both recorded as user_message before the model turn that received them.
    second_turn = [i for i, k in enumerate(order) if k == "model_turn"][1]
    assert [i for i, k in enumerate(order) if k == "user_message"] and all(
        i < second_turn for i, k in enumerate(order) if k == "user_message"
    )
    msgs = payloads(log, s.id, "user_message")
    assert [(m["text"], m["by"]) for m in msgs] == [
        ("use the smaller fix", "dev"),
        ("and keep the API", "cli"),
    ]
    t2 = payloads(log, s.id, "model_turn")[1]
    stored = [log.get_message(h) for h in t2["messages"]]
    assert [m["type"] for m in stored if m] == ["tool", "human", "human"]
    assert expand_turns(payloads(log, s.id, "model_turn"))[2][-4:-2] == t2["messages"][1:]


def test_max_steps_bounds_the_run(open_session, log):
    echo = EchoTool()
    s = open_session(FixedPolicy({"echo": "allow"}), [echo])
    model = ScriptedChatModel(
        script=[tool_calls(call("echo", {"text": str(i)})) for i in range(50)]
    )
    result = run(s, model, max_steps=3)

    assert result.status == "failed" and result.exit_code == 1
    assert model.calls == 3 and len(echo.runs) == 3
    assert "step limit (3 model turns)" in result.final
    assert len(payloads(log, s.id, "model_turn")) == 3
    notices = [p for p in payloads(log, s.id, "notice") if p["topic"] == "agent"]
    assert notices and notices[0]["data"]["reason"] == "max_steps"
    assert payloads(log, s.id, "session_ended")[0]["status"] == "failed"


def test_reused_call_ids_get_distinct_records(open_session, log):
    s = open_session(FixedPolicy({"echo": "allow"}), [EchoTool()])
    model = ScriptedChatModel(
        script=[
            tool_calls(call("echo", {"text": "a"}, id="call_0")),
            tool_calls(call("echo", {"text": "b"}, id="call_0")),
            final("ok"),
        ]
    )
    assert run(s, model).status == "completed"
    ids = [p["call_id"] for p in payloads(log, s.id, "action_proposed")]
    assert len(set(ids)) == 2 and ids[0] == "call_0"


def test_a_model_error_fails_the_run_and_is_recorded(open_session, log):
    s = open_session(FixedPolicy({}), [])

    def boom(_messages: list[BaseMessage]) -> AIMessage:
        raise ConnectionError("provider unreachable")

    result = run(s, ScriptedChatModel(script=[boom]))
    assert result.status == "failed" and "provider unreachable" in result.final
    [turn] = payloads(log, s.id, "model_turn")
    assert "provider unreachable" in turn["error"]


def test_a_mediated_tool_cannot_run_itself():
    tool = MediatedTool.of(EchoTool())
    with pytest.raises(RuntimeError, match="only run through overseer"):
        tool.invoke({"text": "x"})


# -- models ----------------------------------------------------------------


def test_missing_provider_package_and_key_is_a_usage_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setattr(models_mod, "_installed", lambda module: False)
    with pytest.raises(UsageError) as err:
        make_agent("llm", model="anthropic:claude-sonnet-4-5")
    msg = str(err.value)
    assert 'pip install "langchain[anthropic]"' in msg and "langchain-anthropic" in msg
    assert "ANTHROPIC_API_KEY" in msg
    assert err.value.exit_code == 2


def test_missing_key_alone_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(models_mod, "_installed", lambda module: True)
    with pytest.raises(UsageError, match="set OPENAI_API_KEY") as err:
        load_model("openai:gpt-4.1")
    assert "pip install" not in str(err.value)


def test_a_really_missing_provider_package_is_a_usage_error(monkeypatch):
    # The real package is installed for the stub-server tests; blocking its import
    # (as a venv without it would fail) must give the one-line error, no traceback.
    import sys

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setitem(sys.modules, "langchain_anthropic", None)
    with pytest.raises(UsageError, match=r'pip install "langchain\[anthropic\]"'):
        load_model("anthropic:claude-sonnet-4-5")


def test_a_provider_pointed_at_a_local_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        load_model("openai:gpt-4.1")
    model = load_model("openai:local-model", base_url="http://127.0.0.1:9/v1")
    assert model.openai_api_base == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    assert load_model("anthropic:claude-x").anthropic_api_url == "http://127.0.0.1:9"  # type: ignore[attr-defined]


def test_model_spec_options_are_typed_and_checked():
    model = load_model(
        "openai:gpt-4.1?streaming=true&temperature=0.5,max_retries=0&timeout=2.5"
        "&base_url=http://127.0.0.1:9/v1"
    )
    assert model.streaming is True and model.temperature == 0.5  # type: ignore[attr-defined]
    assert model.max_retries == 0 and model.request_timeout == 2.5  # type: ignore[attr-defined]
    assert model.stream_usage is True  # type: ignore[attr-defined] - what --max-tokens counts
    for bad, why in [
        ("openai:gpt-4.1?streamin=true", "unknown option 'streamin'"),
        ("openai:gpt-4.1?streaming=maybe", "expected true or false"),
        ("openai:gpt-4.1?api_key=sk-123", "does not belong in a spec"),
        ("openai:gpt-4.1?base_url=ftp://x", "http:// or https://"),
        ("openai:gpt-4.1?timeout", "not KEY=VALUE"),
        ("tests.test_agent_llm:make_scripted?streaming=true", "apply to PROVIDER:MODEL"),
    ]:
        with pytest.raises(UsageError, match=re.escape(why)):
            load_model(bad)
    with pytest.raises(UsageError, match="--base-url"):
        load_model("openai:gpt-4.1", base_url="not a url")


def test_a_module_attr_model_whose_import_fails_shows_the_cause_first(tmp_path, monkeypatch):
    (tmp_path / "broken_models.py").write_text("raise RuntimeError('no GPU here')\n")
    (tmp_path / "needs_dep.py").write_text("import not_installed_dep_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError) as err:
        load_model("broken_models:chat")
    assert str(err.value).startswith(
        "--model broken_models:chat: importing 'broken_models' failed: RuntimeError: no GPU here"
    )
    assert "anthropic" not in str(err.value)
    with pytest.raises(UsageError, match="No module named 'not_installed_dep_xyz'") as err:
        load_model("needs_dep:chat")
    assert "anthropic" not in str(err.value)


def make_scripted() -> ScriptedChatModel:
    return ScriptedChatModel(script=[final("from a factory")])


NOT_A_MODEL = 42


def needs_args(x: int) -> ScriptedChatModel:
    return ScriptedChatModel()


def test_module_attr_loads_an_instance_or_a_factory():
    assert isinstance(load_model("tests.test_agent_llm:make_scripted"), ScriptedChatModel)
    assert isinstance(load_model("tests.helpers.chat:ScriptedChatModel"), ScriptedChatModel)
    agent = make_agent("llm", model="tests.test_agent_llm:make_scripted", max_steps=7)
    assert isinstance(agent, LLMAgent) and agent.max_steps == 7
    assert agent.model == "tests.test_agent_llm:make_scripted"
    with pytest.raises(UsageError, match="not a chat model"):
        load_model("tests.test_agent_llm:NOT_A_MODEL")
    with pytest.raises(UsageError, match="no arguments"):
        load_model("tests.test_agent_llm:needs_args")
    with pytest.raises(UsageError, match="cannot import"):
        load_model("no_such_module_xyz:thing")
    with pytest.raises(UsageError):
        make_agent("llm", model=None)


# -- benchmark -------------------------------------------------------------


def test_benchmark_smoke(capsys):
    from tests.bench.agent import main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "overseer/HITL per call" in out and "checkpoint" in out


# -- helpers ---------------------------------------------------------------


def _named_echo(name: str, on_run: Any = None) -> Tool:
    class Named(EchoTool):
        def run(self, args: Any, ctx: ToolContext) -> ToolResult:
            if on_run is not None:
                on_run()
            return super().run(args, ctx)

    tool = Named()
    tool.name = name  # type: ignore[misc]
    return tool


# -- end to end: built-in tools, shipped default policy --------------------


def test_end_to_end_with_the_real_shell_and_default_policy(make_repo, log, monkeypatch):
    """No fakes on the overseer side: the entry-point tools, the default policy,
    the persistent shell; a deny-all approver stands in for an absent person."""
    load_policy = getattr(policy_pkg, "load_policy", None)
    if load_policy is None:
        pytest.skip("the policy engine is not available yet")
    monkeypatch.setattr(Session, "_resolve_sandbox", lambda self, mode, protect=None: Sandbox())
    repo = make_repo({"README.md": "# demo\n", "app.py": "x = 1\n"})
    cfg = SessionConfig(
        task="look around",
        agent="llm",
        model="scripted",
        workspace=repo,
        policy="default",
        watch=False,
        snapshot=False,
    )
    s = Session.open(cfg, approver=DenyAll(), log=log)

    def sees_listing(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "success" and "app.py" in str(tm.content)

    def sees_push_denied(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error" and "denied by deny-all" in str(tm.content)

    def sees_guard(messages: list[BaseMessage]) -> None:
        [tm] = last_tool_messages(messages)
        assert tm.status == "error" and "overseer's own" in str(tm.content)

    model = ScriptedChatModel(
        script=[
            tool_calls(call("shell", {"command": "ls"}, id="ls")),
            expect(
                sees_listing,
                tool_calls(call("shell", {"command": "git push origin main"}, id="push")),
            ),
            expect(
                sees_push_denied, tool_calls(call("read_file", {"path": str(log.path)}, id="db"))
            ),
            expect(
                sees_guard,
                final("Listed the files; pushing was denied; the audit log is off limits."),
            ),
        ]
    )
    result = run(s, model)

    assert result.status == "completed", result.final
    assert {"shell", "read_file", "ask_human"} <= {t["function"]["name"] for t in model.bound_tools}
    finished = by_call(log, s.id, "action_finished")
    assert finished["ls"]["status"] == "ok" and finished["ls"]["exit_code"] == 0
    assert finished["push"]["status"] == "denied" and finished["db"]["status"] == "denied"
    decided = by_call(log, s.id, "policy_decided")
    assert decided["ls"]["decision"] == "allow" and decided["push"]["decision"] == "ask"
    assert decided["db"]["rule"] == "builtin:protect-overseer"
    assert by_call(log, s.id, "approval_decided")["push"]["by"] == "deny-all"
    assert all(r.ok for r in log.verify(s.id))


def test_bare_model_names_and_unknown_specs_get_clear_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        load_model("gpt-4.1")  # init_chat_model would infer openai
    with pytest.raises(UsageError, match="cannot import module 'llama3'") as err:
        load_model("llama3:8b")
    # The real cause first, then what PROVIDER:MODEL would have taken.
    msg = str(err.value)
    assert msg.index("No module named 'llama3'") < msg.index("anthropic") < msg.index("ollama")


def test_tool_names_with_colons_are_offered_safely_and_mapped_back():
    from overseer.agent.middleware import model_facing_name

    assert model_facing_name("mcp:git:git_status") == "mcp__git__git_status"
    assert model_facing_name("shell") == "shell"
    long = model_facing_name("mcp:" + "x" * 100)
    assert len(long) <= 64 and long != model_facing_name("mcp:" + "x" * 99)


def test_a_colon_named_tool_is_called_by_its_safe_name_and_recorded_by_its_real_one(
    open_session, log
):
    class McpLike(EchoTool):
        name = "mcp:git:echo"

    tool = McpLike()
    s = open_session(FixedPolicy({"mcp:git:echo": "allow"}), [tool])
    model = ScriptedChatModel(
        script=[tool_calls(call("mcp__git__echo", {"text": "x"}, id="c1")), final("done")]
    )
    result = run(s, model)
    assert result.status == "completed" and [a.text for a in tool.runs] == ["x"]
    proposed = [e.payload["tool"] for e in log.events(s.id, kinds=["action_proposed"])]
    assert proposed == ["mcp:git:echo"]


def test_a_stop_while_the_model_hangs_ends_the_run_without_waiting_for_it(open_session, log):
    """A provider that never answers must not keep a person who quits waiting:
    the turn is recorded as abandoned and the run ends as terminated."""
    s = open_session(FixedPolicy({}), [])
    release = threading.Event()
    entered = threading.Event()

    def hang(_messages: list[BaseMessage]) -> AIMessage:
        entered.set()
        release.wait(60)
        return final("too late")

    model = ScriptedChatModel(script=[hang])
    stopper = threading.Thread(
        target=lambda: entered.wait(10) and s.stop_requested.set(), daemon=True
    )
    stopper.start()
    started = time.monotonic()
    try:
        result = run(s, model)
    finally:
        release.set()
    assert time.monotonic() - started < 10
    assert result.status == "terminated" and "asked to stop" in result.final
    [turn] = payloads(log, s.id, "model_turn")
    assert turn["error"].startswith("abandoned") and turn.get("response") is None
    assert all(r.ok for r in log.verify(s.id))


def test_model_calls_keep_langchain_context(open_session, log):
    """The model runs in a helper thread; LangChain's run config (a context
    variable) must reach it as it would in the calling thread."""
    from langchain_core.runnables.config import var_child_runnable_config

    s = open_session(FixedPolicy({}), [])
    seen: list[Any] = []

    def look(_messages: list[BaseMessage]) -> AIMessage:
        seen.append(var_child_runnable_config.get())
        return final("done")

    assert run(s, ScriptedChatModel(script=[look])).status == "completed"
    assert seen and seen[0] is not None
