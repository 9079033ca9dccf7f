"""What the file tools share: telling text from binary, diffs for previews,
the test-file hint the policy uses, and reading a file through an fd.

The tools themselves live in ``files_read`` (read_file, list_dir),
``files_write`` (write_file, edit_file) and ``files_search`` (search); every
path they act on is opened through ``_beneath``.
"""

from __future__ import annotations

import codecs
import fnmatch
import os
import stat
from pathlib import Path

from overseer import textdiff
from overseer.toolapi import Risk, ToolContext

from . import _beneath as B
from . import _fdops as F
from ._output import bound_text

READ_CAP = 256 * 1024  # bytes of text read_file returns at most
OLD_TEXT_CAP = 8 * 1024 * 1024  # write_file diffs against old content up to this size
EDIT_CAP = 32 * 1024 * 1024  # edit_file reads and rewrites files up to this size
SNIFF = 8192  # bytes looked at to tell text from binary
DIFF_CAP = 64 * 1024
MAX_ENTRIES = 1000

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
    """A resolved path as the agent sees it: relative to the workspace when inside."""
    try:
        return str(path.relative_to(Path(ctx.workspace).resolve())) or "."
    except ValueError:
        return str(path)


def write_risk(path: Path, ctx: ToolContext) -> list[Risk]:
    rel = Path(shown(path, ctx))
    return ["writes_tests"] if looks_like_test(rel) else []


def is_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    try:
        # Incremental: a multi-byte character cut at the end of the sample is fine.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return True
    return False


def read_all(fd: int) -> bytes:
    """Everything from an open fd (from offset 0, the fd's offset untouched)."""
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 20, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def decode_text(data: bytes) -> str | None:
    """The bytes as text (line endings kept), or None if they are binary."""
    if is_binary(data[:SNIFF]):
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def regular(fd: int, name: str, tool: str) -> os.stat_result:
    """fstat of a file the tool is about to read; refuses anything but a
    regular file (a directory, a FIFO that would block, a device)."""
    st = os.fstat(fd)
    if stat.S_ISDIR(st.st_mode):
        raise B.PathRefused(
            f"{name} is a directory" + ("; use list_dir" if tool == "read_file" else "")
        )
    if not stat.S_ISREG(st.st_mode):
        raise B.PathRefused(f"{name} is {F.kind(st.st_mode)}; {tool} works on regular files only")
    return st


def protected_files(ctx: ToolContext) -> list[str]:
    """overseer's own files and directories (audit DB, seals, key, config)."""
    from overseer.paths import protected_paths

    paths = [str(p) for p in protected_paths()]
    return paths + [str(p) for p in getattr(ctx.sandbox, "protect", ())]


def overseer_inode(st: os.stat_result, protected: list[str]) -> bool:
    """The open file is one of overseer's own under another name: a hard link
    made in the workspace (invariant 4 holds for the inode, not only the
    name). Only a file with more than one link can be one, so this costs
    nothing for ordinary files."""
    if st.st_nlink < 2:
        return False
    me = (st.st_dev, st.st_ino)
    for p in protected:
        try:
            pst = os.stat(p)
            if stat.S_ISDIR(pst.st_mode):
                with os.scandir(p) as it:
                    for e in it:
                        est = e.stat(follow_symlinks=False)
                        if (est.st_dev, est.st_ino) == me:
                            return True
            elif (pst.st_dev, pst.st_ino) == me:
                return True
        except OSError:
            continue
    return False


def guard_inode(st: os.stat_result, name: str, ctx: ToolContext) -> None:
    """Refuse a hard link to overseer's own files (see ``overseer_inode``)."""
    if st.st_nlink > 1 and overseer_inode(st, protected_files(ctx)):
        raise B.PathRefused(
            f"{name} is a hard link to one of overseer's own files (audit record, seal or "
            "key); no tool may read or write them"
        )


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
