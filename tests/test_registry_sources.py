"""Integrations plug in by entry points: tool adapters and tool sources.

The session imports no integration; a tool source gets a ``SourceContext``
(registry, project, workspace, notice/keep/withdraw), never the session."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path
from typing import Any

import pytest

import overseer.registry as registry_mod
from overseer.approval import DenyAll
from overseer.log import AuditLog
from overseer.project import ProjectConfig
from overseer.registry import Registry, SourceContext
from overseer.session import Session, SessionConfig
from tests.helpers.fakes import EchoTool


class Hub:
    stopped = 0

    def stop(self) -> None:
        Hub.stopped += 1


def good_source(ctx: SourceContext) -> None:
    ctx.registry.add(EchoTool(), "mcp:fake")
    ctx.notice("fake server started", servers=["fake"])
    ctx.keep(Hub())


def broken_source(ctx: SourceContext) -> None:
    raise RuntimeError("server binary missing")


@pytest.fixture
def sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        registry_mod,
        "tool_sources",
        lambda: [
            ("broken", broken_source, ""),
            ("fake", good_source, ""),
            ("unloadable", None, "No module named 'nowhere'"),
        ],
    )


def test_the_shipped_integrations_are_entry_points():
    adapters = {e.name: e.value for e in md.entry_points(group=registry_mod.ADAPTER_GROUP)}
    sources = {e.name: e.value for e in md.entry_points(group=registry_mod.SOURCE_GROUP)}
    assert adapters["langchain"] == "overseer.integrations.langchain_tools:adapt_langchain"
    assert sources["mcp"] == "overseer.integrations.mcp:load_mcp_servers"


def test_sources_add_tools_and_a_failing_one_is_a_problem(sources: None, tmp_path: Path):
    reg = Registry()
    heard: list[tuple[Any, ...]] = []
    kept: list[Any] = []
    reg.load_sources(
        ProjectConfig(),
        tmp_path,
        notice=lambda topic, message, **data: heard.append((topic, message, data)),
        keep=kept.append,
    )
    assert reg.specs["echo"].source == "mcp:fake"
    assert heard == [("fake", "fake server started", {"servers": ["fake"]})]
    assert len(kept) == 1 and isinstance(kept[0], Hub)
    assert reg.problems == [
        "tool source 'broken' failed: server binary missing",
        "tool source 'unloadable' failed to load: No module named 'nowhere'",
    ]


def test_a_session_hears_its_sources_keeps_their_hubs_and_withdraws_tools(
    sources: None, tmp_path: Path, log: AuditLog
):
    ws = tmp_path / "ws"
    ws.mkdir()
    cfg = SessionConfig(task="t", agent="test", workspace=ws, watch=False, snapshot=False)
    s = Session.open(cfg, approver=DenyAll(), log=log)
    try:
        notices = [e.payload for e in log.events(s.id, kinds=["notice"])]
        assert {
            "topic": "fake",
            "message": "fake server started",
            "data": {"servers": ["fake"]},
        } in (notices)
        assert any(
            n["topic"] == "tools" and "'broken' failed: server binary missing" in n["message"]
            for n in notices
        )
        assert "echo" in s.broker.tools
        s.withdraw("echo")
        assert "echo" not in s.broker.tools and "echo" not in s.registry.specs
    finally:
        before = Hub.stopped
        s.end("completed")
    assert Hub.stopped == before + 1  # kept objects stop with the session
