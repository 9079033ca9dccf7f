"""Session snapshots and undo.

At session start ``take_snapshot`` records the git state of the workspace
without touching it: HEAD, plus a commit of the working tree (tracked files
as they are on disk and untracked, non-ignored files) made through a
*temporary* index file (``GIT_INDEX_FILE``: a copy of the real index, then
``git add -A``, ``git write-tree``, ``git commit-tree``), so the user's index
and working tree are never written. The snapshot commit's parents are HEAD
and a commit of the user's index as it was (like ``git stash``), and it is
kept under ``refs/overseer/<session>`` so ``git gc`` keeps it.

``restore_snapshot`` brings the workspace back to that state: files modified
since are rewritten, files created since are removed, files deleted since
come back; the index is restored too. HEAD and branches are not moved (that
could throw commits away); the report says when HEAD moved, with the command
to move it back. Git-ignored files are outside the snapshot and are left
alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import OverseerError

REF_PREFIX = "refs/overseer/"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "overseer",
    "GIT_AUTHOR_EMAIL": "overseer@localhost",
    "GIT_COMMITTER_NAME": "overseer",
    "GIT_COMMITTER_EMAIL": "overseer@localhost",
}


class SnapshotError(OverseerError):
    """A snapshot could not be taken or restored."""


def _git(
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
) -> str:
    full_env = {**os.environ, **_IDENTITY, "GIT_OPTIONAL_LOCKS": "0", **(env or {})}
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SnapshotError(f"git {args[0]} failed in {cwd}: {exc}") from exc
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip() or f"exit {proc.returncode}"
        raise SnapshotError(f"git {' '.join(args[:2])} failed in {cwd}: {msg}")
    return proc.stdout.decode("utf-8", errors="surrogateescape")


def _toplevel(workspace: Path) -> Path | None:
    try:
        out = _git(workspace, "rev-parse", "--show-toplevel", check=False).strip()
    except SnapshotError:
        return None
    return Path(out) if out else None


def _pathspec(workspace: Path, root: Path) -> str:
    rel = os.path.relpath(workspace.resolve(), root.resolve())
    return "." if rel == "." else rel


def ref_for(session_id: str) -> str:
    return REF_PREFIX + session_id


def take_snapshot(workspace: str | Path, session_id: str) -> tuple[str | None, str | None]:
    """Snapshot the workspace: ``(head_sha or None, ref or None)``.

    ``(None, None)`` when the workspace is not in a git repository. The
    user's index and working tree are not written.
    """
    ws = Path(workspace).resolve()
    root = _toplevel(ws)
    if root is None:
        return None, None
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    index = Path(_git(root, "rev-parse", "--git-path", "index").strip())
    index = index if index.is_absolute() else root / index
    with tempfile.TemporaryDirectory(prefix="overseer-snap-") as tmp:
        tmp_index = Path(tmp) / "index"
        if index.exists():
            # A copy keeps the stat data, so `git add -A` only rehashes changed files.
            shutil.copyfile(index, tmp_index)
        env = {"GIT_INDEX_FILE": str(tmp_index)}
        index_tree = _git(root, "write-tree", env=env).strip()
        _git(root, "add", "--all", "--", _pathspec(ws, root), env=env)
        tree = _git(root, "write-tree", env=env).strip()
    parents = ["-p", head] if head else []
    index_commit = _git(
        root,
        "commit-tree",
        index_tree,
        *parents,
        "-m",
        f"overseer: index at the start of session {session_id}",
    ).strip()
    commit = _git(
        root,
        "commit-tree",
        tree,
        *parents,
        "-p",
        index_commit,
        "-m",
        f"overseer: working tree of {ws} at the start of session {session_id}",
    ).strip()
    ref = ref_for(session_id)
    _git(root, "update-ref", "-m", "overseer snapshot", ref, commit)
    return head, ref


def drop_snapshot(workspace: str | Path, ref: str) -> None:
    """Delete a snapshot's ref: for a session that could not be recorded, so
    nothing is left behind for a session the log never knew (best effort)."""
    root = _toplevel(Path(workspace).resolve())
    if root is not None and ref.startswith(REF_PREFIX):
        try:
            _git(root, "update-ref", "-d", ref, check=False)
        except SnapshotError:
            pass


@dataclass
class RestorePlan:
    """What restoring a snapshot changes (paths relative to the repository root)."""

    workspace: Path
    root: Path
    ref: str
    commit: str
    modified: list[str] = field(default_factory=list)  # rewritten to their snapshot content
    removed: list[str] = field(default_factory=list)  # created after the snapshot: deleted
    restored: list[str] = field(default_factory=list)  # deleted after the snapshot: brought back
    head_then: str | None = None
    head_now: str | None = None
    index_restored: bool = False

    @property
    def empty(self) -> bool:
        return not (self.modified or self.removed or self.restored)

    @property
    def head_moved(self) -> bool:
        return self.head_then != self.head_now

    def describe(self) -> str:
        lines = []
        lines += [f"  M {p}  (changed during the session: rewritten)" for p in self.modified]
        lines += [f"  D {p}  (created during the session: removed)" for p in self.removed]
        lines += [f"  A {p}  (deleted during the session: brought back)" for p in self.restored]
        if not lines:
            lines.append("  (the working tree already matches the snapshot)")
        if self.head_moved:
            lines.append(
                f"  HEAD moved during the session ({(self.head_then or 'none')[:12]} -> "
                f"{(self.head_now or 'none')[:12]}); it is left as it is. To move the branch back: "
                f"git reset --soft {self.head_then}"
            )
        return "\n".join(lines)


def _tree_entries(root: Path, commit: str, spec: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob sha) of the snapshot under ``spec``."""
    out = _git(root, "ls-tree", "-r", "-z", "--full-name", commit, "--", spec)
    entries: dict[str, tuple[str, str]] = {}
    for record in out.split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, kind, sha = meta.split()
        if kind == "blob":
            entries[path] = (mode, sha)
    return entries


