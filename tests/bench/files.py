"""Benchmark: the file tools opening beneath the workspace fd vs by name.

What the symlink-safe opening costs (issue 13 item 4). Prints, from one run,
median times of:
- read_file / write_file / edit_file through the tools (openat2, and the
  O_NOFOLLOW walk used where openat2 is missing) against a baseline doing
  the same by name in plain Python (``open(path)``: what the tools did
  before, following symlinks);
- search of a small tree with ripgrep: the tool (``rg --files``, opening each
  file beneath the fd, ripgrep over ``/proc/self/fd/N``) against one plain
  ``rg`` run by name, and the Python fallback.

The path is five directories deep, where a per-component walk costs most.

Run: python tests/bench/files.py [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from overseer.tools import _beneath as B  # noqa: E402
from overseer.tools import files_search  # noqa: E402
from overseer.tools.files_read import ReadFileArgs, ReadFileTool, _lines  # noqa: E402
from overseer.tools.files_search import SearchArgs, SearchTool  # noqa: E402
from overseer.tools.files_write import (  # noqa: E402
    EditFileArgs,
    EditFileTool,
    WriteFileArgs,
    WriteFileTool,
)

from overseer.toolapi import ToolContext  # noqa: E402

DEEP = "a/b/c/d/e"


def median_ms(fn: Callable[[int], object], n: int, warmup: int = 3) -> float:
    for i in range(warmup):
        fn(-1 - i)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def make_tree(root: Path, files: int) -> Path:
    ws = root / "ws"
    (ws / DEEP).mkdir(parents=True)
    (ws / DEEP / "mod.py").write_text("VALUE = 1\n" * 200)
    for i in range(files):
        sub = ws / "pkg" / f"d{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n" * 20)
    return ws


def tool_calls(
    ctx: ToolContext, rel: str, text: str, target: Path
) -> list[tuple[str, Callable[[int], object]]]:
    """The three tool calls timed, bound to one context."""
    read, write, edit = ReadFileTool(), WriteFileTool(), EditFileTool()

    def do_edit(_i: int) -> object:
        edit.run(EditFileArgs(path=rel, old=text[:40], new=text[:40] + " "), ctx)
        return target.write_text(text)

    return [
        ("read_file", lambda _i: read.run(ReadFileArgs(path=rel), ctx)),
        (
            "write_file",
            lambda i: write.run(WriteFileArgs(path=f"{DEEP}/out.py", content=f"x = {i}\n"), ctx),
        ),
        ("edit_file", do_edit),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny run (for the test suite)")
    opts = ap.parse_args()
    n = 5 if opts.smoke else 300
    n_search = 2 if opts.smoke else 30
    os.environ.setdefault("OVERSEER_HOME", tempfile.mkdtemp(prefix="overseer-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_tree(Path(tmp), 20 if opts.smoke else 200)
        target = ws / DEEP / "mod.py"
        rel = f"{DEEP}/mod.py"
        text = target.read_text()
        rows: list[tuple[str, float, float]] = []

        def by_name_read(_i: int) -> object:
            # What read_file did before: open by name, the same line loop.
            with open(target, encoding="utf-8", errors="replace", newline="") as fh:
                return _lines(fh, ReadFileArgs(path=rel), rel, len(text))  # type: ignore[arg-type]

        def by_name_write(i: int) -> object:
            with open(ws / DEEP / "out.py", "w", encoding="utf-8", newline="") as fh:
                return fh.write(f"x = {i}\n")

        def by_name_edit(i: int) -> object:
            old = target.read_text()
            with open(target, "w", encoding="utf-8", newline="") as fh:
                return fh.write(old.replace("VALUE = 1", "VALUE = 1", 1))

        for mode in ("openat2", "walk"):
            if mode == "openat2" and not B.have_openat2():
                print("openat2 is not available here: only the walk is measured")
                continue
            B.FORCE_WALK = mode == "walk"
            checks = tool_calls(ToolContext(workspace=ws, session_id="bench"), rel, text, target)
            bases = {
                "read_file": by_name_read,
                "write_file": by_name_write,
                "edit_file": by_name_edit,
            }
            checks = [(name, bases[name], tool) for name, tool in checks]
            for name, base, tool in checks:
                b = median_ms(base, n)
                t = median_ms(tool, n)
                rows.append((f"{name} ({mode})", b, t))
        B.FORCE_WALK = False

        rg = shutil.which("rg")
        ctx = ToolContext(workspace=ws, session_id="bench")
        search = SearchTool()
        if rg:

            def rg_by_name(_i: int) -> object:
                return subprocess.run(
                    [rg, "--no-config", "-n", "--null", "return 7", "."],
                    cwd=ws,
                    capture_output=True,
                )

            b = median_ms(rg_by_name, n_search)
            t = median_ms(lambda _i: search.run(SearchArgs(pattern="return 7"), ctx), n_search)
            rows.append(("search (ripgrep)", b, t))
        which = shutil.which
        files_search.shutil.which = lambda _name: None  # type: ignore[assignment]
        try:
            b = rows[-1][1] if rg else float("nan")
            t = median_ms(lambda _i: search.run(SearchArgs(pattern="return 7"), ctx), n_search)
            # Mostly the child interpreter starting (it did before too).
            rows.append(("search (python fallback, vs rg by name)", b, t))
        finally:
            files_search.shutil.which = which  # type: ignore[assignment]

    print(f"{'what':44} {'by name':>10} {'tool':>10} {'ratio':>7}")
    for name, b, t in rows:
        print(f"{name:44} {b:9.3f}ms {t:9.3f}ms {t / b:6.2f}x")


if __name__ == "__main__":
    main()
