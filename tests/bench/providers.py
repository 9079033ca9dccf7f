"""Benchmark: overseer's cost per tool call through the real OpenAI integration (issue 17).

Both sides run LangChain's real ``create_agent`` loop with the real
``ChatOpenAI`` client against the same local stub chat-completions server
(tests/helpers/stub_llm.py, 127.0.0.1): N turns, each one tool call
(``echo``), then a final answer.

* overseer: ``LLMAgent("openai:...")`` in a real ``Session``: every call goes
  through the broker (policy decision, durable records before and after),
  every model turn is recorded, on the async loop with the async client.
* bare: ``create_agent(ChatOpenAI(...), [echo])``, no middleware, no
  checkpointer, ``ainvoke`` as well.

Printed, from one run (best of ``--rounds``), at 100 and 1,000 calls: ms per
call on each side, their ratio at 1,000 (target <= 1.5x), and how overseer's
cost per call moves from 100 to 1,000 calls (target <= 1.1x). Both sides
send the whole history at every call (that is the chat API), so both grow a
little with the session; overseer's *added* cost per call (its time minus
the bare loop's) is printed at both sizes too, and must not grow.

Run: python tests/bench/providers.py [--smoke] [--check] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

import overseer.policy as policy_pkg  # noqa: E402
import overseer.session as session_mod  # noqa: E402
from overseer.agent.llm import LLMAgent, run_loop  # noqa: E402
from overseer.approval import DenyAll  # noqa: E402
from overseer.log import AuditLog  # noqa: E402
from overseer.registry import Registry  # noqa: E402
from overseer.session import Session, SessionConfig  # noqa: E402
from overseer.toolapi import Sandbox  # noqa: E402
from tests.helpers.fakes import EchoTool, FixedPolicy  # noqa: E402
from tests.helpers.stub_llm import Call, Reply, StubServer  # noqa: E402

TASK = "Echo `x`, once per turn, until told to stop."


def script(n: int) -> list[Any]:
    return [Reply("", [Call("echo", {"text": "x"}, f"call_{i:05d}")]) for i in range(n)] + [
        Reply(f"Echoed {n} times.")
    ]


def run_overseer(n: int, d: Path) -> float:
    ws = d / "ws"
    ws.mkdir(exist_ok=True)
    log = AuditLog(d / f"overseer-{n}-{time.time_ns()}.db")
    echo = EchoTool()
    saved = (
        getattr(policy_pkg, "load_policy", None),
        session_mod.TOOL_LOADERS,
        Session._resolve_sandbox,
        Registry.load_entry_points,
    )
    policy_pkg.load_policy = lambda _ref: FixedPolicy({"echo": "allow"})  # type: ignore[attr-defined]
    session_mod.TOOL_LOADERS = [lambda s: s.registry.add(echo)]
    Session._resolve_sandbox = lambda self, mode, protect=None: Sandbox()  # type: ignore[method-assign]
    Registry.load_entry_points = lambda self, only=None: None  # type: ignore[method-assign]
    try:
        cfg = SessionConfig(
            task=TASK, agent="llm", workspace=ws, watch=False, snapshot=False, max_steps=n + 5
        )
        session = Session.open(cfg, approver=DenyAll(), log=log)
    finally:
        (
            policy_pkg.load_policy,  # type: ignore[attr-defined]
            session_mod.TOOL_LOADERS,
            Session._resolve_sandbox,  # type: ignore[method-assign]
            Registry.load_entry_points,  # type: ignore[method-assign]
        ) = saved
    with StubServer("openai", script(n), record=False) as stub:
        agent = LLMAgent("openai:gpt-stub?max_retries=0", base_url=stub.base_url, max_steps=n + 5)
        graph, mw = agent.build(session)
        gc.collect()
        t0 = time.perf_counter()
        outcome = agent.run_graph(session, graph, mw)
        dt = time.perf_counter() - t0
    session.end(outcome.status, outcome.final, data=outcome.data)
    assert outcome.status == "completed", outcome
    assert len(echo.runs) == n, f"overseer ran {len(echo.runs)} of {n} calls"
    log.close()
    return dt


def run_bare(n: int) -> float:
    runs: list[str] = []

    def echo(text: str, times: int = 1) -> str:
        runs.append(text)
        return text * times

    tool = StructuredTool.from_function(echo, name="echo", description="echo text")
    with StubServer("openai", script(n), record=False) as stub:
        model = ChatOpenAI(model="gpt-stub", base_url=stub.base_url, api_key="none", max_retries=0)
        graph = create_agent(model, [tool])
        gc.collect()
        t0 = time.perf_counter()
        run_loop(graph.ainvoke({"messages": [HumanMessage(TASK)]}, {"recursion_limit": 4 * n + 20}))
        dt = time.perf_counter() - t0
    assert len(runs) == n, f"bare loop ran {len(runs)} of {n}"
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument("--rounds", type=int, default=2, help="rounds; the best of each is kept")
    opts = ap.parse_args(argv)
    small, large = (3, 6) if opts.smoke else (100, 1000)
    rounds = 1 if opts.smoke else max(1, opts.rounds)
    best: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("OVERSEER_HOME", tmp)
        for _ in range(rounds):
            for n in (small, large):
                for side in ("bare", "overseer"):
                    dt = run_overseer(n, Path(tmp)) if side == "overseer" else run_bare(n)
                    best[side, n] = min(best.get((side, n), dt), dt)
    per = {k: v / k[1] * 1000 for k, v in best.items()}
    print("agent loop through ChatOpenAI against a local stub server, one echo call per turn")
    print(
        f"  {'calls':>6}  {'overseer ms/call':>17}  {'bare loop ms/call':>18}  {'overseer adds':>14}"
    )
    for n in (small, large):
        o, b = per["overseer", n], per["bare", n]
        print(f"  {n:>6}  {o:>17.2f}  {b:>18.2f}  {o - b:>11.2f} ms")
    ratio = per["overseer", large] / per["bare", large]
    growth = per["overseer", large] / per["overseer", small]
    added_small = per["overseer", small] - per["bare", small]
    added_large = per["overseer", large] - per["bare", large]
    bare_growth = per["bare", large] / per["bare", small]
    targets = [
        (f"overseer/bare per call at {large}: {ratio:.2f}x", "<= 1.5x", ratio <= 1.5),
        (
            f"overseer per-call cost {large} vs {small}: {growth:.2f}x "
            f"(bare loop: {bare_growth:.2f}x)",
            "<= 1.1x",
            growth <= 1.1,
        ),
    ]
    print(
        f"  overseer's added cost per call {large} vs {small}: "
        f"{added_large:.2f} vs {added_small:.2f} ms"
    )
    missed = False
    for text, target, ok in targets:
        verdict = "ok" if ok else ("(smoke: not judged)" if opts.smoke else "MISSED")
        missed = missed or not ok
        print(f"  {text}  (target {target}) {verdict}")
    asyncio.set_event_loop(None)
    return 1 if (opts.check and missed and not opts.smoke) else 0


if __name__ == "__main__":
    sys.exit(main())
