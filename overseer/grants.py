"""Session grants: "always allow similar", kept narrow.

A person who answers "always" adds a grant that turns later ``ask``
decisions of the same shape into ``allow`` for the rest of the session. The
shape is narrow on purpose:

- **Commands** (``shell``, and any tool whose facts carry commands): the
  program as written, its subcommand (``git commit``, ``npm test``; for
  runners such as ``uv run``/``npm run``/``npx`` also what they run) and the
  **exact set of option words** the granted command had. ``always`` on
  ``rm -f x`` covers ``rm -f y`` but not ``rm -rf src``, ``rm -f -r src`` or
  ``/tmp/x/rm -f y``; ``git commit -m msg`` does not cover ``git commit
  --amend -m msg``. Operands may differ, but none may name anything outside
  the workspace or one of overseer's own files. Programs that run whatever
  their arguments say (shells, interpreters, ``env``, ``sudo``, ``xargs``,
  ``make``, ``find``...) never get a grant.
- **Paths** (file tools and other tools whose facts name paths): the tool
  plus the *resolved* directories its paths were in (for ``list_dir`` and
  ``search``, the directory itself). A grant for ``tests/`` covers
  ``tests/test_b.py``, not ``tests/sub/x`` and not a symlink in ``tests/``
  that resolves elsewhere.
- **Other tools**: the tool, plus the network hosts it was granted for.

A grant never covers a ``deny``, a part the analysis marked hard
(``PartDecision.hard``: substitution, eval, interpreter code, redirection,
parse error...), a verdict the policy marked hard (``Verdict.hard``:
outside the workspace, protected paths, workspace code with no sandbox), and,
checked here again whatever the policy said, a call whose facts or command
words lead outside the workspace or into overseer's files, or that runs
workspace code without a sandbox. Grants are recorded (``grant_added``),
listed and revocable (``grant_revoked``).
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

from pydantic import BaseModel, Field

from .events import PartDecision
from .paths import protected_paths
from .policy.base import Verdict
from .toolapi import Facts

# Programs whose arguments are themselves a program or code: a grant on them
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
        "git-shell",
        "busybox",
        "setsid",
        "flock",
        "script",
        "expect",
        "tclsh",
        "Rscript",
        "julia",
        # Their operands are code: a sed script can run commands (`e`) and
        # write files (`w`), sqlite3 can `.shell`, editors run `:!`.
        "sed",
        "sqlite3",
        "ed",
        "ex",
        "vi",
        "vim",
        "nvim",
        "emacs",
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
        "pdm",
        "hatch",
        "apt",
        "apt-get",
        "brew",
        "gh",
        "hg",
        "svn",
        "systemctl",
        "dotnet",
        "bundle",
    ]
)
# Subcommands that run another program or script: the grant also names what
# they run (`uv run pytest`, `npm run build`), which must not be broad.
_RUNNER_SUBCOMMANDS = frozenset(["run", "exec", "x", "dlx", "tool"])
# Programs that run the package named by their first argument.
_RUNNERS = frozenset(["npx", "pnpx", "bunx", "uvx", "pipx"])
# Tools whose path is the directory they act on, not a file in one.
_DIRECTORY_TOOLS = frozenset({"list_dir", "search"})
# Outside the workspace, yet named by everyday commands (`2>/dev/null`).
_HARMLESS_OUTSIDE = frozenset({"/dev/null"})


class Grant(BaseModel):
    id: str = Field(default_factory=lambda: "g" + uuid.uuid4().hex[:8])
    tool: str
    # Command grants: the argv prefix (program as written + subcommand).
    prefix: list[str] = Field(default_factory=list)
    # Command grants: the exact option words (sorted); None for other grants.
    options: list[str] | None = None
    # Path grants: resolved directories every path of a covered call lies in.
    dirs: list[str] = Field(default_factory=list)
    # Network hosts a covered call may name (empty: none).
    hosts: list[str] = Field(default_factory=list)
    by: str = ""
    call_id: str | None = None

    def describe(self) -> str:
        if self.options is not None:
            opts = " ".join(self.options)
            shape = " ".join(self.prefix) + (f" {opts}" if opts else "")
            which = f"exactly the options {opts}" if opts else "no options"
            where = "shell commands" if self.tool == "shell" else f"{self.tool} running"
            return (
                f"allow {where} `{shape} ...` ({which}; operands inside the workspace) "
                "for this session"
            )
        text = f"allow {self.tool}"
        if self.dirs:
            text += " in " + ", ".join(d.rstrip("/") + "/" for d in self.dirs)
        if self.hosts:
            text += " reaching " + ", ".join(self.hosts)
        return text + " for this session"


def _program(argv: list[str]) -> str:
    return os.path.basename(argv[0]) if argv else ""


def _broad(word: str) -> bool:
    base = os.path.basename(word)
    return base in BROAD_PROGRAMS or base.startswith(("python", "pypy")) or "/" in word


def narrow_prefix(argv: list[str]) -> list[str] | None:
    """The grant prefix for one command, or None if no safe narrow grant exists."""
    if not argv or not argv[0] or _broad(argv[0]):
        return None
    prog, rest = argv[0], argv[1:]
    if prog in _NEEDS_SUBCOMMAND or prog in _RUNNERS:
        # `git -c x=y commit` puts options before the subcommand: too clever to grant.
        if not rest or rest[0].startswith("-"):
            return None
        prefix = [prog, rest[0]]
        if prog in _RUNNERS:
            return None if _broad(rest[0]) else prefix
        if rest[0] in _RUNNER_SUBCOMMANDS and len(rest) > 1:
            ran = rest[1]
            if ran.startswith("-") or _broad(ran):
                return None
            prefix.append(ran)
        return prefix
    first = rest[0] if rest and not rest[0].startswith("-") else None
    return [prog, first] if first else [prog]


def option_words(args: list[str]) -> list[str]:
    """The option words of a command's arguments, as a sorted set: what a
    command grant must match exactly. ``--`` counts (it turns what follows
    into operands); nothing after it is an option."""
    found: set[str] = set()
    for a in args:
        if a == "--":
            found.add(a)
            break
        if a.startswith("-") and a != "-":
            found.add(a)
    return sorted(found)


def _globbed(words: list[str]) -> bool:
    """A word with glob characters: what it names depends on the directory
    at the time (``rm -f *``), so no grant covers it, nor is one built from it."""
    return any(c in w for w in words for c in "*?[")


def _shape(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    prefix = narrow_prefix(argv)
    if prefix is None or _globbed(argv):
        return None
    return tuple(prefix), tuple(option_words(argv[len(prefix) :]))


def _covers_part(grant: Grant, part: PartDecision) -> bool:
    if part.decision == "deny" or part.hard or not part.argv or grant.options is None:
        return False
    argv = list(part.argv)
    n = len(grant.prefix)
    if argv[:n] != grant.prefix or _globbed(argv):
        return False
    return option_words(argv[n:]) == grant.options


# -- what no grant may cover ------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _protected() -> list[str]:
    try:
        return [os.path.realpath(p) for p in protected_paths()]
    except Exception:  # noqa: BLE001 - unknown: treat everything as protected below
        return ["/"]


def _leaves(values: list[str], base: str, workspace: str) -> str | None:
    """The first value that resolves outside the workspace or into
    overseer's files, if any."""
    protected = _protected()
    for value in values:
        if "\x00" in value:
            return value
        path = os.path.join(base, os.path.expanduser(value))
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return value
        if real in _HARMLESS_OUTSIDE:
            continue
        if not _inside(real, workspace) or any(_inside(real, p) for p in protected):
            return value
    return None


