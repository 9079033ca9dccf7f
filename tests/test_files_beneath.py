"""File tools act on what they opened beneath the workspace, never on a name
again, and never through a symlink (issue 13 item 4).

Every test runs twice: with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
and with the component-by-component O_NOFOLLOW walk used where openat2 is
missing. Attacks: symlinks in the path and at its end, '..', absolute paths,
a FIFO, a hard link, and a directory swapped for a symlink in the middle of
an operation.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from overseer.tools import _beneath as B
from overseer.tools import _fdops as F
from overseer.tools import files_search
from overseer.tools.files_read import ListDirArgs, ListDirTool, ReadFileArgs, ReadFileTool
from overseer.tools.files_search import SearchArgs, SearchTool
from overseer.tools.files_write import EditFileArgs, EditFileTool, WriteFileArgs, WriteFileTool

from overseer.toolapi import ToolContext


@pytest.fixture(params=["openat2", "walk"], autouse=True)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "openat2" and not B.have_openat2():
        pytest.skip("openat2 is not available on this kernel")
    monkeypatch.setattr(B, "FORCE_WALK", request.param == "walk")
    return str(request.param)


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A workspace with in- and outward symlinks, and a secret outside."""
    ws = tmp_path / "ws"
    out = tmp_path / "outside"
    (ws / "src").mkdir(parents=True)
    (ws / "tests").mkdir()
    out.mkdir()
    (ws / "src" / "app.py").write_text("APP = 1\n")
    (ws / "tests" / "test_app.py").write_text("def test(): pass\n")
    (out / "secret.txt").write_text("TOP SECRET\n")
    (ws / "out").symlink_to(out)  # directory link leading outside
    (ws / "secret_link").symlink_to(out / "secret.txt")  # file link leading outside
    (ws / "inner").symlink_to("src")  # directory link staying inside
    (ws / "app_link.py").symlink_to("src/app.py")  # file link staying inside
    return {"ws": ws, "out": out}


@pytest.fixture
def ctx(tree: dict[str, Path]) -> ToolContext:
    return ToolContext(workspace=tree["ws"], session_id="s")


def outside_untouched(tree: dict[str, Path]) -> None:
    assert sorted(p.name for p in tree["out"].iterdir()) == ["secret.txt"]
    assert (tree["out"] / "secret.txt").read_text() == "TOP SECRET\n"


# -- symlinks anywhere in the path are refused, saying why ------------------------


@pytest.mark.parametrize("path", ["secret_link", "out/secret.txt", "app_link.py", "inner/app.py"])
def test_read_file_never_follows_a_symlink(ctx: ToolContext, path: str) -> None:
    r = ReadFileTool().run(ReadFileArgs(path=path), ctx)
    assert r.status == "error" and "TOP SECRET" not in r.output and "APP" not in r.output
    assert "is a symbolic link" in r.output and "never follow symlinks" in r.output
    assert "->" in r.output  # the target is named, so the agent can use the real path


def test_the_refusal_names_the_link_component(ctx: ToolContext) -> None:
    r = ReadFileTool().run(ReadFileArgs(path="inner/app.py"), ctx)
    assert r.output.startswith("read_file: inner is a symbolic link (-> src)")


@pytest.mark.parametrize("path", ["out/new.txt", "secret_link", "inner/new.py", "app_link.py"])
def test_write_file_never_follows_a_symlink(
    ctx: ToolContext, tree: dict[str, Path], path: str
) -> None:
    before = (tree["ws"] / "src" / "app.py").read_text()
    r = WriteFileTool().run(WriteFileArgs(path=path, content="pwned\n"), ctx)
    assert r.status == "error" and "symbolic link" in r.output, r.output
    outside_untouched(tree)
    assert (tree["ws"] / "src" / "app.py").read_text() == before
    assert not (tree["ws"] / "src" / "new.py").exists()
    # The link itself is left alone too.
    assert (tree["ws"] / "secret_link").is_symlink()


