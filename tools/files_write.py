"""``write_file`` and ``edit_file``: changing files, previewed as diffs.

``facts`` report the resolved path (what the policy judges). ``run`` opens
the file's directory once beneath the workspace fd, never following a
symlink (missing directories are created through the same fds), reads the
old content from that directory fd, and replaces the file atomically: a temp
file in the same directory, renamed over the name. A symlink at the name is
refused, and one swapped in at the last moment is replaced, not followed.
Previews read the same way and create nothing.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from . import _beneath as B
from . import _fdops as F
from .files_common import (
    EDIT_CAP,
    OLD_TEXT_CAP,
    decode_text,
    diffstat,
    guard_inode,
    read_all,
    unified_diff,
    write_risk,
)


@dataclass
class Current:
    """A file as found through its directory fd, before a change."""

    target: B.Target
    dir_fd: int | None  # None: the directory does not exist yet
    name: str
    st: os.stat_result | None  # None: the file does not exist
    data: bytes = b""

    @property
    def shown(self) -> str:
        return self.target.shown

    def close(self) -> None:
        if self.dir_fd is not None:
            os.close(self.dir_fd)
            self.dir_fd = None


def current(ctx: ToolContext, path: str, *, create_dirs: bool, cap: int) -> Current:
    """Open the directory of ``path`` beneath its root and read the file in
    it, if any (its first ``cap`` bytes: ``data`` stays empty for a bigger
    one). Raises PathRefused for a symlink anywhere on the path, a directory,
    a file that is not a regular one, or a hard link to overseer's files."""
    target = B.locate(ctx, path)
    try:
        dir_fd, name = B.open_parent(target, create=create_dirs)
    except B.PathRefused as exc:
        if exc.code == errno.ENOENT and not create_dirs:
            return Current(target, None, target.parts[-1], None)
        raise
    cur = Current(target, dir_fd, name, None)
    try:
        st = F.lstat_at(dir_fd, name)
        if st is None:
            return cur
        if stat.S_ISLNK(st.st_mode):
            try:
                points = os.readlink(name, dir_fd=dir_fd)
            except OSError:
                points = "?"
            raise B.PathRefused(B.symlink_message(target.shown, target.shown, points), errno.ELOOP)
        if stat.S_ISDIR(st.st_mode):
            raise B.PathRefused(f"{target.shown} is a directory", errno.EISDIR)
        if not stat.S_ISREG(st.st_mode):
            raise B.PathRefused(
                f"{target.shown} is {F.kind(st.st_mode)}; file tools change regular files only"
            )
        try:
            fd = os.open(name, B.READ_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            raise B.explain(target, exc) from None
        with F.opened(fd):
            cur.st = os.fstat(fd)
            if not stat.S_ISREG(cur.st.st_mode):
                raise B.PathRefused(f"{target.shown} changed while it was opened")
            guard_inode(cur.st, target.shown, ctx)
            if cur.st.st_size <= cap:
                cur.data = read_all(fd)
        return cur
    except BaseException:
        cur.close()
        raise


def _encode(text: str) -> bytes | None:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _replace(cur: Current, data: bytes, *, check_same: bool) -> None:
    assert cur.dir_fd is not None
    F.replace_at(
        cur.dir_fd,
        cur.name,
        data,
        root=cur.target.root,
        shown=cur.shown,
        keep_mode=cur.st.st_mode if cur.st is not None else None,
        expect=(cur.st.st_dev, cur.st.st_ino) if check_same and cur.st is not None else None,
    )


# -- write_file ---------------------------------------------------------------


class WriteFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="File to write, relative to the workspace.")
    content: str = Field(description="The complete new content of the file.")