def hard_reason(
    verdict: Verdict, facts: Facts | None, workspace: str | os.PathLike[str]
) -> str | None:
    """Why no grant may cover this call, whatever the policy's rules said
    (None: a grant may). Checked both when a grant is offered and when one
    is applied."""
    if verdict.decision == "deny":
        return "the policy denies it"
    if getattr(verdict, "hard", False):
        return "the policy's analysis asks, not a rule"
    if any(p.hard or p.decision == "deny" for p in verdict.parts):
        return "a part of the command has a finding no grant covers"
    if facts is None:
        return "the tool did not say what the call touches"
    if "runs_code" in facts.risk and facts.sandbox in (None, "none"):
        return "it runs code from the workspace with no sandbox"
    ws = os.path.realpath(os.fspath(workspace))
    cwd = os.path.realpath(os.path.join(ws, facts.cwd)) if facts.cwd else ws
    if not _inside(cwd, ws):
        return f"it runs in {cwd}, outside the workspace"
    bad = _leaves([*facts.reads, *facts.writes], ws, ws)
    if bad is not None:
        return f"{bad} is outside the workspace or overseer's own"
    if facts.commands:
        from .policy.guard import touched  # the guard's own reading of the words

        for command in facts.commands:
            try:
                named, _walked = touched(str(command), cwd)
            except Exception:  # noqa: BLE001 - what it touches is unknown
                return "the command's paths cannot be worked out"
            bad = _leaves(named, cwd, ws)
            if bad is not None:
                return f"the command names {bad}, outside the workspace or overseer's own"
    return None


