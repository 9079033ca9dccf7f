"""The hard guard (invariant 4): no tool reaches overseer's own files — the
audit DB, its WAL, the seal file, keys, config — whatever the policy says.

It runs before the policy and its deny cannot be overridden by any rule,
grant or approver. It looks at every path the call's facts name, every word
of every command it runs (as shlex splits it, and as the tree-sitter
analysis sees it: ``$'..'`` quoting, globs, ``cd`` earlier in the command,
parts that walk a whole tree from an ancestor of overseer's files) and the
canonical arguments' text.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..canonical import canonical_json
from ..policy.guard import touched as touched_paths
from ..textcache import short_text_cache
from ..toolapi import Facts

GUARD_RULE = "builtin:protect-overseer"


@short_text_cache(maxsize=4096)
def _words(command: str) -> tuple[str, ...]:
    """The command's words as the shell would split them (best effort; the
    guard also takes the tree-sitter analysis). Cached: agents repeat commands."""
    try:
        return tuple(shlex.split(command, comments=False))
    except ValueError:
        return tuple(command.split())


class Guard:
    """Refuses any call that names or walks one of the ``protected`` paths."""

    def __init__(self, protected: Iterable[str | Path], workspace: Path) -> None:
        self.protected = [str(p) for p in protected]
        self.workspace = workspace

    def check(self, args: dict[str, Any], facts: Facts) -> str | None:
        """Why the call is refused, or None when it keeps clear of overseer's files."""
        protected = self.protected
        candidates: list[str] = list(facts.reads) + list(facts.writes)
        base = str(facts.cwd) if facts.cwd else str(self.workspace)  # where relative words point
        if not os.path.isabs(base):
            base = os.path.join(self.workspace, base)
        for command in facts.commands:
            candidates += _words(str(command))
            # The shell analysis sees what shlex does not: $'..' quoting, globs,
            # `cd` earlier in the command, and parts that walk a whole tree
            # (rm -r, cp -r, find, tar...) from an ancestor of overseer's files.
            try:
                named, walked = touched_paths(str(command), base)
            except Exception as exc:  # noqa: BLE001 - what it touches is unknown: refuse
                return f"cannot work out which paths the command touches ({exc}); it is refused"
            candidates += named
            for top in walked:
                real = os.path.realpath(top)
                for prot in protected:
                    if any(prot == d or prot.startswith(d.rstrip("/") + "/") for d in (top, real)):
                        return f"{top!r} holds overseer's own audit record or configuration, and the command walks it; no tool may touch it"
        for value in candidates:
            for form in {value, os.path.expandvars(os.path.expanduser(value))}:
                if not form:
                    continue
                if any(prot in form for prot in protected):
                    return f"{value!r} is part of overseer's own audit record or configuration; no tool may touch it"
                if not os.path.isabs(form):
                    form = os.path.join(base, form)
                    # Only something that exists can be a symlink into overseer's
                    # files (one lstat); resolving every word costs several.
                    if not os.path.lexists(form):
                        continue
                try:
                    resolved = os.path.realpath(form)
                except (OSError, ValueError):
                    continue
                for prot in protected:
                    if resolved == prot or resolved.startswith(prot + os.sep):
                        return f"{value!r} is part of overseer's own audit record or configuration; no tool may touch it"
        text = canonical_json(args, check=False)
        for prot in protected:
            if prot in text:
                return f"the arguments name {prot}, which is part of overseer's own record; no tool may touch it"
        return None
