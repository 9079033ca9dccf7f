"""Temporary git worktrees: run something at another revision without touching
the user's checkout.

``git worktree add --detach`` creates a second working tree in a temp dir
outside the workspace (so the watcher does not see it); HEAD, the index and
the working tree of the user's checkout are never touched. Per-worktree state
(its HEAD, ``refs/bisect/*``, ``BISECT_LOG``) lives in
``.git/worktrees/<name>`` and goes away with the worktree, which is removed
in a ``finally`` whatever happened. Hooks are disabled for these git calls:
a hook is code from the repository and would run outside any sandbox.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._env import command_env
from ._proc import ProcResult, run_bounded

GIT_QUIET = [
    "git",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "advice.detachedHead=false",
    "--no-pager",
]


class WorktreeError(RuntimeError):
    pass


def git(cwd: Path, *args: str, timeout: float = 120.0) -> ProcResult:
    return run_bounded([*GIT_QUIET, *args], cwd, timeout=timeout, env=command_env())


def git_out(cwd: Path, *args: str) -> str:
    res = git(cwd, *args)
    if res.exit_code != 0:
        raise WorktreeError(f"git {' '.join(args)} failed: {res.out.text().strip()}")
    return res.out.text()


def resolve_commit(repo: Path, rev: str) -> str:
    """The full sha of ``rev`` (a commit), or WorktreeError with git's reason."""
    if rev.startswith("-") or not rev.strip():
        raise WorktreeError(f"{rev!r} is not a revision")
    res = git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    sha = res.out.text().strip()
    if res.exit_code != 0 or not sha:
        raise WorktreeError(f"unknown revision {rev!r} in {repo}")
    return sha


def repo_root(where: Path) -> Path:
    res = git(where, "rev-parse", "--show-toplevel")
    if res.exit_code != 0:
        raise WorktreeError(f"{where} is not inside a git repository")
    return Path(res.out.text().strip())


@contextmanager
def temp_worktree(repo: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of ``repo`` at ``sha``; removed afterwards, always."""
    tmp = Path(tempfile.mkdtemp(prefix="overseer-wt-"))
    # A fresh name each time: git keeps per-worktree state in
    # .git/worktrees/<name>, and reusing a name makes file watchers churn.
    path = tmp / f"wt-{secrets.token_hex(4)}"
    res = git(repo, "worktree", "add", "--detach", "--quiet", str(path), sha)
    if res.exit_code != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise WorktreeError(f"cannot create a worktree at {sha[:12]}: {res.out.text().strip()}")
    try:
        yield path
    finally:
        remove_worktree(repo, path)
        shutil.rmtree(tmp, ignore_errors=True)


def remove_worktree(repo: Path, path: Path) -> None:
    git(repo, "worktree", "remove", "--force", "--force", str(path))
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    git(repo, "worktree", "prune")
