"""Benchmark: the LLM agent loop under overseer vs LangChain's own HITL (issue 5).

Both sides run the real LangChain ``create_agent`` loop with the same
scripted tool-calling chat model: N turns, each making one ``shell`` call
running ``true`` in the persistent shell (overseer's ``shell`` tool; the
LangChain side calls the same tool code directly), then a final answer.

* overseer: ``LLMAgent`` in a real ``Session`` — every call goes through the
  broker (policy decision, durable records before and after), every model turn
  is recorded; calls are auto-approved by the policy (the shipped default
  policy when it is available, else an allow-``shell`` test policy: said in
  the output). The file watcher and workspace snapshot are off: they are not
  part of the per-call path being compared.
* LangChain: ``HumanInTheLoopMiddleware(interrupt_on={"shell": True})`` with
  langgraph's ``SqliteSaver`` checkpointer on a file; a driver approves every
  interrupt at once.

Printed, from one run, at 50 and 200 calls: per-call ms for each side (and,
for reference, the bare loop with no oversight and no checkpointer); the
ratio overseer/HITL at 200 (target <= 0.35x); overseer's per-call cost at 200
vs 50 (target <= 1.2x: no growth with history); the size of overseer's log
(DB + seal sidecar) vs the checkpoint file after 200 calls (target <= 1/10).

Run: python tests/bench/agent.py [--smoke] [--check]
``--check`` exits 1 when a target is missed; ``--smoke`` runs tiny sizes.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import HumanInTheLoopMiddleware  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.types import Command  # noqa: E402
from overseer.tools.shell import ShellArgs, ShellTool  # noqa: E402

from overseer.agent.llm import LLMAgent  # noqa: E402
from overseer.agent.prompt import build_system_prompt  # noqa: E402
from overseer.approval import DenyAll  # noqa: E402
from overseer.log import AuditLog  # noqa: E402
from overseer.paths import seal_path_for  # noqa: E402
from overseer.policy.base import Verdict  # noqa: E402
from overseer.registry import Registry  # noqa: E402
from overseer.session import Session, SessionConfig  # noqa: E402
from overseer.toolapi import Facts, ToolCall, ToolContext  # noqa: E402
from tests.helpers.chat import ScriptedChatModel  # noqa: E402

TASK = "Run `true` in the shell, once per turn, until told to stop."
COMMAND = "true"


class AllowShell:
    """Used only while the shipped policy is not available: allows ``shell``."""

    name = "bench-allow-shell"
    text = "# benchmark: allow shell"
    hash = ""

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        if tool == "shell":
            return Verdict(decision="allow", rule="bench:shell", reason="benchmark")
        return Verdict(decision="deny", rule="bench:other", reason="benchmark allows shell only")


def script(n: int) -> list[Callable[[list[BaseMessage]], AIMessage]]:
    """N turns with one ``shell`` call each, then a final answer."""

    def turn(i: int) -> Callable[[list[BaseMessage]], AIMessage]:
        def reply(_messages: list[BaseMessage]) -> AIMessage:
            return AIMessage(
                content=f"Step {i}: running it again.",
                tool_calls=[
                    {
                        "name": "shell",
                        "args": {"command": COMMAND},
                        "id": f"call_{i:04d}",
                        "type": "tool_call",
                    }
                ],
            )

        return reply

    def done(_messages: list[BaseMessage]) -> AIMessage:
        return AIMessage(content=f"Ran `{COMMAND}` {n} times; every run exited 0.")

    return [*(turn(i) for i in range(n)), done]


def _policy_for_bench() -> tuple[str | None, str]:
    """The shipped default policy if it loads and allows ``true``, else the test policy."""
    try:
        from overseer.policy import load_policy  # type: ignore[attr-defined]

        policy = load_policy("default")
        verdict = policy.decide(
            "shell", {"command": COMMAND, "timeout": 120}, Facts(commands=[COMMAND]), Path.cwd()
        )
        if verdict.decision == "allow":
            return "default", "shipped default policy"
        return (
            None,
            f"test allow-shell policy (the default policy says {verdict.decision} for `true`)",
        )
    except Exception as exc:  # noqa: BLE001 - the policy engine may not exist yet
        return None, f"test allow-shell policy (default policy unavailable: {type(exc).__name__})"


@dataclass
class Result:
    seconds: float
    calls: int
    size: int

    @property
    def per_call_ms(self) -> float:
        return self.seconds / self.calls * 1000


def _size(*paths: Path) -> int:
    total = 0
    for p in paths:
        for q in (p, p.with_name(p.name + "-wal")):
            if q.exists():
                total += q.stat().st_size
    return total


def run_overseer(n: int, d: Path, policy_ref: str | None) -> Result:
    ws = d / "ws"
    ws.mkdir(exist_ok=True)
    db = d / f"overseer-{n}-{time.time_ns()}.db"
    log = AuditLog(db)
    cfg = SessionConfig(
        task=TASK,
        agent="llm",
        workspace=ws,
        model="scripted",
        policy=policy_ref,
        watch=False,
        snapshot=False,
        sandbox="none",
        max_steps=n + 5,
    )
    import overseer.policy as policy_pkg

    saved_policy = getattr(policy_pkg, "load_policy", None)
    saved_load = Registry.load_entry_points
    # Both sides offer the model the same single tool: the built-in shell.
    Registry.load_entry_points = lambda self, only=None: saved_load(self, only=["shell"])  # type: ignore[method-assign]
    if policy_ref is None:
        policy_pkg.load_policy = lambda _ref: AllowShell()  # type: ignore[attr-defined]
    try:
        session = Session.open(
            cfg, approver=DenyAll(), log=log
        )  # deny-all: nothing may need a person
    finally:
        Registry.load_entry_points = saved_load  # type: ignore[method-assign]
        if policy_ref is None:
            if saved_policy is None:
                del policy_pkg.load_policy  # type: ignore[attr-defined]
            else:
                policy_pkg.load_policy = saved_policy  # type: ignore[attr-defined]
    assert set(session.registry.tools()) == {"shell"}, session.registry.tools()
    agent = LLMAgent(ScriptedChatModel(script=script(n)), max_steps=n + 5)
    # One-time costs stay outside the timer on every side: compiling the graph
    # and starting the persistent shell (here a mediated warm-up call, logged).
    graph, mw = agent.build(session)
    warm = session.broker.submit(ToolCall(id="warm-up", name="shell", args={"command": COMMAND}))
    assert warm.status == "ok", warm
    gc.collect()
    t0 = time.perf_counter()
    outcome = agent.run_graph(session, graph, mw)
    dt = time.perf_counter() - t0
    session.end(outcome.status, outcome.final, data=outcome.data)
    assert outcome.status == "completed", outcome
    ok = sum(
        1 for e in log.events(session.id, kinds=["action_finished"]) if e.payload["status"] == "ok"
    )
    assert ok == n + 1, f"overseer ran {ok - 1} of {n} calls"
    log.close()
    return Result(dt, n, _size(db, seal_path_for(db)))


def run_hitl(n: int, d: Path) -> Result:
    ws = d / "ws"
    ws.mkdir(exist_ok=True)
    db = d / f"checkpoint-{n}-{time.time_ns()}.db"
    shell = ShellTool()
    ctx = ToolContext(workspace=ws, session_id="hitl")

    def run_shell(command: str, timeout: int = 120) -> str:
        res = shell.run(ShellArgs(command=command, timeout=timeout), ctx)
        return res.output + (f"\n[exit code {res.exit_code}]" if res.exit_code else "")

    tool = StructuredTool.from_function(run_shell, name="shell", description=ShellTool.description)
    conn = sqlite3.connect(str(db), check_same_thread=False)
    model = ScriptedChatModel(script=script(n))
    graph = create_agent(
        model,
        [tool],
        system_prompt=build_system_prompt(str(ws), ["shell"], n + 5),
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"shell": True})],
        checkpointer=SqliteSaver(conn),
    )
    config: dict[str, Any] = {"configurable": {"thread_id": "bench"}, "recursion_limit": 4 * n + 20}
    run_shell(COMMAND)  # start the shell outside the timer
    approvals = 0
    gc.collect()
    t0 = time.perf_counter()
    out = graph.invoke({"messages": [HumanMessage(TASK)]}, config)
    while out.get("__interrupt__"):
        approvals += 1
        out = graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config)
    dt = time.perf_counter() - t0
    assert approvals == n, f"HITL approved {approvals} of {n}"
    assert model.calls == n + 1
    conn.close()
    shell.close()
    return Result(dt, n, _size(db))


def run_bare(n: int, d: Path) -> Result:
    """For reference: the same loop with no oversight at all (no middleware, no checkpointer)."""
    ws = d / "ws"
    ws.mkdir(exist_ok=True)
    shell = ShellTool()
    ctx = ToolContext(workspace=ws, session_id="bare")

    def run_shell(command: str, timeout: int = 120) -> str:
        return shell.run(ShellArgs(command=command, timeout=timeout), ctx).output

    tool = StructuredTool.from_function(run_shell, name="shell", description=ShellTool.description)
    graph = create_agent(ScriptedChatModel(script=script(n)), [tool])
    run_shell(COMMAND)
    gc.collect()
    t0 = time.perf_counter()
    graph.invoke({"messages": [HumanMessage(TASK)]}, {"recursion_limit": 4 * n + 20})
    dt = time.perf_counter() - t0
    shell.close()
    return Result(dt, n, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, just check it runs")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; the best of each is kept"
    )
    opts = ap.parse_args(argv)
    small, large = (3, 6) if opts.smoke else (50, 200)
    rounds = 1 if opts.smoke else max(1, opts.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("OVERSEER_HOME", tmp)
        d = Path(tmp)
        policy_ref, policy_desc = _policy_for_bench()
        best: dict[tuple[str, int], Result] = {}
        # Alternate sides and sizes so machine noise hits both alike; keep the best.
        for _ in range(rounds):
            for n in (small, large):
                for side in ("overseer", "hitl", "bare"):
                    if side == "overseer":
                        r = run_overseer(n, d, policy_ref)
                    elif side == "hitl":
                        r = run_hitl(n, d)
                    else:
                        r = run_bare(n, d)
                    if (side, n) not in best or r.seconds < best[side, n].seconds:
                        best[side, n] = r
    o_s, o_l, h_s, h_l = (
        best["overseer", small],
        best["overseer", large],
        best["hitl", small],
        best["hitl", large],
    )
    ratio = o_l.per_call_ms / h_l.per_call_ms
    growth = o_l.per_call_ms / o_s.per_call_ms
    size_ratio = o_l.size / h_l.size
    print(
        f"agent loop, scripted model, one `{COMMAND}` shell call per turn; overseer policy: {policy_desc}"
    )
    print(
        f"  {'calls':>6}  {'overseer ms/call':>17}  {'HITL+SqliteSaver ms/call':>25}"
        f"  {'(bare loop, no oversight)':>26}"
    )
    for n, o, h in ((small, o_s, h_s), (large, o_l, h_l)):
        bare = best["bare", n].per_call_ms
        print(f"  {n:>6}  {o.per_call_ms:>17.2f}  {h.per_call_ms:>25.2f}  {bare:>26.2f}")
    targets = [
        (f"overseer/HITL per call at {large}: {ratio:.2f}x", "<= 0.35x", ratio <= 0.35),
        (f"overseer per-call cost {large} vs {small}: {growth:.2f}x", "<= 1.2x", growth <= 1.2),
        (
            f"overseer log {o_l.size / 1e6:.2f} MB vs checkpoint {h_l.size / 1e6:.2f} MB after {large}: "
            f"1/{(1 / size_ratio) if size_ratio else float('inf'):.1f}",
            "<= 1/10",
            size_ratio <= 0.1,
        ),
    ]
    missed = False
    for text, target, ok in targets:
        verdict = "ok" if ok else ("(smoke: not judged)" if opts.smoke else "MISSED")
        missed = missed or not ok
        print(f"  {text}  (target {target}) {verdict}")
    return 1 if (opts.check and missed and not opts.smoke) else 0


if __name__ == "__main__":
    sys.exit(main())
