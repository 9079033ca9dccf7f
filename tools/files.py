"""File tools: ``read_file``, ``write_file``, ``edit_file``, ``list_dir``, ``search``.

Paths are resolved against the workspace (symlinks resolved) and reported
in ``facts`` as absolute paths, so the policy judges where a call really
lands. Writes preview as a unified diff, which is what an approver wants to
see. Everything is bounded: a file read is capped, a search stops after
``max_results``, a directory listing after ``MAX_ENTRIES``.
"""

from __future__ import annotations

import codecs
import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer import textdiff
from overseer.toolapi import Facts, Risk, Tool, ToolContext, ToolResult

from ._output import bound_text
from ._proc import run_bounded

READ_CAP = 256 * 1024  # bytes of text read_file returns at most
SNIFF = 8192  # bytes looked at to tell text from binary
DIFF_CAP = 64 * 1024
MAX_ENTRIES = 1000
SEARCH_FILE_CAP = 4 * 1024 * 1024  # the Python fallback skips bigger files
PY_SEARCH_TIMEOUT_S = 60  # as ripgrep's

# Paths whose edits the default policy treats as editing tests.
_TEST_PATTERNS = (
    "test_*.py",
    "*_test.py",
    "*_test.go",
    "*.test.js",
    "*.test.ts",
    "*.spec.js",
    "*.spec.ts",
    "conftest.py",
    "pytest.ini",
    "tox.ini",
    "noxfile.py",
)
_TEST_DIRS = {"tests", "test", "testing", "__tests__", "spec"}


def looks_like_test(path: Path) -> bool:
    """A hint for the policy: a test, test configuration or CI file."""
    parts = path.parts
    if any(p in _TEST_DIRS for p in parts[:-1]):
        return True
    if ".github" in parts or ".gitlab-ci.yml" in parts or ".circleci" in parts:
        return True
    return any(fnmatch.fnmatch(path.name, pat) for pat in _TEST_PATTERNS)


def shown(path: Path, ctx: ToolContext) -> str:
    """A path as the agent sees it: relative to the workspace when inside."""
    try:
        return str(path.relative_to(Path(ctx.workspace).resolve())) or "."
    except ValueError:
        return str(path)


def is_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    try:
        # Incremental: a multi-byte character cut at the end of the sample is fine.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def read_text(path: Path) -> str | None:
    """The whole file as text (line endings kept), or None if it is binary."""
    data = path.read_bytes()
    if is_binary(data[:SNIFF]):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def unified_diff(old: str, new: str, name: str, *, created: bool = False) -> str:
    lines = textdiff.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if created else f"a/{name}",
        tofile=f"b/{name}",
    )
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return bound_text(text, DIFF_CAP)[0]


def diffstat(old: str, new: str) -> tuple[int, int]:
    added = removed = 0
    for line in textdiff.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def _write_risk(path: Path, ctx: ToolContext) -> list[Risk]:
    rel = Path(shown(path, ctx))
    return ["writes_tests"] if looks_like_test(rel) else []


# -- read_file ----------------------------------------------------------------


class ReadFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to read, relative to the workspace.")
    start: int | None = Field(None, ge=1, description="First line to return (1-based).")
    end: int | None = Field(None, ge=1, description="Last line to return (inclusive).")


