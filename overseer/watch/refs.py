"""Git refs as the watcher reports them: a branch moved, a new commit, HEAD
switched — one ``change: "ref"`` event per ref, never git's internals file
by file."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any


def read_refs(git_dir: Path) -> dict[str, str]:
    """HEAD's raw value and every ref's sha (loose refs win over packed ones)."""
    refs: dict[str, str] = {}
    packed = git_dir / "packed-refs"
    with contextlib.suppress(OSError):
        for line in packed.read_text().splitlines():
            if line and line[0] not in "#^":
                sha, _, name = line.partition(" ")
                refs[name] = sha
    refs_dir = git_dir / "refs"
    for dirpath, _dirs, files in os.walk(refs_dir):
        for name in files:
            if name.endswith(".lock"):
                continue
            p = Path(dirpath) / name
            with contextlib.suppress(OSError, UnicodeDecodeError):
                value = p.read_text().strip()
                if value:
                    refs[str(p.relative_to(git_dir))] = value
    with contextlib.suppress(OSError):
        refs["HEAD"] = (git_dir / "HEAD").read_text().strip()
    return refs


def resolve(refs: dict[str, str], value: str | None) -> str | None:
    """Follow ``ref: ...`` indirections (a few levels) to a sha."""
    for _ in range(5):
        if value is None or not value.startswith("ref: "):
            return value
        value = refs.get(value[5:])
    return value


def ref_changes(old: dict[str, str], new: dict[str, str]) -> list[dict[str, Any]]:
    """The ``file_changed`` payloads (without call id) from ``old`` to ``new``."""
    out: list[dict[str, Any]] = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        payload: dict[str, Any] = {"path": name, "change": "ref"}
        if name == "HEAD":
            # HEAD names a branch: only a switch is news (a commit moves the branch ref).
            payload["before_hash"] = resolve(old, before)
            payload["after_hash"] = resolve(new, after)
            payload["diff"] = f"HEAD: {before} -> {after}"
        else:
            payload["before_hash"], payload["after_hash"] = before, after
        out.append(payload)
    return out
