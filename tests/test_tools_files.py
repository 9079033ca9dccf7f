"""File tools: read, write, edit (exactly one match), list, search."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from overseer.tools import _beneath, files_common, files_search
from overseer.tools.files_read import ListDirArgs, ListDirTool, ReadFileArgs, ReadFileTool
from overseer.tools.files_search import SearchArgs, SearchTool
from overseer.tools.files_write import EditFileArgs, EditFileTool, WriteFileArgs, WriteFileTool

from overseer.toolapi import ToolContext


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def opening(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with openat2 and with the O_NOFOLLOW walk."""
    if request.param == "openat2" and not _beneath.have_openat2():
        pytest.skip("openat2 is not available on this kernel")
    monkeypatch.setattr(_beneath, "FORCE_WALK", request.param == "walk")


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    (ws / "pkg").mkdir()
    (ws / "pkg" / "mod.py").write_text("VALUE = 42  # the answer\n")
    return ToolContext(workspace=ws, session_id="s")


def test_read_file_whole_and_range(ctx: ToolContext) -> None:
    tool = ReadFileTool()
    r = tool.run(ReadFileArgs(path="a.py"), ctx)
    assert r.status == "ok" and r.output.startswith("def f():\n")
    assert r.data["total_lines"] == 6
    r = tool.run(ReadFileArgs(path="a.py", start=5, end=6), ctx)
    assert r.output == "def g():\n    return 1\n"
    assert (r.data["start"], r.data["end"]) == (5, 6)
    r = tool.run(ReadFileArgs(path="a.py", start=50), ctx)
    assert r.status == "error" and "has 6 lines" in r.output
    assert tool.facts(ReadFileArgs(path="a.py"), ctx).reads == [str(ctx.workspace / "a.py")]


def test_read_file_refuses_binary_and_explains(ctx: ToolContext) -> None:
    (ctx.workspace / "img.png").write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    )
    r = ReadFileTool().run(ReadFileArgs(path="img.png"), ctx)
    assert r.status == "error"
    assert "img.png is a binary file" in r.output and "text only" in r.output
    assert r.data["binary"] is True


def test_read_file_missing_directory_and_cap(ctx: ToolContext) -> None:
    tool = ReadFileTool()
    assert "no such file: nope.txt" in tool.run(ReadFileArgs(path="nope.txt"), ctx).output
    assert "is a directory" in tool.run(ReadFileArgs(path="pkg"), ctx).output
    (ctx.workspace / "big.txt").write_text("".join(f"line {i}\n" for i in range(100_000)))
    r = tool.run(ReadFileArgs(path="big.txt"), ctx)
    assert r.data["truncated"] is True and len(r.output) < files_common.READ_CAP + 200
    assert "read from line" in r.output
    assert tool.run(ReadFileArgs(path="big.txt", start=99_999, end=100_000), ctx).output == (
        "line 99998\nline 99999\n"
    )


def test_write_file_creates_and_previews_a_diff(ctx: ToolContext) -> None:
    tool = WriteFileTool()
    args = WriteFileArgs(path="new/dir/x.txt", content="hello\n")
    preview = tool.preview(args, ctx)
    assert preview is not None and "--- /dev/null" in preview and "+hello" in preview
    r = tool.run(args, ctx)
    assert r.status == "ok" and r.data["created"] is True
    assert (ctx.workspace / "new/dir/x.txt").read_text() == "hello\n"
    args = WriteFileArgs(path="a.py", content="def f():\n    return 2\n")
    preview = tool.preview(args, ctx)
    assert preview is not None and "-    return 1" in preview and "+    return 2" in preview
    facts = tool.facts(args, ctx)
    assert facts.writes == [str(ctx.workspace / "a.py")] and facts.risk == []
    assert tool.facts(WriteFileArgs(path="tests/test_a.py", content=""), ctx).risk == [
        "writes_tests"
    ]


def test_edit_file_exactly_once(ctx: ToolContext) -> None:
    tool = EditFileTool()
    args = EditFileArgs(path="pkg/mod.py", old="VALUE = 42", new="VALUE = 43")
    assert "+VALUE = 43" in (tool.preview(args, ctx) or "")
    r = tool.run(args, ctx)
    assert r.status == "ok" and r.data["line"] == 1
    assert (ctx.workspace / "pkg/mod.py").read_text() == "VALUE = 43  # the answer\n"