class ReadFileTool(Tool):
    name = "read_file"
    description = (
        "Read a text file (optionally lines start..end, 1-based, inclusive). Binary files are "
        f"refused; at most {READ_CAP // 1024} KB are returned per call."
    )
    Args = ReadFileArgs

    def facts(self, args: ReadFileArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: ReadFileArgs, ctx: ToolContext) -> str | None:
        span = f" lines {args.start or 1}-{args.end or 'end'}" if args.start or args.end else ""
        return f"read {args.path}{span}"

    def run(self, args: ReadFileArgs, ctx: ToolContext) -> ToolResult:
        path = ctx.resolve(args.path)
        name = shown(path, ctx)
        if args.start and args.end and args.end < args.start:
            return ToolResult.fail(f"read_file: end ({args.end}) is before start ({args.start})")
        if not path.exists():
            return ToolResult.fail(f"read_file: no such file: {name}")
        if path.is_dir():
            return ToolResult.fail(f"read_file: {name} is a directory; use list_dir")
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                sample = fh.read(SNIFF)
        except OSError as exc:
            return ToolResult.fail(f"read_file: cannot read {name}: {exc.strerror or exc}")
        if is_binary(sample):
            return ToolResult.fail(
                f"read_file: {name} is a binary file ({size} bytes); read_file shows text only "
                "(use shell tools such as `file` or `xxd | head` to inspect it)",
                path=name,
                size=size,
                binary=True,
            )
        start = args.start or 1
        huge = size > 8 * 1024 * 1024  # do not scan a huge file just to count its lines
        out: list[str] = []
        taken = 0
        last = start - 1
        total: int | None = 0
        truncated = False
        with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
            for lineno, line in enumerate(fh, 1):
                total = lineno
                if lineno < start:
                    continue
                past_end = args.end is not None and lineno > args.end
                if not past_end and not truncated and taken + len(line) > READ_CAP:
                    truncated = True
                if past_end or truncated:
                    if huge:
                        total = None
                        break
                    continue
                out.append(line)
                taken += len(line)
                last = lineno
        if total is not None and start > total and not (total == 0 and start == 1):
            return ToolResult.fail(
                f"read_file: {name} has {total} lines; start {start} is past the end"
            )
        text = "".join(out)
        if truncated:
            text += f"\n[... cut at {READ_CAP // 1024} KB: read from line {last + 1} with start/end ...]\n"
        data: dict[str, Any] = {
            "path": name,
            "start": start,
            "end": last,
            "total_lines": total,
            "size": size,
            "truncated": truncated,
        }
        return ToolResult(output=text, data=data, output_size=taken)


# -- write_file ---------------------------------------------------------------


class WriteFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to write, relative to the workspace.")
    content: str = Field(description="The complete new content of the file.")