def plan_restore(workspace: str | Path, ref: str) -> RestorePlan:
    """Compare the workspace with a snapshot; nothing is changed."""
    ws = Path(workspace).resolve()
    if not ws.is_dir():
        raise SnapshotError(f"the workspace {ws} no longer exists")
    root = _toplevel(ws)
    if root is None:
        raise SnapshotError(f"{ws} is no longer inside a git repository")
    commit = _git(
        root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False
    ).strip()
    if not commit:
        raise SnapshotError(
            f"the snapshot {ref} no longer exists in {root} (was the ref deleted, or is this another clone?)"
        )
    spec = _pathspec(ws, root)
    snap = _tree_entries(root, commit, spec)
    listed = _git(root, "ls-files", "-z", "-c", "-o", "--exclude-standard", "--", spec)
    current_set = {p for p in listed.split("\0") if p}
    plan = RestorePlan(workspace=ws, root=root, ref=ref, commit=commit)
    parents = _git(root, "rev-list", "--parents", "-n", "1", commit).split()[1:]
    plan.head_then = parents[0] if len(parents) == 2 else None
    plan.head_now = (
        _git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip() or None
    )
    # ls-files -c also lists tracked files missing from disk: only existing ones are removed.
    plan.removed = sorted(p for p in current_set if p not in snap and _exists(root / p))
    existing = [p for p in snap if _exists(root / p)]
    plan.restored = sorted(set(snap) - set(existing))
    plain = [p for p in existing if (root / p).is_file() and not (root / p).is_symlink()]
    hashes = (
        _git(root, "hash-object", "--stdin-paths", input="\n".join(plain).encode()).split()
        if plain
        else []
    )
    now = dict(zip(plain, hashes, strict=True))
    for p in existing:
        mode, sha = snap[p]
        path = root / p
        if p not in now:  # a symlink or a directory where the snapshot has a file
            target = os.readlink(path) if path.is_symlink() else None
            if (
                mode != "120000"
                or target is None
                or _git(root, "hash-object", "--stdin", input=target.encode()).strip() != sha
            ):
                plan.modified.append(p)
            continue
        executable = os.access(path, os.X_OK)
        if now[p] != sha or mode == "120000" or (mode == "100755") != executable:
            plan.modified.append(p)
    plan.modified.sort()
    return plan


def restore_snapshot(workspace: str | Path, ref: str, *, restore_index: bool = True) -> RestorePlan:
    """Restore the working tree (and index) of ``workspace`` to snapshot ``ref``."""
    plan = plan_restore(workspace, ref)
    root = plan.root
    for p in plan.removed:
        path = root / p
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SnapshotError(f"cannot remove {path}: {exc.strerror or exc}") from exc
        _prune_empty_dirs(path.parent, plan.workspace)
    write = plan.modified + plan.restored
    for p in write:
        path = root / p
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(
                path
            )  # the snapshot has a file here; what is in the dir was created since
    if write:
        with tempfile.TemporaryDirectory(prefix="overseer-undo-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            _git(root, "read-tree", plan.commit, env=env)
            _git(
                root,
                "checkout-index",
                "--force",
                "-z",
                "--stdin",
                env=env,
                input="\0".join(write).encode(),
            )
    if restore_index and _pathspec(plan.workspace, root) == ".":
        parents = _git(root, "rev-list", "--parents", "-n", "1", plan.commit).split()[1:]
        if parents:
            index_commit = parents[-1]
            _git(root, "read-tree", f"{index_commit}^{{tree}}")
            # read-tree drops stat data; refresh it so `git status` is quick and exact.
            _git(root, "update-index", "-q", "--refresh", check=False)
            plan.index_restored = True
    return plan


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _prune_empty_dirs(start: Path, stop: Path) -> None:
    d = start
    while d != stop and d.is_relative_to(stop):
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent
