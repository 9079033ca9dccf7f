"""Session grants: "always allow similar", kept narrow.

A grant for a shell command is a program plus its subcommand (``git commit``,
``npm test``, ``make build``), never a bare program that can run anything
(``bash``, ``python``, ``env``, ``sudo``, ``git``...). A grant for another
tool covers that tool, and for file tools only the same directory. Grants
only turn ``ask`` into ``allow``: a ``deny`` or a "hard" ask (substitution,
eval, interpreter code, redirection, parse error) is never covered.
Grants are recorded (``grant_added``), listed and revocable (``grant_revoked``).
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from .events import PartDecision
from .policy.base import Verdict

# Programs whose first argument is itself a program or code: a grant on them
# would be a grant on everything.
BROAD_PROGRAMS = frozenset(
    [
        "bash",
        "sh",
        "zsh",
        "dash",
        "ksh",
        "fish",
        "csh",
        "tcsh",
        "env",
        "sudo",
        "su",
        "doas",
        "exec",
        "eval",
        "source",
        ".",
        "command",
        "builtin",
        "nice",
        "nohup",
        "timeout",
        "xargs",
        "stdbuf",
        "time",
        "watch",
        "strace",
        "ltrace",
        "gdb",
        "python",
        "python2",
        "python3",
        "pypy",
        "pypy3",
        "perl",
        "ruby",
        "node",
        "nodejs",
        "deno",
        "bun",
        "php",
        "lua",
        "awk",
        "gawk",
        "mawk",
        "osascript",
        "powershell",
        "pwsh",
        "ssh",
        "scp",
        "rsync",
        "docker",
        "podman",
        "kubectl",
        "chroot",
        "unshare",
        "nsenter",
        "bwrap",
        "find",
        "parallel",
        "make",
    ]
)
# Programs with subcommands: the grant is program + subcommand.
_NEEDS_SUBCOMMAND = frozenset(
    [
        "git",
        "npm",
        "pnpm",
        "yarn",
        "cargo",
        "go",
        "pip",
        "pip3",
        "uv",
        "poetry",
        "apt",
        "apt-get",
        "brew",
        "gh",
        "hg",
        "svn",
        "systemctl",
        "kubectl",
    ]
)
FILE_TOOLS = frozenset({"write_file", "edit_file", "read_file", "list_dir", "search"})


class Grant(BaseModel):
    id: str = Field(default_factory=lambda: "g" + uuid.uuid4().hex[:8])
    tool: str
    prefix: list[str] = Field(
        default_factory=list
    )  # argv prefix (shell) or [directory] (file tools)
    by: str = ""
    call_id: str | None = None

    def describe(self) -> str:
        if self.tool == "shell":
            return f"allow shell commands starting with `{' '.join(self.prefix)}` for this session"
        if self.prefix:
            return f"allow {self.tool} under {self.prefix[0]}/ for this session"
        return f"allow {self.tool} for this session"


def _program(argv: list[str]) -> str:
    return os.path.basename(argv[0]) if argv else ""


def narrow_prefix(argv: list[str]) -> list[str] | None:
    """The grant prefix for one command, or None if no safe narrow grant exists."""
    prog = _program(argv)
    if not prog or prog in BROAD_PROGRAMS or "/" in prog:
        return None
    if prog.startswith(("python", "pypy")):  # python3.12 and friends
        return None
    rest = argv[1:]
    sub = next((a for a in rest if not a.startswith("-")), None)
    if prog in _NEEDS_SUBCOMMAND:
        # `git -c x=y commit` puts options before the subcommand: too clever to grant.
        if not rest or rest[0].startswith("-") or sub is None:
            return None
        return [prog, sub]
    return [prog, sub] if sub and rest and rest[0] == sub else [prog]


def propose(tool: str, args: dict[str, Any], verdict: Verdict) -> Grant | None:
    """The narrow grant that "always" would add for this call, if any."""
    if verdict.decision == "deny":
        return None
    if tool == "shell":
        asked = [p for p in verdict.parts if p.decision != "allow"]
        if not asked or any(p.decision == "deny" or p.hard or not p.argv for p in asked):
            return None
        prefixes = {tuple(x) for p in asked if (x := narrow_prefix(p.argv)) is not None}
        if len(prefixes) != 1 or len(asked) != sum(1 for p in asked if narrow_prefix(p.argv)):
            return None  # one grant covers one command shape; several asks -> approve once
        return Grant(tool="shell", prefix=list(next(iter(prefixes))))
    if any(p.hard for p in verdict.parts):
        return None
    if tool in FILE_TOOLS and isinstance(args.get("path"), str):
        return Grant(tool=tool, prefix=[str(PurePosixPath(args["path"]).parent)])
    return Grant(tool=tool)


def _covers_part(grant: Grant, part: PartDecision) -> bool:
    if part.decision == "deny" or part.hard or not part.argv:
        return False
    argv = [_program(part.argv), *part.argv[1:]]
    return argv[: len(grant.prefix)] == grant.prefix


class GrantSet:
    """The live grants of one session (thread-safe)."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def add(self, grant: Grant) -> None:
        with self._lock:
            self._grants[grant.id] = grant

    def revoke(self, grant_id: str) -> Grant | None:
        with self._lock:
            return self._grants.pop(grant_id, None)

    def list(self) -> list[Grant]:
        with self._lock:
            return list(self._grants.values())

    def covering(self, tool: str, args: dict[str, Any], verdict: Verdict) -> Grant | None:
        """A grant that turns this ``ask`` into ``allow``, if one exists."""
        if verdict.decision != "ask":
            return None
        grants = [g for g in self.list() if g.tool == tool]
        if not grants:
            return None
        if tool == "shell":
            asked = [p for p in verdict.parts if p.decision != "allow"]
            if not asked:
                return None
            chosen: Grant | None = None
            for part in asked:
                g = next((g for g in grants if _covers_part(g, part)), None)
                if g is None:
                    return None
                chosen = g
            return chosen
        if any(p.hard for p in verdict.parts):
            return None
        for g in grants:
            if not g.prefix:
                return g
            path = args.get("path")
            if isinstance(path, str) and str(PurePosixPath(path).parent) == g.prefix[0]:
                return g
        return None