class WriteFileTool(Tool):
    name = "write_file"
    description = (
        "Create or overwrite a file with the given content (parent directories are created)."
    )
    Args = WriteFileArgs

    def facts(self, args: WriteFileArgs, ctx: ToolContext) -> Facts:
        path = ctx.resolve(args.path)
        return Facts(writes=[str(path)], risk=_write_risk(path, ctx))

    def preview(self, args: WriteFileArgs, ctx: ToolContext) -> str | None:
        path = ctx.resolve(args.path)
        name = shown(path, ctx)
        if path.is_dir():
            return f"{name} is a directory: the write will fail"
        if not path.exists():
            return unified_diff("", args.content, name, created=True)
        try:
            old = read_text(path)
        except OSError as exc:
            return f"cannot read the current {name}: {exc.strerror or exc}"
        if old is None:
            return f"overwrite binary file {name} ({path.stat().st_size} bytes) with {len(args.content.encode())} bytes of text"
        return unified_diff(old, args.content, name) or f"{name}: no change"

    def run(self, args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
        path = ctx.resolve(args.path)
        name = shown(path, ctx)
        if path.is_dir():
            return ToolResult.fail(f"write_file: {name} is a directory")
        created = not path.exists()
        old = ""
        if not created:
            try:
                old = read_text(path) or ""
            except OSError:
                old = ""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as fh:
                fh.write(args.content)
        except OSError as exc:
            return ToolResult.fail(f"write_file: cannot write {name}: {exc.strerror or exc}")
        size = len(args.content.encode("utf-8"))
        added, removed = diffstat(old, args.content)
        verb = "created" if created else "wrote"
        return ToolResult(
            output=f"{verb} {name} ({size} bytes, +{added} -{removed} lines)",
            data={
                "path": name,
                "bytes": size,
                "created": created,
                "added": added,
                "removed": removed,
            },
        )


# -- edit_file ----------------------------------------------------------------


class EditFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to edit, relative to the workspace.")
    old: str = Field(description="Exact text to replace; must occur exactly once in the file.")
    new: str = Field(description="Replacement text.")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _match_problem(text: str, old: str, name: str) -> str | None:
    """Why ``old`` cannot be replaced, or None when it occurs exactly once."""
    if not old:
        return "edit_file: `old` is empty; give the exact text to replace"
    count = text.count(old)
    if count == 1:
        return None
    if count == 0:
        hint = ""
        stripped = old.strip()
        if stripped and stripped in text:
            hint = (
                f" (the text without its leading/trailing whitespace occurs at line "
                f"{_line_of(text, text.index(stripped))}: check indentation and line breaks)"
            )
        return (
            f"edit_file: the old text was not found in {name} (0 matches){hint}. Read the file "
            "and copy the exact text, including indentation and line breaks."
        )
    lines: list[int] = []
    pos = text.find(old)
    while pos != -1 and len(lines) < 10:
        lines.append(_line_of(text, pos))
        pos = text.find(old, pos + len(old))
    return (
        f"edit_file: the old text occurs {count} times in {name} (at lines "
        f"{', '.join(map(str, lines))}); include more surrounding text so it matches exactly once."
    )


class EditFileTool(Tool):
    name = "edit_file"
    description = (
        "Replace an exact piece of text in a file. `old` must occur exactly once (include "
        "enough surrounding lines); otherwise nothing changes and the error says how many "
        "matches there were."
    )
    Args = EditFileArgs

    def facts(self, args: EditFileArgs, ctx: ToolContext) -> Facts:
        path = ctx.resolve(args.path)
        return Facts(reads=[str(path)], writes=[str(path)], risk=_write_risk(path, ctx))

    def _load(self, args: EditFileArgs, ctx: ToolContext) -> tuple[str | None, str, str | None]:
        """(current text, shown name, problem)."""
        path = ctx.resolve(args.path)
        name = shown(path, ctx)
        if not path.is_file():
            return None, name, f"edit_file: no such file: {name} (use write_file to create it)"
        try:
            text = read_text(path)
        except OSError as exc:
            return None, name, f"edit_file: cannot read {name}: {exc.strerror or exc}"
        if text is None:
            return None, name, f"edit_file: {name} is a binary file; edit_file changes text only"
        if args.old == args.new:
            return text, name, "edit_file: `old` and `new` are identical; nothing would change"
        return text, name, _match_problem(text, args.old, name)

    def preview(self, args: EditFileArgs, ctx: ToolContext) -> str | None:
        text, name, problem = self._load(args, ctx)
        if problem or text is None:
            return problem
        return unified_diff(text, text.replace(args.old, args.new, 1), name)

    def run(self, args: EditFileArgs, ctx: ToolContext) -> ToolResult:
        text, name, problem = self._load(args, ctx)
        if problem or text is None:
            return ToolResult.fail(problem or f"edit_file: cannot edit {name}")
        new_text = text.replace(args.old, args.new, 1)
        path = ctx.resolve(args.path)
        try:
            with path.open("w", encoding="utf-8", newline="") as fh:
                fh.write(new_text)
        except OSError as exc:
            return ToolResult.fail(f"edit_file: cannot write {name}: {exc.strerror or exc}")
        line = _line_of(text, text.index(args.old))
        added, removed = diffstat(text, new_text)
        return ToolResult(
            output=f"edited {name} at line {line} (+{added} -{removed} lines)",
            data={"path": name, "line": line, "added": added, "removed": removed},
        )


# -- list_dir -----------------------------------------------------------------


class ListDirArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(".", description="Directory to list, relative to the workspace.")


class ListDirTool(Tool):
    name = "list_dir"
    description = "List a directory: subdirectories end with '/', files show their size."
    Args = ListDirArgs

    def facts(self, args: ListDirArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: ListDirArgs, ctx: ToolContext) -> str | None:
        return f"list {args.path}"

    def run(self, args: ListDirArgs, ctx: ToolContext) -> ToolResult:
        path = ctx.resolve(args.path)
        name = shown(path, ctx)
        if not path.exists():
            return ToolResult.fail(f"list_dir: no such directory: {name}")
        if not path.is_dir():
            return ToolResult.fail(f"list_dir: {name} is a file; use read_file")
        try:
            items = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            return ToolResult.fail(f"list_dir: cannot list {name}: {exc.strerror or exc}")
        lines: list[str] = []
        entries: list[dict[str, Any]] = []
        for entry in items[:MAX_ENTRIES]:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = os.readlink(entry.path)
                except OSError:
                    target = "?"
                lines.append(f"{entry.name} -> {target}")
                entries.append({"name": entry.name, "type": "symlink", "target": target})
            elif stat.S_ISDIR(st.st_mode):
                lines.append(f"{entry.name}/")
                entries.append({"name": entry.name, "type": "dir"})
            else:
                lines.append(f"{entry.name}  ({st.st_size} bytes)")
                entries.append({"name": entry.name, "type": "file", "size": st.st_size})
        if len(items) > MAX_ENTRIES:
            lines.append(f"[... {len(items) - MAX_ENTRIES} more entries not shown ...]")
        header = f"{name}: {len(items)} entries"
        return ToolResult(
            output="\n".join([header, *lines]) + "\n",
            data={
                "path": name,
                "entries": entries,
                "count": len(items),
                "truncated": len(items) > MAX_ENTRIES,
            },
        )


# -- search -------------------------------------------------------------------


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(description="Regular expression to search for.")
    path: str = Field(".", description="File or directory to search, relative to the workspace.")
    glob: str | None = Field(
        None, description="Only files whose name matches this glob (e.g. '*.py')."
    )
    ignore_case: bool = False
    max_results: int = Field(200, ge=1, le=5000)


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


def _protected(ctx: ToolContext) -> list[str]:
    """overseer's own files: search never returns lines from them (invariant 4)."""
    from overseer.paths import protected_paths

    paths = [str(p) for p in protected_paths()]
    paths += list(getattr(ctx.sandbox, "protect", ()))
    return paths


class SearchTool(Tool):
    name = "search"
    description = (
        "Search file contents for a regular expression (ripgrep when installed; respects "
        ".gitignore). Returns path:line:text, at most max_results matches."
    )
    Args = SearchArgs

    def facts(self, args: SearchArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: SearchArgs, ctx: ToolContext) -> str | None:
        return f"search {args.pattern!r} in {args.path}" + (f" ({args.glob})" if args.glob else "")

    def run(self, args: SearchArgs, ctx: ToolContext) -> ToolResult:
        root = ctx.resolve(args.path)
        if not root.exists():
            return ToolResult.fail(f"search: no such file or directory: {shown(root, ctx)}")
        rg = shutil.which("rg")
        result = self._ripgrep(rg, args, root, ctx) if rg else self._python(args, root, ctx)
        if isinstance(result, ToolResult):
            return result
        matches, truncated, engine = result
        protected = _protected(ctx)
        ws = Path(ctx.workspace).resolve()
        kept = []
        for m in matches:
            full = str((ws / m["path"]).resolve()) if not os.path.isabs(m["path"]) else m["path"]
            if any(full == p or full.startswith(p.rstrip("/") + "/") for p in protected):
                continue
            kept.append(m)
        lines = [f"{m['path']}:{m['line']}:{m['text']}" for m in kept]
        if truncated:
            lines.append(f"[... more matches not shown: stopped at {args.max_results} ...]")
        output = "\n".join(lines) + ("\n" if lines else "")
        if not kept:
            output = f"no matches for {args.pattern!r} in {shown(root, ctx)}\n"
        return ToolResult(
            output=output,
            data={"matches": kept, "count": len(kept), "truncated": truncated, "engine": engine},
        )

    def _ripgrep(
        self, rg: str, args: SearchArgs, root: Path, ctx: ToolContext
    ) -> ToolResult | tuple[list[dict[str, Any]], bool, str]:
        ws = Path(ctx.workspace).resolve()
        target = shown(root, ctx)
        argv = [
            rg,
            "--line-number",
            "--no-heading",
            "--with-filename",
            "--color",
            "never",
            "--null",
        ]
        argv += ["--max-columns", "400", "--max-columns-preview", "--no-config"]
        if args.ignore_case:
            argv.append("--ignore-case")
        if args.glob:
            argv += ["--glob", args.glob]
        argv += ["--regexp", args.pattern, "--", target]
        res = run_bounded(argv, ws, timeout=60)
        text = bytes(res.out.head).decode("utf-8", "replace")
        if res.exit_code not in (0, 1, 2):
            return ToolResult.fail(
                f"search: ripgrep exited with {res.exit_code}: {text.strip()[:500]}"
            )
        matches: list[dict[str, Any]] = []
        truncated = res.out.truncated
        for line in text.splitlines():
            # --null ends the file name with NUL, so a ':' in a name cannot confuse us.
            path, sep, rest = line.partition("\0")
            lineno, sep2, content = rest.partition(":")
            if not sep or not sep2 or not lineno.isdigit():
                continue
            if len(matches) >= args.max_results:
                truncated = True
                break
            path = path[2:] if path.startswith("./") else path
            matches.append({"path": path, "line": int(lineno), "text": content})
        if res.exit_code == 2 and not matches:
            # A bad pattern or an unreadable path: ripgrep's own message says which.
            return ToolResult.fail(f"search: {text.strip()[:1000] or 'ripgrep failed'}")
        return matches, truncated, "ripgrep"

    def _python(
        self, args: SearchArgs, root: Path, ctx: ToolContext
    ) -> ToolResult | tuple[list[dict[str, Any]], bool, str]:
        """Python's re, in a child process: it has no timeout, and a pattern
        with nested repetition can take exponential time on a line."""
        request = {
            "args": args.model_dump(),
            "root": str(root),
            "workspace": str(ctx.workspace),
        }
        try:
            res = subprocess.run(
                [sys.executable, "-m", "overseer.tools._pysearch"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=PY_SEARCH_TIMEOUT_S,
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
        return answer["matches"], bool(answer["truncated"]), "python"

    @staticmethod
    def python_search(
        args: SearchArgs, root: Path, ctx: ToolContext
    ) -> tuple[list[dict[str, Any]], bool] | str:
        """The fallback search itself (run by ``_pysearch`` in a child): the
        matches and whether there were more, or an error message."""
        try:
            regex = re.compile(args.pattern, re.IGNORECASE if args.ignore_case else 0)
        except re.error as exc:
            return f"search: invalid regular expression {args.pattern!r}: {exc}"
        matches: list[dict[str, Any]] = []
        files = [root] if root.is_file() else SearchTool._walk(root, args.glob)
        for file in files:
            try:
                if file.stat().st_size > SEARCH_FILE_CAP:
                    continue
                data = file.read_bytes()
            except OSError:
                continue
            if is_binary(data[:SNIFF]):
                continue
            for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                if regex.search(line):
                    if len(matches) >= args.max_results:
                        return matches, True
                    matches.append({"path": shown(file, ctx), "line": lineno, "text": line[:400]})
        return matches, False

    @staticmethod
    def _walk(root: Path, glob: str | None) -> list[Path]:
        out: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")
            )
            for f in sorted(filenames):
                if f.startswith(".") or (glob and not fnmatch.fnmatch(f, glob)):
                    continue
                out.append(Path(dirpath) / f)
        return out