def test_write_preview_says_the_write_will_fail_and_creates_nothing(
    ctx: ToolContext, tree: dict[str, Path]
) -> None:
    preview = WriteFileTool().preview(WriteFileArgs(path="out/x/y.txt", content="z"), ctx)
    assert preview and preview.startswith("the write will fail") and "symbolic link" in preview
    preview = WriteFileTool().preview(WriteFileArgs(path="new/dir/y.txt", content="z\n"), ctx)
    assert preview and "+z" in preview
    assert not (tree["ws"] / "new").exists()  # a preview creates no directory


@pytest.mark.parametrize("path", ["secret_link", "out/secret.txt", "app_link.py"])
def test_edit_file_never_follows_a_symlink(
    ctx: ToolContext, tree: dict[str, Path], path: str
) -> None:
    args = EditFileArgs(path=path, old="TOP SECRET" if "secret" in path else "APP", new="X")
    assert "symbolic link" in (EditFileTool().preview(args, ctx) or "")
    r = EditFileTool().run(args, ctx)
    assert r.status == "error" and "symbolic link" in r.output
    outside_untouched(tree)
    assert (tree["ws"] / "src" / "app.py").read_text() == "APP = 1\n"


def test_list_dir_refuses_a_linked_directory_and_shows_links_unfollowed(
    ctx: ToolContext,
) -> None:
    r = ListDirTool().run(ListDirArgs(path="out"), ctx)
    assert r.status == "error" and "symbolic link" in r.output and "secret.txt" not in r.output
    r = ListDirTool().run(ListDirArgs(path="."), ctx)
    entries = {e["name"]: e for e in r.data["entries"]}
    assert entries["out"]["type"] == "symlink" and entries["out"]["target"].endswith("outside")
    assert entries["inner"] == {"name": "inner", "type": "symlink", "target": "src"}


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
def test_search_follows_no_symlink(
    ctx: ToolContext, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "ripgrep" and not shutil.which("rg"):
        pytest.skip("ripgrep is not installed")
    if engine == "python":
        monkeypatch.setattr(files_search.shutil, "which", lambda _name: None)
    r = SearchTool().run(SearchArgs(pattern="SECRET|APP"), ctx)
    assert r.status == "ok" and r.data["engine"] == engine
    assert [(m["path"], m["text"]) for m in r.data["matches"]] == [("src/app.py", "APP = 1")]
    for path in ("out", "secret_link", "inner"):
        r = SearchTool().run(SearchArgs(pattern="SECRET|APP", path=path), ctx)
        assert r.status == "error" and "symbolic link" in r.output, path


# -- '..' and absolute paths ---------------------------------------------------------


def test_dotdot_inside_the_workspace_works_and_out_of_it_is_refused(
    ctx: ToolContext, tree: dict[str, Path]
) -> None:
    r = ReadFileTool().run(ReadFileArgs(path="tests/../src/app.py"), ctx)
    assert r.status == "ok" and r.output == "APP = 1\n" and r.data["path"] == "src/app.py"
    for path in ("../outside/secret.txt", "src/../../outside/secret.txt", "src/../.."):
        r = ReadFileTool().run(ReadFileArgs(path=path), ctx)
        assert r.status == "error" and "leads out of the workspace" in r.output, path
    r = WriteFileTool().run(WriteFileArgs(path="src/../../outside/new.txt", content="x"), ctx)
    assert r.status == "error" and "leads out of the workspace" in r.output
    outside_untouched(tree)
    # '..' after a symlink is not undone by name: the link is judged, and refused.
    r = ReadFileTool().run(ReadFileArgs(path="out/../ws/src/app.py"), ctx)
    assert r.status == "error" and "symbolic link" in r.output


def test_absolute_paths_into_the_workspace(ctx: ToolContext, tree: dict[str, Path]) -> None:
    ws = tree["ws"]
    r = ReadFileTool().run(ReadFileArgs(path=str(ws / "src" / "app.py")), ctx)
    assert r.status == "ok" and r.data["path"] == "src/app.py"
    r = WriteFileTool().run(WriteFileArgs(path=str(ws / "src" / "b.py"), content="B\n"), ctx)
    assert r.status == "ok" and (ws / "src" / "b.py").read_text() == "B\n"
    r = ReadFileTool().run(ReadFileArgs(path=str(ws / "out" / "secret.txt")), ctx)
    assert r.status == "error" and "symbolic link" in r.output
    r = ReadFileTool().run(ReadFileArgs(path=f"{ws}/src/../../outside/secret.txt"), ctx)
    assert r.status == "error" and "leads out of the workspace" in r.output


def test_an_absolute_path_outside_is_opened_without_symlinks(
    ctx: ToolContext, tree: dict[str, Path], tmp_path: Path
) -> None:
    """Reaching outside takes an explicit allow rule or a person's approval;
    even then the tool opens exactly the path that was judged: no symlink."""
    r = ReadFileTool().run(ReadFileArgs(path=str(tree["out"] / "secret.txt")), ctx)
    assert r.status == "ok" and r.output == "TOP SECRET\n"
    (tmp_path / "outlink").symlink_to(tree["out"])
    r = ReadFileTool().run(ReadFileArgs(path=str(tmp_path / "outlink" / "secret.txt")), ctx)
    assert r.status == "error" and "outlink is a symbolic link" in r.output


def test_nul_and_directory_names_are_clear_errors(ctx: ToolContext) -> None:
    assert "NUL" in ReadFileTool().run(ReadFileArgs(path="a\x00b"), ctx).output
    r = WriteFileTool().run(WriteFileArgs(path="src", content="x"), ctx)
    assert r.status == "error" and "src is a directory" in r.output
    r = WriteFileTool().run(WriteFileArgs(path="src/..", content="x"), ctx)
    assert r.status == "error" and "names a directory" in r.output
    r = ReadFileTool().run(ReadFileArgs(path="src/app.py/x"), ctx)
    assert r.status == "error" and "not a directory" in r.output


# -- what an fd-based write keeps and breaks -----------------------------------------------


def test_writes_are_atomic_keep_the_mode_and_break_hard_links(
    ctx: ToolContext, tree: dict[str, Path]
) -> None:
    ws = tree["ws"]
    script = ws / "run.sh"
    script.write_text("echo 1\n")
    script.chmod(0o755)
    r = EditFileTool().run(EditFileArgs(path="run.sh", old="1", new="2"), ctx)
    assert r.status == "ok" and script.read_text() == "echo 2\n"
    assert script.stat().st_mode & 0o777 == 0o755
    # A hard link to a file outside: the write replaces the workspace's name,
    # the outside file keeps its content.
    os.link(tree["out"] / "secret.txt", ws / "hard.txt")
    r = WriteFileTool().run(WriteFileArgs(path="hard.txt", content="new\n"), ctx)
    assert r.status == "ok" and (ws / "hard.txt").read_text() == "new\n"
    outside_untouched(tree)
    assert not [p for p in ws.iterdir() if p.name.endswith(".overseer-tmp")]


def test_a_fifo_does_not_hang_the_tools(ctx: ToolContext, tree: dict[str, Path]) -> None:
    os.mkfifo(tree["ws"] / "pipe")
    r = ReadFileTool().run(ReadFileArgs(path="pipe"), ctx)
    assert r.status == "error" and "a FIFO" in r.output
    r = WriteFileTool().run(WriteFileArgs(path="pipe", content="x"), ctx)
    assert r.status == "error" and "a FIFO" in r.output
    assert "a FIFO" in ListDirTool().run(ListDirArgs(path="pipe"), ctx).output


def test_the_workspace_fd_is_opened_once_per_session(
    ctx: ToolContext, tree: dict[str, Path], tmp_path: Path
) -> None:
    """Renaming the workspace away and putting another directory (or a
    symlink) in its place does not move the session's calls there."""
    ReadFileTool().run(ReadFileArgs(path="src/app.py"), ctx)
    first = B.workspace_root(ctx)
    ws = tree["ws"]
    ws.rename(tmp_path / "moved")
    ws.symlink_to(tree["out"])
    try:
        assert B.workspace_root(ctx) is first
        r = ReadFileTool().run(ReadFileArgs(path="secret.txt"), ctx)
        assert r.status == "error" and "TOP SECRET" not in r.output
        assert ReadFileTool().run(ReadFileArgs(path="src/app.py"), ctx).output == "APP = 1\n"
    finally:
        ws.unlink()
        (tmp_path / "moved").rename(ws)


# -- a directory swapped for a symlink in the middle of an operation ------------------------


def _swap(d: Path, to: Path) -> Path:
    """Rename directory ``d`` aside and put a symlink to ``to`` in its place."""
    aside = d.with_name(d.name + ".real")
    d.rename(aside)
    d.symlink_to(to)
    return aside


def test_write_lands_in_the_opened_directory_when_it_is_swapped_mid_write(
    ctx: ToolContext, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap happens after the directory was opened and before the
    rename: the file goes into the directory that was opened and judged."""
    real_replace = F.replace_at
    swapped: list[Path] = []

    def swap_then_replace(*args: object, **kw: object) -> None:
        swapped.append(_swap(tree["ws"] / "src", tree["out"]))
        real_replace(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "replace_at", swap_then_replace)
    r = WriteFileTool().run(WriteFileArgs(path="src/new.py", content="N\n"), ctx)
    assert r.status == "ok", r.output
    assert (swapped[0] / "new.py").read_text() == "N\n"
    outside_untouched(tree)


def test_edit_notices_the_file_replaced_mid_edit(
    ctx: ToolContext, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = F.replace_at

    def replace_file_then(*args: object, **kw: object) -> None:
        app = tree["ws"] / "src" / "app.py"
        app.rename(app.with_name("old.py"))
        app.write_text("APP = 1\nSOMEONE ELSE\n")
        real_replace(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "replace_at", replace_file_then)
    r = EditFileTool().run(EditFileArgs(path="src/app.py", old="APP = 1", new="APP = 2"), ctx)
    assert r.status == "error" and "replaced by another process" in r.output
    assert (tree["ws"] / "src" / "app.py").read_text() == "APP = 1\nSOMEONE ELSE\n"


def test_a_directory_swapped_mid_walk_is_not_entered(
    ctx: ToolContext, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """search walks from fds: a subdirectory replaced by a symlink between
    the listing and the descent is skipped, not followed."""
    monkeypatch.setattr(files_search.shutil, "which", lambda _name: None)
    (tree["out"] / "sub").mkdir()
    (tree["out"] / "sub" / "loot.txt").write_text("TOP SECRET\n")
    (tree["ws"] / "tests" / "deep").mkdir()
    (tree["ws"] / "tests" / "deep" / "t.txt").write_text("SECRET-free\n")
    real_visit = F._visit

    def visit(rel: str, fd: int, skip: object, depth: int) -> Iterator[tuple[str, int, list[str]]]:
        if rel == "tests":
            _swap(tree["ws"] / "tests" / "deep", tree["out"] / "sub")
        yield from real_visit(rel, fd, skip, depth)  # type: ignore[arg-type]

    # The child process walks; run the same function in this process to swap mid-walk.
    monkeypatch.setattr(F, "_visit", visit)
    fd = B.open_at(B.locate(ctx, "."), B.READ_FLAGS)
    try:
        found = SearchTool.python_search(SearchArgs(pattern="SECRET"), fd, True)
    finally:
        os.close(fd)
    assert isinstance(found, tuple)
    assert all("TOP SECRET" not in m["text"] for m in found[0])


def test_ripgrep_reads_only_files_it_was_handed(
    ctx: ToolContext, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory swapped after ripgrep listed it: the listed names are
    opened beneath the fd, so the swapped-in symlink is not followed."""
    if not shutil.which("rg"):
        pytest.skip("ripgrep is not installed")
    (tree["out"] / "app.py").write_text("APP = 'from outside'\n")
    real_batches = files_search._open_batches

    def swap_then_open(
        fd: int, names: list[str], is_dir: bool, protected: list[str]
    ) -> Iterator[list[tuple[str, int]]]:
        _swap(tree["ws"] / "src", tree["out"])
        yield from real_batches(fd, names, is_dir, protected)

    monkeypatch.setattr(files_search, "_open_batches", swap_then_open)
    r = SearchTool().run(SearchArgs(pattern="APP"), ctx)
    assert r.status == "ok" and all("outside" not in m["text"] for m in r.data["matches"])


def test_concurrent_flips_never_send_a_write_outside(
    ctx: ToolContext, tree: dict[str, Path]
) -> None:
    """A thread flips `d` between a real directory and a symlink leading
    outside while the tool writes through it: every write either lands in
    the real directory or is refused."""
    ws, out = tree["ws"], tree["out"]
    (ws / "d").mkdir()
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            try:
                aside = _swap(ws / "d", out)
                (ws / "d").unlink()
                aside.rename(ws / "d")
            except OSError:
                pass

    t = threading.Thread(target=flip)
    t.start()
    results = []
    try:
        for i in range(200):
            results.append(WriteFileTool().run(WriteFileArgs(path=f"d/f{i}", content="x"), ctx))
    finally:
        stop.set()
        t.join()
    outside_untouched(tree)
    # A directory the tool created may be replaced by the flipper before the
    # write: the temp file then has nowhere to go (ENOENT), and nothing is written.
    # A component swapped for a symlink or a file mid-walk is refused as one.
    refusals = (
        "symbolic link",
        "was moved out",
        "no such file",
        "No such file",
        "is not a directory",
    )
    odd = [
        r.output for r in results if r.status != "ok" and not any(x in r.output for x in refusals)
    ]
    assert not odd, odd
    # Each written file is somewhere in the workspace (the flipper may have
    # renamed the directory it went into, or replaced one the tool created).
    inside = {name for _dir, _subdirs, names in os.walk(ws) for name in names}
    assert {r.data["path"].split("/")[-1] for r in results if r.status == "ok"} <= inside


# -- overseer's own files under another name; bounded; no fd left behind --------------------


def test_a_hard_link_to_overseers_key_is_refused_by_every_reader(
    ctx: ToolContext, tree: dict[str, Path], overseer_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = overseer_home / "config" / "seal.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("SEAL-KEY-MATERIAL\n")
    os.link(key, tree["ws"] / "notes.txt")
    r = ReadFileTool().run(ReadFileArgs(path="notes.txt"), ctx)
    assert r.status == "error" and "hard link to one of overseer's own files" in r.output
    preview = WriteFileTool().preview(WriteFileArgs(path="notes.txt", content="x"), ctx) or ""
    assert "SEAL-KEY" not in preview and "hard link" in preview
    r = EditFileTool().run(EditFileArgs(path="notes.txt", old="SEAL", new="x"), ctx)
    assert r.status == "error" and key.read_text() == "SEAL-KEY-MATERIAL\n"
    which = shutil.which
    engines = ["python"] + (["ripgrep"] if which("rg") else [])
    for engine in engines:
        monkeypatch.setattr(
            files_search.shutil, "which", which if engine == "ripgrep" else lambda _name: None
        )
        for path in (".", "notes.txt"):
            r = SearchTool().run(SearchArgs(pattern="SEAL", path=path), ctx)
            assert "SEAL-KEY" not in r.output and r.data.get("count", 0) == 0, (engine, path)


def test_edit_file_is_bounded(
    ctx: ToolContext, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from overseer.tools import files_write

    monkeypatch.setattr(files_write, "EDIT_CAP", 1000)
    (tree["ws"] / "big.txt").write_text("x" * 2000)
    r = EditFileTool().run(EditFileArgs(path="big.txt", old="x", new="y"), ctx)
    assert r.status == "error" and "more than edit_file reads" in r.output


def test_no_fd_is_left_open(ctx: ToolContext, tree: dict[str, Path]) -> None:
    for i in range(300):
        (tree["ws"] / "src" / f"m{i}.py").write_text("APP\n")
    B.workspace_root(ctx)  # the session's own fd stays open by design
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        ReadFileTool().run(ReadFileArgs(path="src/app.py"), ctx)
        ReadFileTool().run(ReadFileArgs(path="out/secret.txt"), ctx)
        WriteFileTool().run(WriteFileArgs(path="src/new/a.py", content="x"), ctx)
        WriteFileTool().run(WriteFileArgs(path="out/a.py", content="x"), ctx)
        EditFileTool().run(EditFileArgs(path="src/app.py", old="APP", new="APP"), ctx)
        ListDirTool().run(ListDirArgs(path="src"), ctx)
        SearchTool().run(SearchArgs(pattern="APP", max_results=1), ctx)  # stops early
        SearchTool().run(SearchArgs(pattern="APP"), ctx)
    assert len(os.listdir("/proc/self/fd")) == before