def test_edit_file_zero_matches_is_a_clear_error(ctx: ToolContext) -> None:
    before = (ctx.workspace / "a.py").read_text()
    r = EditFileTool().run(EditFileArgs(path="a.py", old="return 3", new="return 4"), ctx)
    assert r.status == "error"
    assert "not found in a.py (0 matches)" in r.output
    assert (ctx.workspace / "a.py").read_text() == before
    # Whitespace slips get a pointer to where the text is.
    r = EditFileTool().run(EditFileArgs(path="a.py", old="  def g():", new="x"), ctx)
    assert "0 matches" in r.output and "line 5" in r.output


def test_edit_file_two_matches_is_a_clear_error(ctx: ToolContext) -> None:
    before = (ctx.workspace / "a.py").read_text()
    args = EditFileArgs(path="a.py", old="    return 1", new="    return 2")
    r = EditFileTool().run(args, ctx)
    assert r.status == "error"
    assert "occurs 2 times in a.py (at lines 2, 6)" in r.output
    assert "exactly once" in r.output
    assert (ctx.workspace / "a.py").read_text() == before
    assert "occurs 2 times" in (EditFileTool().preview(args, ctx) or "")


def test_edit_file_keeps_crlf_and_refuses_binary(ctx: ToolContext) -> None:
    (ctx.workspace / "w.txt").write_bytes(b"one\r\ntwo\r\n")
    r = EditFileTool().run(EditFileArgs(path="w.txt", old="two", new="three"), ctx)
    assert r.status == "ok"
    assert (ctx.workspace / "w.txt").read_bytes() == b"one\r\nthree\r\n"
    (ctx.workspace / "b.bin").write_bytes(b"\x00\x01two")
    assert (
        "binary" in EditFileTool().run(EditFileArgs(path="b.bin", old="two", new="x"), ctx).output
    )


def test_list_dir(ctx: ToolContext) -> None:
    r = ListDirTool().run(ListDirArgs(), ctx)
    assert r.status == "ok"
    assert "pkg/" in r.output and "a.py  (" in r.output
    assert {e["name"] for e in r.data["entries"]} == {"a.py", "pkg"}
    assert ListDirTool().run(ListDirArgs(path="a.py"), ctx).status == "error"


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_search(ctx: ToolContext, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine == "ripgrep" and not shutil.which("rg"):
        pytest.skip("ripgrep is not installed")
    if engine == "python":
        monkeypatch.setattr(files_search.shutil, "which", lambda _name: None)
    tool = SearchTool()
    r = tool.run(SearchArgs(pattern=r"return \d"), ctx)
    assert r.status == "ok" and r.data["engine"] == engine
    assert sorted((m["path"], m["line"]) for m in r.data["matches"]) == [("a.py", 2), ("a.py", 6)]
    assert "a.py:2:    return 1" in r.output
    r = tool.run(SearchArgs(pattern="VALUE", path="pkg", glob="*.py"), ctx)
    assert [m["path"] for m in r.data["matches"]] == ["pkg/mod.py"]
    r = tool.run(SearchArgs(pattern="return", max_results=1), ctx)
    assert r.data["count"] == 1 and r.data["truncated"] is True
    r = tool.run(SearchArgs(pattern="nothing-like-this"), ctx)
    assert r.status == "ok" and "no matches" in r.output
    r = tool.run(SearchArgs(pattern="(unclosed"), ctx)
    assert r.status == "error" and "search:" in r.output


def test_a_catastrophic_pattern_without_ripgrep_is_stopped(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's re has no timeout: (a+)+$ on a long line of a's ending in b
    takes exponential time. The fallback runs in a child process the tool stops."""
    (Path(ctx.workspace) / "bad.txt").write_text("a" * 40 + "b\n")
    monkeypatch.setattr(files_search.shutil, "which", lambda _name: None)
    monkeypatch.setattr(files_search, "PY_SEARCH_TIMEOUT_S", 3)
    r = SearchTool().run(SearchArgs(pattern=r"(a+)+$", path="bad.txt"), ctx)
    assert r.status == "error" and "stopped after 3 s" in r.output
    # The ordinary pattern gets the usual limit: on a loaded machine the
    # child's interpreter alone can take a few seconds to start.
    monkeypatch.setattr(files_search, "PY_SEARCH_TIMEOUT_S", 60)
    r = SearchTool().run(SearchArgs(pattern=r"a+b", path="bad.txt"), ctx)
    assert r.status == "ok" and r.data["matches"][0]["line"] == 1
