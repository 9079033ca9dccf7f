"""``read_file`` and ``list_dir``: reading text and listing directories.

``facts`` report the path resolved against the workspace (symlinks
resolved), which is what the policy judges; ``run`` opens it once beneath
the workspace fd with no symlink followed (``_beneath``) and reads only
through that fd. Bounded: a read returns at most ``READ_CAP``, a listing at
most ``MAX_ENTRIES`` entries.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from . import _beneath as B
from . import _fdops as F
from .files_common import MAX_ENTRIES, READ_CAP, SNIFF, guard_inode, is_binary, regular


def refused(tool: str, exc: B.PathRefused, name: str, missing: str) -> ToolResult:
    """The tool's error for a path it could not open."""
    if exc.code == errno.ENOENT:
        return ToolResult.fail(f"{tool}: {missing}: {name}")
    return ToolResult.fail(f"{tool}: {exc.message}")


class ReadFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to read, relative to the workspace.")
    start: int | None = Field(None, ge=1, description="First line to return (1-based).")
    end: int | None = Field(None, ge=1, description="Last line to return (inclusive).")


class ReadFileTool(Tool):
    name = "read_file"
    description = (
        "Read a text file (optionally lines start..end, 1-based, inclusive). Binary files are "
        f"refused; at most {READ_CAP // 1024} KB are returned per call. Symlinks are not "
        "followed: use the path they point to."
    )
    Args = ReadFileArgs

    def facts(self, args: ReadFileArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: ReadFileArgs, ctx: ToolContext) -> str | None:
        span = f" lines {args.start or 1}-{args.end or 'end'}" if args.start or args.end else ""
        return f"read {args.path}{span}"

    def run(self, args: ReadFileArgs, ctx: ToolContext) -> ToolResult:
        if args.start and args.end and args.end < args.start:
            return ToolResult.fail(f"read_file: end ({args.end}) is before start ({args.start})")
        name = args.path
        try:
            target = B.locate(ctx, args.path)
            name = target.shown
            fd = B.open_at(target, B.READ_FLAGS)
        except B.PathRefused as exc:
            return refused("read_file", exc, name, "no such file")
        try:
            st = regular(fd, name, "read_file")
            guard_inode(st, name, ctx)
            size = st.st_size
        except B.PathRefused as exc:
            os.close(fd)
            return ToolResult.fail(f"read_file: {exc.message}")
        with os.fdopen(fd, "rb") as fh:
            try:
                sample = fh.read(SNIFF)
            except OSError as exc:
                return ToolResult.fail(f"read_file: cannot read {name}: {exc.strerror or exc}")
            if is_binary(sample):
                return ToolResult.fail(
                    f"read_file: {name} is a binary file ({size} bytes); read_file shows text "
                    "only (use shell tools such as `file` or `xxd | head` to inspect it)",
                    path=name,
                    size=size,
                    binary=True,
                )
            fh.seek(0)
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            return _lines(text, args, name, size)


def _lines(fh: io.TextIOWrapper, args: ReadFileArgs, name: str, size: int) -> ToolResult:
    start = args.start or 1
    huge = size > 8 * 1024 * 1024  # do not scan a huge file just to count its lines
    out: list[str] = []
    taken = 0
    last = start - 1
    total: int | None = 0
    truncated = False
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
        text += (
            f"\n[... cut at {READ_CAP // 1024} KB: read from line {last + 1} with start/end ...]\n"
        )
    data: dict[str, Any] = {
        "path": name,
        "start": start,
        "end": last,
        "total_lines": total,
        "size": size,
        "truncated": truncated,
    }
    return ToolResult(output=text, data=data, output_size=taken)


class ListDirArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(".", description="Directory to list, relative to the workspace.")


class ListDirTool(Tool):
    name = "list_dir"
    description = (
        "List a directory: subdirectories end with '/', files show their size, symlinks "
        "show their target (they are not followed)."
    )
    Args = ListDirArgs

    def facts(self, args: ListDirArgs, ctx: ToolContext) -> Facts:
        return Facts(reads=[str(ctx.resolve(args.path))], risk=["read_only"])

    def preview(self, args: ListDirArgs, ctx: ToolContext) -> str | None:
        return f"list {args.path}"

    def run(self, args: ListDirArgs, ctx: ToolContext) -> ToolResult:
        name = args.path
        try:
            target = B.locate(ctx, args.path)
            name = target.shown
            fd = B.open_at(target, B.READ_FLAGS)
        except B.PathRefused as exc:
            return refused("list_dir", exc, name, "no such directory")
        with F.opened(fd):
            mode = os.fstat(fd).st_mode
            if stat.S_ISREG(mode):
                return ToolResult.fail(f"list_dir: {name} is a file; use read_file")
            if not stat.S_ISDIR(mode):
                return ToolResult.fail(f"list_dir: {name} is {F.kind(mode)}, not a directory")
            try:
                with os.scandir(fd) as it:
                    items = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                return ToolResult.fail(f"list_dir: cannot list {name}: {exc.strerror or exc}")
            return _listing(items, fd, name)


def _listing(items: list[os.DirEntry[str]], fd: int, name: str) -> ToolResult:
    lines: list[str] = []
    entries: list[dict[str, Any]] = []
    for entry in items[:MAX_ENTRIES]:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(entry.name, dir_fd=fd)
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
