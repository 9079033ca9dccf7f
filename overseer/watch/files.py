"""What the watcher knows of each file: its content hash, and for small text
files the text itself (within a memory budget), so a change can be told from
a touch and shown as a unified diff.

``scan`` fills the cache once at start (files beyond ``max_files`` get no
before-hash); ``state`` reads a file now. Big files are hashed in chunks, and
beyond ``HASH_CAP`` identified by size and mtime.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from .. import textdiff
from .paths import IGNORED_DIRS, WorkspacePaths

HASH_CAP = 64 * 1024 * 1024  # bigger files are identified by size and mtime

# (hash, size, text-if-small-text)
State = tuple[str, int, str | None]


def _sha256_file(path: Path, size: int) -> str:
    if size > HASH_CAP:
        st = path.stat()
        return f"size:{st.st_size}:mtime:{st.st_mtime_ns}"
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


class FileStates:
    """The hash (and small text) of every reportable file, as last seen."""

    def __init__(
        self,
        workspace: Path,
        *,
        text_cap: int = 256 * 1024,
        keep_text_cap: int = 64 * 1024,
        text_budget: int = 16 * 1024 * 1024,
        diff_cap: int = 16 * 1024,
        max_files: int = 100_000,
    ) -> None:
        self.workspace = workspace
        self.text_cap = text_cap
        self.keep_text_cap = keep_text_cap
        self.text_budget = text_budget
        self.diff_cap = diff_cap
        self.max_files = max_files
        self.hashes: dict[str, str] = {}  # relative path -> sha256
        self.texts: dict[str, str] = {}  # relative path -> text, for diffs
        self._text_bytes = 0

    def scan(self, paths: WorkspacePaths, errors: list[str]) -> None:
        """Hash every reportable file now (the before-state of the session)."""
        count = 0
        for dirpath, dirnames, filenames in os.walk(self.workspace):
            dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS and d != ".git"]
            for name in filenames:
                rel = paths.rel(os.path.join(dirpath, name))
                if rel is None:
                    continue
                count += 1
                if count > self.max_files:
                    errors.append(
                        f"more than {self.max_files} files: later ones have no before-hash"
                    )
                    return
                state = self.state(rel)
                if state is not None:
                    self.hashes[rel] = state[0]
                    if state[2] is not None:
                        self.keep_text(rel, state[2])

    def state(self, rel: str) -> State | None:
        """(hash, size, text-if-small-text) of a file now, or None if it is not a file."""
        path = self.workspace / rel
        try:
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                return "symlink:" + hashlib.sha256(target.encode()).hexdigest(), len(target), None
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size <= self.text_cap:
                data = path.read_bytes()
                text: str | None = None
                if b"\x00" not in data[:8192]:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = None
                return hashlib.sha256(data).hexdigest(), len(data), text
            return _sha256_file(path, st.st_size), st.st_size, None
        except OSError:
            return None

    def keep_text(self, rel: str, text: str) -> None:
        old = self.texts.pop(rel, None)
        if old is not None:
            self._text_bytes -= len(old)
        if len(text) <= self.keep_text_cap and self._text_bytes + len(text) <= self.text_budget:
            self.texts[rel] = text
            self._text_bytes += len(text)

    def forget_text(self, rel: str) -> None:
        old = self.texts.pop(rel, None)
        if old is not None:
            self._text_bytes -= len(old)

    def diff(
        self, rel: str, old: str, new: str, *, created: bool = False, deleted: bool = False
    ) -> str:
        """A bounded unified diff of ``rel`` from ``old`` to ``new``."""
        lines = textdiff.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile="/dev/null" if created else f"a/{rel}",
            tofile="/dev/null" if deleted else f"b/{rel}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        return _cut(text, self.diff_cap)
