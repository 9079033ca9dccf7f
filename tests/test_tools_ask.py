"""ask_human: through ctx.ask, or "no one is available"."""

from __future__ import annotations

from pathlib import Path

from overseer.tools.ask import NO_ONE, AskHumanArgs, AskHumanTool

from overseer.toolapi import ToolContext


def test_asks_through_the_context() -> None:
    seen: list[tuple[str, list[str]]] = []

    def ask(question: str, choices: list[str]) -> str:
        seen.append((question, choices))
        return "keep the old behaviour"

    ctx = ToolContext(workspace=Path("."), session_id="s", ask=ask)
    r = AskHumanTool().run(
        AskHumanArgs(question="Round or truncate?", choices=["round", "truncate"]), ctx
    )
    assert r.status == "ok" and r.output == "keep the old behaviour"
    assert r.data == {"answered": True, "answer": "keep the old behaviour"}
    assert seen == [("Round or truncate?", ["round", "truncate"])]


def test_no_one_available() -> None:
    r = AskHumanTool().run(
        AskHumanArgs(question="Anyone?"), ToolContext(workspace=Path("."), session_id="s")
    )
    assert r.status == "ok" and r.output == NO_ONE and r.data["answered"] is False


def test_channel_failure_is_a_result_not_a_crash() -> None:
    def broken(_q: str, _c: list[str]) -> str:
        raise TimeoutError("approver gone")

    ctx = ToolContext(workspace=Path("."), session_id="s", ask=broken)
    r = AskHumanTool().run(AskHumanArgs(question="?"), ctx)
    assert r.status == "failed" and "approver gone" in r.output


def test_preview_and_facts() -> None:
    ctx = ToolContext(workspace=Path("."), session_id="s")
    args = AskHumanArgs(question="Which?", choices=["a", "b"])
    assert AskHumanTool().preview(args, ctx) == "ask: Which?\nchoices: a, b"
    assert AskHumanTool().facts(args, ctx).risk == ["read_only"]