class WriteFileTool(Tool):
    name = "write_file"
    description = (
        "Create or overwrite a file with the given content (parent directories are created). "
        "Symlinks are not followed: use the path they point to."
    )
    Args = WriteFileArgs

    def facts(self, args: WriteFileArgs, ctx: ToolContext) -> Facts:
        path = ctx.resolve(args.path)
        return Facts(writes=[str(path)], risk=write_risk(path, ctx))

    def preview(self, args: WriteFileArgs, ctx: ToolContext) -> str | None:
        try:
            cur = current(ctx, args.path, create_dirs=False, cap=OLD_TEXT_CAP)
        except B.PathRefused as exc:
            return f"the write will fail: {exc.message}"
        cur.close()
        if cur.st is None:
            return unified_diff("", args.content, cur.shown, created=True)
        old = decode_text(cur.data) if cur.st.st_size <= OLD_TEXT_CAP else None
        if old is None:
            return (
                f"overwrite {'large' if cur.st.st_size > OLD_TEXT_CAP else 'binary'} file "
                f"{cur.shown} ({cur.st.st_size} bytes) with "
                f"{len(args.content.encode('utf-8', 'replace'))} bytes of text"
            )
        return unified_diff(old, args.content, cur.shown) or f"{cur.shown}: no change"

    def run(self, args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
        data = _encode(args.content)
        if data is None:
            return ToolResult.fail(
                "write_file: the content is not valid Unicode (a lone surrogate)"
            )
        name = args.path
        try:
            cur = current(ctx, args.path, create_dirs=True, cap=OLD_TEXT_CAP)
        except B.PathRefused as exc:
            return ToolResult.fail(f"write_file: {exc.message}")
        name = cur.shown
        try:
            _replace(cur, data, check_same=False)
        except B.PathRefused as exc:
            return ToolResult.fail(f"write_file: {exc.message}")
        except OSError as exc:
            return ToolResult.fail(f"write_file: cannot write {name}: {exc.strerror or exc}")
        finally:
            cur.close()
        created = cur.st is None
        old = "" if created else decode_text(cur.data) or ""
        added, removed = diffstat(old, args.content)
        verb = "created" if created else "wrote"
        return ToolResult(
            output=f"{verb} {name} ({len(data)} bytes, +{added} -{removed} lines)",
            data={
                "path": name,
                "bytes": len(data),
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
        return Facts(reads=[str(path)], writes=[str(path)], risk=write_risk(path, ctx))

    def _load(self, args: EditFileArgs, ctx: ToolContext) -> tuple[Current | None, str, str | None]:
        """(the open file with its text, problem); the caller closes it."""
        try:
            cur = current(ctx, args.path, create_dirs=False, cap=EDIT_CAP)
        except B.PathRefused as exc:
            return None, "", f"edit_file: {exc.message}"
        if cur.st is None:
            cur.close()
            return None, "", f"edit_file: no such file: {cur.shown} (use write_file to create it)"
        if cur.st.st_size > EDIT_CAP:
            cur.close()
            return (
                None,
                "",
                f"edit_file: {cur.shown} is {cur.st.st_size} bytes, more than edit_file reads "
                f"({EDIT_CAP // (1024 * 1024)} MB); use write_file or the shell",
            )
        text = decode_text(cur.data)
        if text is None:
            cur.close()
            return None, "", f"edit_file: {cur.shown} is a binary file; edit_file changes text only"
        if args.old == args.new:
            return cur, text, "edit_file: `old` and `new` are identical; nothing would change"
        return cur, text, _match_problem(text, args.old, cur.shown)

    def preview(self, args: EditFileArgs, ctx: ToolContext) -> str | None:
        cur, text, problem = self._load(args, ctx)
        if cur is not None:
            cur.close()
        if problem or cur is None:
            return problem
        return unified_diff(text, text.replace(args.old, args.new, 1), cur.shown)

    def run(self, args: EditFileArgs, ctx: ToolContext) -> ToolResult:
        cur, text, problem = self._load(args, ctx)
        if problem or cur is None:
            if cur is not None:
                cur.close()
            return ToolResult.fail(problem or f"edit_file: cannot edit {args.path}")
        name = cur.shown
        new_text = text.replace(args.old, args.new, 1)
        data = _encode(new_text)
        try:
            if data is None:
                return ToolResult.fail("edit_file: `new` is not valid Unicode (a lone surrogate)")
            _replace(cur, data, check_same=True)
        except B.PathRefused as exc:
            return ToolResult.fail(f"edit_file: {exc.message}")
        except OSError as exc:
            return ToolResult.fail(f"edit_file: cannot write {name}: {exc.strerror or exc}")
        finally:
            cur.close()
        line = _line_of(text, text.index(args.old))
        added, removed = diffstat(text, new_text)
        return ToolResult(
            output=f"edited {name} at line {line} (+{added} -{removed} lines)",
            data={"path": name, "line": line, "added": added, "removed": removed},
        )
