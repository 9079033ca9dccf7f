"""Which paths the watcher reports: the workspace's files, minus git
internals, caches and bytecode, and overseer's own log files — and which
paths under ``.git`` are refs (reported as ``change: "ref"``, not file by
file)."""

from __future__ import annotations

import os
from pathlib import Path

IGNORED_DIRS = frozenset(
    {
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "node_modules",
        ".hypothesis",
    }
)
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", ".swx", "~")


class WorkspacePaths:
    """Maps absolute paths to the workspace-relative names the log reports."""

    def __init__(self, workspace: Path, log_path: str | Path) -> None:
        self.workspace = workspace
        self.git_dir = workspace / ".git"
        self.track_refs = self.git_dir.is_dir()
        log = Path(log_path).resolve()
        # The log's own files change on every append: never a workspace change.
        self.own = {str(log), f"{log}-wal", f"{log}-shm", f"{log}-journal", f"{log}.seals"}

    def rel(self, path: str) -> str | None:
        """Workspace-relative path if reportable; None for ignored paths."""
        if path in self.own:
            return None
        try:
            rel = os.path.relpath(path, self.workspace)
        except ValueError:
            return None
        if rel.startswith(".."):
            return None
        parts = rel.split(os.sep)
        if ".git" in parts or any(p in IGNORED_DIRS for p in parts):
            return None
        if rel.endswith(IGNORED_SUFFIXES):
            return None
        return rel

    def is_ref(self, path: str) -> bool:
        """Whether ``path`` is HEAD, packed-refs or a ref under ``.git/refs``."""
        if not self.track_refs:
            return False
        try:
            rel = os.path.relpath(path, self.git_dir)
        except ValueError:
            return False
        if rel.startswith(".."):
            return False
        rel = rel.removesuffix(".lock")
        return rel in ("HEAD", "packed-refs") or rel == "refs" or rel.startswith("refs" + os.sep)
