"""``search``: file contents matching a regular expression.

The searched path is opened once beneath the workspace fd (``_beneath``),
and every file searched is opened from that fd with no symlink followed, so
a directory swapped for a symlink mid-search cannot pull in files from
elsewhere. With ripgrep, ``rg --files`` (run in that directory, respecting
``.gitignore``) only *names* the candidates; the tool opens each beneath the
fd and hands ripgrep the open files (``/proc/self/fd/N``), so ripgrep reads
exactly what was opened. Without ripgrep, a child process walks the same fd
with Python's ``re`` (it has no timeout, so the child can be stopped).
Bounded by ``max_results``; lines from overseer's own files never come back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from . import _beneath as B
from . import _fdops as F
from ._output import BoundedOutput
from ._proc import run_bounded
from .files_common import SNIFF, is_binary, overseer_inode, protected_files, read_all
from .files_read import refused

SEARCH_FILE_CAP = 4 * 1024 * 1024  # the Python fallback skips bigger files
PY_SEARCH_TIMEOUT_S = 60  # as ripgrep's
RG_TIMEOUT_S = 60
RG_BATCH = 256  # open files handed to one ripgrep run
LIST_CAP = 32 * 1024 * 1024  # bytes of `rg --files` output read at most
_FD_DIR = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"

_SKIP_DIRS = {
    ".git",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
}


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(description="Regular expression to search for.")
    path: str = Field(".", description="File or directory to search, relative to the workspace.")
    glob: str | None = Field(
        None, description="Only files whose name matches this glob (e.g. '*.py')."
    )
    ignore_case: bool = False
    max_results: int = Field(200, ge=1, le=5000)


def _join(prefix: str, rel: str) -> str:
    return rel if prefix in ("", ".") else f"{prefix}/{rel}" if rel else prefix


class SearchTool(Tool):
    name = "search"
    description = (
        "Search file contents for a regular expression (ripgrep when installed; respects "
        ".gitignore). Returns path:line:text, at most max_results matches. Symlinks are not "
        "followed."
    )
    Args = SearchArgs

    def facts(self, args: SearchArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: SearchArgs, ctx: ToolContext) -> str | None:
        return f"search {args.pattern!r} in {args.path}" + (f" ({args.glob})" if args.glob else "")

    def run(self, args: SearchArgs, ctx: ToolContext) -> ToolResult:
        name = args.path
        try:
            target = B.locate(ctx, args.path)
            name = target.shown
            fd = B.open_at(target, B.READ_FLAGS)
        except B.PathRefused as exc:
            return refused("search", exc, name, "no such file or directory")
        with F.opened(fd):
            mode = os.fstat(fd).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                return ToolResult.fail(f"search: {name} is {F.kind(mode)}")
            rg = shutil.which("rg")
            is_dir = stat.S_ISDIR(mode)
            # overseer's own files: no line from them comes back (invariant 4),
            # by name or through a hard link.
            protected = protected_files(ctx)
            if rg:
                result = self._ripgrep(rg, args, fd, is_dir, name, protected)
            else:
                result = self._python(args, fd, is_dir, name, protected)
        if isinstance(result, ToolResult):
            return result
        matches, truncated, engine = result
        base = os.path.normpath(target.absolute)
        kept = []
        for m in matches:
            rel = m.pop("rel")
            full = os.path.join(base, rel) if rel else base
            if any(full == p or full.startswith(p.rstrip("/") + "/") for p in protected):
                continue
            kept.append(m)
        lines = [f"{m['path']}:{m['line']}:{m['text']}" for m in kept]
        if truncated:
            lines.append(f"[... more matches not shown: stopped at {args.max_results} ...]")
        output = "\n".join(lines) + ("\n" if lines else "")
        if not kept:
            output = f"no matches for {args.pattern!r} in {name}\n"
        return ToolResult(
            output=output,
            data={"matches": kept, "count": len(kept), "truncated": truncated, "engine": engine},
        )

    # -- ripgrep -----------------------------------------------------------

    def _ripgrep(
        self, rg: str, args: SearchArgs, fd: int, is_dir: bool, name: str, protected: list[str]
    ) -> ToolResult | tuple[list[dict[str, Any]], bool, str]:
        flags = ["--no-config", "--color", "never"]
        if args.glob:
            flags += ["--glob", args.glob]
        names = _rg_files(rg, fd, flags) if is_dir else [""]
        if isinstance(names, ToolResult):
            return names
        matches: list[dict[str, Any]] = []
        searched = 0
        for batch in _open_batches(fd, names, is_dir, protected):
            searched += len(batch)
            try:
                found = _rg_batch(rg, args, batch)
            finally:
                for _rel, bfd in batch:
                    os.close(bfd)
            if isinstance(found, ToolResult):
                return found
            for rel, lineno, text in found:
                if len(matches) >= args.max_results:
                    return matches, True, "ripgrep"
                matches.append({"path": _join(name, rel), "rel": rel, "line": lineno, "text": text})
        if not searched:
            problem = _rg_pattern_problem(rg, args)
            if problem:
                return ToolResult.fail(f"search: {problem}")
        return matches, False, "ripgrep"

    # -- Python fallback -------------------------------------------------------

    def _python(
        self, args: SearchArgs, fd: int, is_dir: bool, name: str, protected: list[str]
    ) -> ToolResult | tuple[list[dict[str, Any]], bool, str]:
        """Python's re, in a child process that inherits the open fd: re has no
        timeout, and a pattern with nested repetition can take exponential
        time on a line."""
        request = {"args": args.model_dump(), "fd": fd, "is_dir": is_dir, "protected": protected}
        try:
            res = subprocess.run(
                [sys.executable, "-m", "overseer.tools._pysearch"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=PY_SEARCH_TIMEOUT_S,
                pass_fds=(fd,),
            )
            answer = json.loads(res.stdout)
        except subprocess.TimeoutExpired:
            return ToolResult.fail(
                f"search: stopped after {PY_SEARCH_TIMEOUT_S} s without finishing. Without "
                "ripgrep the search uses Python's regular expressions, which take exponential "
                "time on some patterns (nested repetition such as (a+)+): simplify the pattern"
            )
        except (OSError, ValueError) as exc:
            return ToolResult.fail(f"search: the search process failed: {exc}")
        if "error" in answer:
            return ToolResult.fail(str(answer["error"]))
        matches = [{"path": _join(name, m["rel"]), **m} for m in answer["matches"]]
        return matches, bool(answer["truncated"]), "python"

    @staticmethod
    def python_search(
        args: SearchArgs, fd: int, is_dir: bool, protected: list[str] | None = None
    ) -> tuple[list[dict[str, Any]], bool] | str:
        """The fallback search itself (run by ``_pysearch`` in a child) on an
        open file or directory: the matches (``rel`` to it, line, text) and
        whether there were more, or an error message."""
        try:
            regex = re.compile(args.pattern, re.IGNORECASE if args.ignore_case else 0)
        except re.error as exc:
            return f"search: invalid regular expression {args.pattern!r}: {exc}"
        matches: list[dict[str, Any]] = []
        for rel, file_fd in _python_files(fd, is_dir, args.glob):
            try:
                st = os.fstat(file_fd)
                if st.st_size > SEARCH_FILE_CAP or overseer_inode(st, protected or []):
                    continue
                data = read_all(file_fd)
            except OSError:
                continue
            finally:
                if is_dir:
                    os.close(file_fd)
            if is_binary(data[:SNIFF]):
                continue
            for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if regex.search(line):
                    if len(matches) >= args.max_results:
                        return matches, True
                    matches.append({"rel": rel, "line": lineno, "text": line[:400]})
        return matches, False


def _python_files(fd: int, is_dir: bool, glob: str | None) -> Iterator[tuple[str, int]]:
    """(relative name, open fd) of every regular file to search; hidden and
    cache directories skipped, as before ripgrep's .gitignore handling."""
    import fnmatch

    if not is_dir:
        yield "", fd
        return
    skip = lambda d: d in _SKIP_DIRS or d.startswith(".")  # noqa: E731
    for rel, dir_fd, files in F.walk(fd, skip):
        for f in files:
            if f.startswith(".") or (glob and not fnmatch.fnmatch(f, glob)):
                continue
            try:
                file_fd = os.open(f, B.READ_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # swapped for a symlink or gone: not followed
            if not stat.S_ISREG(os.fstat(file_fd).st_mode):
                os.close(file_fd)
                continue
            yield (f"{rel}/{f}" if rel else f), file_fd


def _rg_files(rg: str, fd: int, flags: list[str]) -> list[str] | ToolResult:
    """The files ripgrep would search below the open directory (names only:
    the tool opens them itself)."""
    out = BoundedOutput(head=LIST_CAP, tail=0, spool_cap=0)
    res = run_bounded(
        [rg, "--files", "--null", *flags],
        Path(f"{_FD_DIR}/{fd}"),
        timeout=RG_TIMEOUT_S,
        out=out,
        pass_fds=(fd,),
    )
    if res.timed_out:
        return ToolResult.fail(f"search: listing the files took more than {RG_TIMEOUT_S} s")
    if res.exit_code not in (0, 1, 2):
        text = bytes(out.head).decode("utf-8", "replace")
        return ToolResult.fail(f"search: ripgrep exited with {res.exit_code}: {text[:500]}")
    names = bytes(out.head).split(b"\0")
    if out.truncated:
        names = names[:-1]  # the last one may be cut
    listed = []
    for raw in names:
        name = os.fsdecode(raw).rstrip("\n")
        if "\n" in name:  # a warning on stderr ran into the name
            name = name.rsplit("\n", 1)[-1]
        name = name[2:] if name.startswith("./") else name
        if name:
            listed.append(name)
    return sorted(listed)


def _open_batches(
    fd: int, names: list[str], is_dir: bool, protected: list[str]
) -> Iterator[list[tuple[str, int]]]:
    """Open each listed file beneath the directory fd (no symlink followed),
    skipping binary and non-regular files and overseer's own, in batches for
    ripgrep. A yielded batch's fds belong to the caller, who closes them."""
    batch: list[tuple[str, int]] = []
    try:
        for rel in names:
            if not is_dir:
                file_fd = os.dup(fd)
            else:
                try:
                    file_fd = B.open_below(fd, rel.split("/"), B.READ_FLAGS)
                except OSError:
                    continue
            try:
                st = os.fstat(file_fd)
                skip = (
                    not stat.S_ISREG(st.st_mode)
                    or overseer_inode(st, protected)
                    or is_binary(os.pread(file_fd, SNIFF, 0))
                )
            except OSError:
                skip = True
            if skip:
                os.close(file_fd)
                continue
            batch.append((rel, file_fd))
            if len(batch) >= RG_BATCH:
                handed, batch = batch, []
                yield handed
        if batch:
            handed, batch = batch, []
            yield handed
    finally:
        for _rel, left in batch:  # opened, never handed over (the caller stopped early)
            os.close(left)


def _rg_argv(rg: str, args: SearchArgs) -> list[str]:
    argv = [rg, "--line-number", "--no-heading", "--with-filename", "--color", "never", "--null"]
    argv += ["--max-columns", "400", "--max-columns-preview", "--no-config"]
    if args.ignore_case:
        argv.append("--ignore-case")
    return argv + ["--regexp", args.pattern, "--"]


def _rg_batch(
    rg: str, args: SearchArgs, batch: list[tuple[str, int]]
) -> list[tuple[str, int, str]] | ToolResult:
    """ripgrep over open files: (rel, line, text) in the batch's order."""
    by_path = {f"{_FD_DIR}/{bfd}": (i, rel) for i, (rel, bfd) in enumerate(batch)}
    res = run_bounded(
        _rg_argv(rg, args) + list(by_path),
        Path("/"),
        timeout=RG_TIMEOUT_S,
        pass_fds=tuple(bfd for _rel, bfd in batch),
    )
    text = bytes(res.out.head).decode("utf-8", "replace")
    if res.exit_code not in (0, 1, 2):
        return ToolResult.fail(f"search: ripgrep exited with {res.exit_code}: {text.strip()[:500]}")
    found: list[tuple[int, int, str, str]] = []
    for line in text.splitlines():
        # --null ends the file name with NUL, so a ':' in a name cannot confuse us.
        path, sep, rest = line.partition("\0")
        lineno, sep2, content = rest.partition(":")
        if not sep or not sep2 or not lineno.isdigit() or path not in by_path:
            continue
        index, rel = by_path[path]
        found.append((index, int(lineno), rel, content))
    if res.exit_code == 2 and not found:
        # A bad pattern: ripgrep's own message says what is wrong.
        return ToolResult.fail(f"search: {text.strip()[:1000] or 'ripgrep failed'}")
    found.sort(key=lambda f: (f[0], f[1]))
    return [(rel, lineno, content) for _i, lineno, rel, content in found]


def _rg_pattern_problem(rg: str, args: SearchArgs) -> str | None:
    """ripgrep's complaint about the pattern, checked against an empty input
    when there was no file to search (so a bad pattern is still an error)."""
    res = run_bounded(_rg_argv(rg, args), Path("/"), timeout=10, stdin_data=b"")
    if res.exit_code == 2:
        return res.out.text().strip()[:1000] or "ripgrep failed"
    return None
