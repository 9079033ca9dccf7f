"""The real provider integrations (langchain-openai, langchain-anthropic)
against local stub servers on 127.0.0.1 (tests/helpers/stub_llm.py): what
reaches the "provider" (tool results with their ids, refusals, retries),
faults that must end cleanly, the token budget, and interruption.

Every test runs a real session with the real LangChain agent loop, the real
provider client (non-streaming and streaming/SSE) and a real SQLite log, and
checks the log verifies. No network beyond 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

from overseer.agent.llm import LLMAgent
from overseer.agent.middleware import RAW_ARGS_KEY
from overseer.log import AuditLog
from overseer.session import Session, run_agent
from tests import test_agent_llm as _llm_tests
from tests.helpers.fakes import EchoTool, FixedPolicy
from tests.helpers.stub_llm import Call, Fail, Hang, Raw, Reply, StubServer
from tests.test_agent_llm import _named_echo, by_call, payloads

open_session = _llm_tests.open_session  # the fixture: a real session with a fixed policy

FLAVOURS = [
    pytest.param("openai", False, id="openai"),
    pytest.param("openai", True, id="openai-stream"),
    pytest.param("anthropic", False, id="anthropic"),
    pytest.param("anthropic", True, id="anthropic-stream"),
]


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local server needs no key; none leaks in from the environment either."""
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_URL",
    ):
        monkeypatch.delenv(var, raising=False)


def spec(flavour: str, streaming: bool = False, **options: Any) -> str:
    model = "gpt-stub" if flavour == "openai" else "claude-stub"
    opts = {"streaming": str(streaming).lower(), "max_retries": "0", **options}
    return f"{flavour}:{model}?" + "&".join(f"{k}={v}" for k, v in opts.items())


def agent(stub: StubServer, streaming: bool = False, **kw: Any) -> LLMAgent:
    options = kw.pop("options", {})
    return LLMAgent(spec(stub.flavour, streaming, **options), base_url=stub.base_url, **kw)


def verified(log: AuditLog, sid: str) -> bool:
    return all(r.ok for r in log.verify(sid))