# -- offering and applying grants --------------------------------------------------


def _scopes(tool: str, facts: Facts, workspace: str) -> list[str]:
    out = set()
    for p in [*facts.reads, *facts.writes]:
        real = os.path.realpath(os.path.join(workspace, p))
        out.add(real if tool in _DIRECTORY_TOOLS else os.path.dirname(real))
    return sorted(out)


def propose(
    tool: str,
    args: dict[str, Any],
    verdict: Verdict,
    facts: Facts | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> Grant | None:
    """The narrow grant that "always" would add for this call, if any."""
    if workspace is None or hard_reason(verdict, facts, workspace) is not None:
        return None
    assert facts is not None
    ws = os.path.realpath(os.fspath(workspace))
    asked = [p for p in verdict.parts if p.decision != "allow"]
    if asked:
        shapes = {_shape(p.argv) for p in asked}
        if len(shapes) != 1 or None in shapes:
            return None  # one grant covers one command shape; several asks -> approve once
        shape = next(iter(shapes))
        assert shape is not None
        return Grant(tool=tool, prefix=list(shape[0]), options=list(shape[1]))
    if facts.commands and tool == "shell":
        return None  # the ask came from somewhere other than a part: no shape to grant
    return Grant(tool=tool, dirs=_scopes(tool, facts, ws), hosts=sorted(set(facts.network)))


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

    def covering(
        self,
        tool: str,
        args: dict[str, Any],
        verdict: Verdict,
        facts: Facts | None = None,
        workspace: str | os.PathLike[str] | None = None,
    ) -> Grant | None:
        """A grant that turns this ``ask`` into ``allow``, if one exists."""
        if verdict.decision != "ask" or workspace is None:
            return None
        grants = [g for g in self.list() if g.tool == tool]
        if not grants or hard_reason(verdict, facts, workspace) is not None:
            return None
        assert facts is not None
        asked = [p for p in verdict.parts if p.decision != "allow"]
        if asked:
            chosen: Grant | None = None
            for part in asked:
                g = next((g for g in grants if _covers_part(g, part)), None)
                if g is None:
                    return None
                chosen = g
            return chosen
        if facts.commands and tool == "shell":
            return None
        ws = os.path.realpath(os.fspath(workspace))
        scopes = set(_scopes(tool, facts, ws))
        hosts = set(facts.network)
        for g in grants:
            if g.options is None and scopes <= set(g.dirs) and hosts <= set(g.hosts):
                return g
        return None