def tool_results(flavour: str, body: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """call id -> (content, is_error) of the tool results in a provider request."""
    out: dict[str, tuple[str, bool]] = {}
    for m in body.get("messages", []):
        if flavour == "openai" and m.get("role") == "tool":
            out[m["tool_call_id"]] = (str(m["content"]), False)
        if flavour == "anthropic" and isinstance(m.get("content"), list):
            for block in m["content"]:
                if block.get("type") == "tool_result":
                    content = block.get("content")
                    text = (
                        content
                        if isinstance(content, str)
                        else "".join(c.get("text", "") for c in content or [])
                    )
                    out[block["tool_use_id"]] = (text, bool(block.get("is_error")))
    return out


def echo_session(open_session: Any, **decisions: str) -> Session:
    return open_session(
        FixedPolicy({"echo": "allow", **decisions}), [EchoTool(), _named_echo("ask_me")]
    )


# -- the main path -----------------------------------------------------------


@pytest.mark.parametrize("flavour,streaming", FLAVOURS)
def test_parallel_calls_are_each_mediated_and_results_go_back_in_the_providers_format(
    open_session, log, flavour, streaming
):
    s = open_session(
        FixedPolicy({"echo": "allow", "ask_me": "deny"}), [EchoTool(), _named_echo("ask_me")]
    )
    script = [
        Reply(
            "Two things at once.",
            [Call("echo", {"text": "hi", "times": 2}, "c1"), Call("ask_me", {"text": "rm"}, "c2")],
        ),
        Reply("Echoed; the other one was refused."),
    ]
    with StubServer(flavour, script) as stub:
        result = run_agent(s, agent(stub, streaming))

    assert result.status == "completed", result.final
    assert result.final == "Echoed; the other one was refused."
    first, second = stub.requests
    assert first.stream is streaming
    # The tools offered, in the provider's own schema format.
    names = (
        {t["function"]["name"] for t in first.body["tools"]}
        if flavour == "openai"
        else {t["name"] for t in first.body["tools"]}
    )
    assert names == {"echo", "ask_me"}
    # Each result answers its own call id; the refusal carries its reason.
    results = tool_results(flavour, second.body)
    c1 = "c1" if flavour == "openai" else "toolu_c1"
    c2 = "c2" if flavour == "openai" else "toolu_c2"
    assert results[c1][0] == "hihi"
    assert "denied by policy (test:ask_me): fixed deny" in results[c2][0]
    assert "do not retry it" in results[c2][0]
    if flavour == "anthropic":
        assert results[c2][1] is True and results[c1][1] is False
    finished = by_call(log, s.id, "action_finished")
    assert {c: finished[c]["status"] for c in finished} == {c1: "ok", c2: "denied"}
    decided = by_call(log, s.id, "policy_decided")
    assert {c: decided[c]["decision"] for c in decided} == {c1: "allow", c2: "deny"}
    # Usage recorded per turn and in total, streaming or not.
    turns = payloads(log, s.id, "model_turn")
    assert [t["usage"]["output_tokens"] for t in turns] == [5, 5]
    assert result.data["usage"]["total_tokens"] == 30
    assert payloads(log, s.id, "session_ended")[0]["status"] == "completed"
    assert verified(log, s.id)


# The Anthropic API sends a whole reply's tool input as a parsed object: raw
# text can only arrive streamed.
RAW_TEXT_FLAVOURS = [p for p in FLAVOURS if p.id != "anthropic"]


@pytest.mark.parametrize("flavour,streaming", RAW_TEXT_FLAVOURS)
def test_bad_json_arguments_and_unknown_tools_go_back_to_the_model_and_the_run_goes_on(
    open_session, log, flavour, streaming
):
    s = echo_session(open_session)
    cut = '{"text": "unterminated'
    script = [
        Reply("", [Call("echo", cut, "b1")]),
        Reply("", [Call("ehco", {"text": "x"}, "b2")]),
        Reply("", [Call("echo", {"text": "fine"}, "g1")]),
        Reply("Recovered."),
    ]
    with StubServer(flavour, script) as stub:
        result = run_agent(s, agent(stub, streaming))

    assert result.status == "completed", result.final
    b1, b2, g1 = ("b1", "b2", "g1") if flavour == "openai" else ("toolu_b1", "toolu_b2", "toolu_g1")
    proposed = by_call(log, s.id, "action_proposed")
    finished = by_call(log, s.id, "action_finished")
    # What the model sent, not LangChain's repair of it (streamed JSON is "completed").
    assert proposed[b1]["args"] == cut
    assert finished[b1]["status"] == "invalid" and finished[b2]["status"] == "invalid"
    assert finished[g1]["status"] == "ok"
    results = tool_results(flavour, stub.requests[1].body)
    assert "not valid JSON (Unterminated string starting at" in results[b1][0]
    assert "unknown tool 'ehco'" in tool_results(flavour, stub.requests[2].body)[b2][0]
    # The provider is sent the model's own call back, never overseer's marker.
    assert all(RAW_ARGS_KEY not in json.dumps(r.body) for r in stub.requests)
    if flavour == "openai":
        assistant = [m for m in stub.requests[1].body["messages"] if m["role"] == "assistant"]
        assert assistant[0]["tool_calls"][0]["function"]["arguments"] == cut
    assert verified(log, s.id)


def test_a_truncated_streamed_call_is_never_run_as_repaired(open_session, log):
    """A reply cut at its token limit mid-arguments: LangChain's stream parser
    closes the string, which would run `rm -rf /tmp/proj` for `rm -rf /tmp/pro`."""
    s = echo_session(open_session)
    script = [
        Reply("", [Call("echo", '{"text": "rm -rf /tmp/pro', "t1")], finish="length"),
        Reply("ok"),
    ]
    with StubServer("openai", script) as stub:
        run_agent(s, agent(stub, streaming=True))
    assert by_call(log, s.id, "action_finished")["t1"]["status"] == "invalid"
    assert "t1" not in by_call(log, s.id, "action_started")


# -- faults --------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
def test_server_errors_are_retried_by_the_client_and_each_retry_is_in_the_log(
    open_session, log, flavour
):
    s = echo_session(open_session)
    script = [
        Fail(500, "overloaded", retry_after=0.01),
        Fail(429, "slow down", retry_after=0.01),
        Reply("done"),
    ]
    with StubServer(flavour, script) as stub:
        result = run_agent(s, agent(stub, options={"max_retries": 2}))
    assert result.status == "completed" and result.final == "done"
    assert len(stub.requests) == 3
    retries = [p for p in payloads(log, s.id, "notice") if p["topic"] == "model"]
    assert [r["data"]["retry"] for r in retries] == [1, 2]
    assert "500" in retries[0]["message"] and "429" in retries[1]["message"]
    assert f"127.0.0.1:{stub.port}" in retries[0]["message"]
    assert verified(log, s.id)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


FAULTS = [
    pytest.param(
        [Fail(500, "boom", retry_after=0.01)] * 3,
        "failed (500) after the client's retries",
        id="500",
    ),
    pytest.param([Fail(429, "quota", retry_after=0.01)], "rate-limiting (429)", id="429"),
    pytest.param([Fail(401, "bad key")], "refused the API key (401", id="401"),
    pytest.param([Hang(5)], "did not answer in time", id="timeout"),
    pytest.param([Raw(b"")], "cannot be read", id="empty-body"),
    pytest.param(
        [Raw(b'{"id": "x", "choi', length=500)], "in the middle of its reply", id="truncated-body"
    ),
    pytest.param(
        [Raw(b'{"id": "x", "object": "chat.completion", "choices": []}')],
        "cannot be read",
        id="no-choices",
    ),
]


@pytest.mark.parametrize("script,message", FAULTS)
def test_each_fault_ends_the_session_cleanly(open_session, log, script, message):
    s = echo_session(open_session)
    # The server keeps failing the same way through the client's retries.
    with StubServer("openai", [*script, *script, *script][:3]) as stub:
        started = time.monotonic()
        result = run_agent(s, agent(stub, options={"max_retries": 1, "timeout": 0.3}))
    assert time.monotonic() - started < 5
    assert result.status == "failed" and result.exit_code == 1
    assert result.final.startswith("the model call failed: ")
    assert message in result.final
    assert "Traceback" not in result.final and len(result.final.splitlines()) == 1
    [turn] = payloads(log, s.id, "model_turn")
    assert turn["error"] and turn.get("response") is None
    ended = payloads(log, s.id, "session_ended")[0]
    assert ended["status"] == "failed"
    assert verified(log, s.id)


@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
def test_a_refused_connection_names_the_url(open_session, log, flavour):
    s = echo_session(open_session)
    port = _closed_port()
    url = f"http://127.0.0.1:{port}" + ("/v1" if flavour == "openai" else "")
    a = LLMAgent(spec(flavour), base_url=url)
    result = run_agent(s, a)
    assert result.status == "failed"
    assert f"cannot reach the model server at http://127.0.0.1:{port}" in result.final
    assert "connection refused" in result.final
    assert verified(log, s.id)


# -- budget --------------------------------------------------------------------


@pytest.mark.parametrize("flavour,streaming", FLAVOURS)
def test_the_token_budget_stops_the_session_cleanly(open_session, log, flavour, streaming):
    s = echo_session(open_session)
    script = [Reply("", [Call("echo", {"text": str(i)}, f"k{i}")]) for i in range(5)]
    with StubServer(flavour, script) as stub:
        result = run_agent(s, agent(stub, streaming, max_tokens=20))
    # 15 tokens a turn: after two turns (30) the budget of 20 is spent.
    assert len(stub.requests) == 2
    assert result.status == "failed" and result.exit_code == 1
    assert "token budget (20 tokens" in result.final and "30 used" in result.final
    notice = [p for p in payloads(log, s.id, "notice") if p["topic"] == "agent"][-1]
    assert notice["data"] == {"reason": "max_tokens", "turns": 2, "budget": 20, "used": 30}
    ended = payloads(log, s.id, "session_ended")[0]
    assert ended["status"] == "failed" and ended["summary"]["stop"] == "max_tokens"
    assert verified(log, s.id)


def test_a_budget_with_a_model_that_reports_no_usage_fails_closed(open_session, log):
    s = echo_session(open_session)
    script = [Reply("", [Call("echo", {"text": "a"}, "u1")])]
    with StubServer("openai", script) as stub:
        # stream_usage=false: the stream carries no usage, so the budget cannot be counted.
        result = run_agent(s, agent(stub, True, max_tokens=1000, options={"stream_usage": "false"}))
    assert len(stub.requests) == 1 and result.status == "failed"
    assert "reports no token usage" in result.final


# -- interruption ----------------------------------------------------------------


@pytest.mark.parametrize("flavour,streaming", FLAVOURS)
def test_an_interrupt_during_a_model_call_ends_it_promptly_and_is_recorded(
    open_session, log, flavour, streaming
):
    s = echo_session(open_session)
    with StubServer(flavour, [Hang(30)]) as stub:
        threading.Thread(
            target=lambda: stub.entered.wait(10) and s.interrupt("SIGTERM"), daemon=True
        ).start()
        started = time.monotonic()
        result = run_agent(s, agent(stub, streaming))
        took = time.monotonic() - started
    assert took < 3, took
    assert result.status == "terminated" and result.exit_code == 143
    assert "SIGTERM" in result.final
    [turn] = payloads(log, s.id, "model_turn")
    assert turn["error"] == "abandoned: the session was interrupted by SIGTERM mid-call"
    ended = payloads(log, s.id, "session_ended")[0]
    assert ended["status"] == "terminated" and ended["summary"]["signal"] == "SIGTERM"
    assert log.session(s.id)["status"] == "terminated"
    assert verified(log, s.id)
    # Nothing was written after the end; the last event is sealed.
    assert [e.kind for e in log.events(s.id)][-2:] == ["session_ended", "seal"]


def test_benchmark_smoke(capsys):
    from tests.bench.providers import main

    assert main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "overseer/bare per call through ChatOpenAI" in out and "1000 vs 100" not in out
