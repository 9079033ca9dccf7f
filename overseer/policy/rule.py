"""One rule and what it is matched against: ``Subject`` (a shell part, a
write, or a tool call), ``Rule.match`` and, for an allow rule,
``Rule.uncovered`` — what keeps it from covering a subject (a path outside
the workspace, a dangerous or unknown option, an unknown program, network,
a tool's risk hint)."""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..events import Decision
from . import paths as P
from .prefix import Prefix, has_flag
from .shell import Danger, Word

RISKY = ("destructive", "open_world", "privileged", "writes_tests")
# "runs_code" is not in RISKY: it asks (hard) only without a sandbox (rules.py).

# --------------------------------------------------------------------------
# Subjects


@dataclass(slots=True)
class Subject:
    tool: str
    # What `regex` searches; None until first needed for a shell part (then
    # built from ``words``: most subjects never meet a regex rule).
    text: str | None
    argv: list[str] | None = None
    literal: list[bool] = field(default_factory=list)
    base: str = ""  # program_name(argv[0])
    prog_path: str | None = None  # argv[0] given by path: normalised (ws-relative inside)
    prog_trusted: bool = True
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    network: bool = False
    risk: frozenset[str] = frozenset()
    dangers: tuple[Danger, ...] = ()
    words: tuple[Word, ...] = ()
    # A shell part's program: does the catalogue know it, and what of its
    # words it does not know (allow by grammar, see shell/grammar.py).
    command: bool = False
    known: bool = True
    unknown: tuple[str, ...] = ()

    def regex_text(self) -> str:
        if self.text is None:
            self.text = shell_text(self.words)
        return self.text


@dataclass(slots=True)
class Call:
    """What one decide() call shares across its subjects."""

    ws: str  # the resolved workspace
    protected: frozenset[str]  # overseer's own files...
    protected_dirs: tuple[str, ...]  # ...and directories ("dir/" prefixes)
    collect: set[str] | None = None  # names of matching rules (inline examples)
    # Directories relative paths may start from: the shell's cwd (facts.cwd,
    # else the workspace) plus every directory a `cd` in the command goes to.
    bases: tuple[str, ...] = ()
    globs: int = 0  # glob words expanded so far
    # Where the call's commands run (Facts.sandbox): code from the workspace
    # runs without asking only in "bwrap".
    sandbox: str | None = None
    # PATH directories inside the workspace, and relative PATH entries: a bare
    # program name found there is a program run by path (paths.path_shadow).
    path_dirs: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


@dataclass(slots=True)
class Match:
    k: int = 0  # how many argv tokens the rule's prefix named
    by_path: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    """Something only an explicit allow rule can cover (see Rule.uncovered)."""

    kind: str
    reason: str
    hard: bool


@dataclass(slots=True)
class Result:
    decision: Decision
    rule: str | None
    reason: str
    hard: bool = False
    network_allowed: bool = False


# --------------------------------------------------------------------------
# Rules


@dataclass
class Rule:
    """A compiled rule. Build with ``Rule.build`` from a validated spec."""

    name: str
    decision: Decision
    reason: str = ""
    order: int = 0
    tools: tuple[str, ...] | None = None
    prefixes: list[Prefix] | None = None
    flags: tuple[frozenset[str], tuple[str, ...], frozenset[str]] | None = None
    regex: re.Pattern[str] | None = None
    paths: tuple[str, ...] | None = None
    reads: tuple[str, ...] | None = None
    writes: tuple[str, ...] | None = None
    network: bool | None = None
    risk: frozenset[str] | None = None
    # The rule allows a program's options and operands whatever they are:
    # the policy's author takes over from the program catalogue.
    any_arguments: bool = False
    _tool_cache: dict[str, bool] = field(default_factory=dict, repr=False)
    # The prefixes by the program name they start with, so a rule with many
    # alternatives ("ls", "cat", ... 60 of them) tries only the relevant ones.
    _prefix_index: dict[str, list[Prefix]] = field(default_factory=dict, repr=False)
    _prefix_generic: list[Prefix] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for prefix in self.prefixes or ():
            first = prefix[0]
            if first.any or first.globs:
                self._prefix_generic.append(prefix)
                continue
            names = set(first.exact) | {p.rsplit("/", 1)[-1] for p in first.paths}
            if any(P.is_glob(n) for n in names):
                self._prefix_generic.append(prefix)
                continue
            for n in names:
                self._prefix_index.setdefault(n, []).append(prefix)

    _glob_cache: dict[str, tuple[list[re.Pattern[str]], ...]] = field(
        default_factory=dict, repr=False
    )

    def covers_risk(self, tool: str, risk: str) -> bool:
        """A tool's risk hint (destructive, open_world...) is only overridden
        by a rule that names that tool exactly or names that risk."""
        if self.risk is not None and risk in self.risk:
            return True
        return self.tools is not None and tool in self.tools

    @property
    def needs_argv(self) -> bool:
        return self.prefixes is not None or self.flags is not None

    def index_keys(self) -> tuple[set[str], list[str]] | None:
        """(program names, program-name globs) this rule's command can start
        with; None when any program may match (or there is no command)."""
        if self.prefixes is None:
            return None
        names: set[str] = set()
        globs: list[str] = []
        for prefix in self.prefixes:
            first = prefix[0]
            if first.any:
                return None
            names |= first.exact
            globs.extend(first.globs)
            for p in first.paths:
                base = p.rsplit("/", 1)[-1]
                (globs.append(base) if P.is_glob(base) else names.add(base))
        return names, globs

    def tool_ok(self, tool: str) -> bool:
        if self.tools is None:
            return True
        hit = self._tool_cache.get(tool)
        if hit is None:
            hit = any(fnmatchcase(tool, t) for t in self.tools)
            if len(self._tool_cache) < 1024:
                self._tool_cache[tool] = hit
        return hit

    def globs(self, ws: str) -> tuple[list[re.Pattern[str]], ...]:
        """(paths, reads, writes, all) compiled for one workspace."""
        cached = self._glob_cache.get(ws)
        if cached is None:
            parts = [
                [P.compile_glob(g, ws) for g in (patterns or ())]
                for patterns in (self.paths, self.reads, self.writes)
            ]
            cached = (parts[0], parts[1], parts[2], parts[0] + parts[1] + parts[2])
            if len(self._glob_cache) > 64:
                self._glob_cache.clear()
            self._glob_cache[ws] = cached
        return cached

    def could_match(self, s: Subject) -> bool:
        """Cheap pre-filter on the subject's shape (used to build candidate lists)."""
        if not self.tool_ok(s.tool):
            return False
        if self.needs_argv and not s.argv:
            return False
        if self.writes is not None and not s.writes:
            return False
        if self.reads is not None and not s.reads:
            return False
        if self.paths is not None and not s.paths:
            return False
        if self.network is not None and s.network != self.network:
            return False
        return not (self.risk is not None and not s.risk)

    def match(self, s: Subject, ws: str, tool_checked: bool = False) -> Match | None:
        if not tool_checked and self.tools is not None and not self.tool_ok(s.tool):
            return None
        m = Match()
        if self.prefixes is not None:
            if s.argv is None or not s.argv:
                return None
            best: Match | None = None
            by_name = self._prefix_index.get(s.base, ())
            for prefix in (
                itertools.chain(by_name, self._prefix_generic) if self._prefix_generic else by_name
            ):
                got = _match_prefix(prefix, s)
                if got is not None and (
                    best is None or got.k > best.k or (got.by_path and not best.by_path)
                ):
                    best = got
            if best is None:
                return None
            m = best
        if self.flags is not None and (s.argv is None or not has_flag(s.argv, *self.flags)):
            return None
        if self.regex is not None and not self.regex.search(s.regex_text()):
            return None
        if self.network is not None and s.network != self.network:
            return None
        if self.risk is not None and not (self.risk & s.risk):
            return None
        if self.paths is not None or self.reads is not None or self.writes is not None:
            g_paths, g_reads, g_writes, _ = self.globs(ws)
            for patterns, candidates, given in (
                (g_paths, s.paths, self.paths),
                (g_reads, s.reads, self.reads),
                (g_writes, s.writes, self.writes),
            ):
                if given is None:
                    continue
                if not candidates:
                    return None
                # allow: every path must be covered; ask/deny: one is enough.
                if self.decision == "allow":
                    if not all(P.any_match(patterns, c) for c in candidates):
                        return None
                elif not any(P.any_match(patterns, c) for c in candidates):
                    return None
        return m

    def uncovered(self, s: Subject, m: Match, ws: str) -> list[Condition]:
        """What keeps this allow rule from covering ``s``."""
        out: list[Condition] = []
        if s.outside:
            all_globs = self.globs(ws)[3]
            for p in s.outside:
                if not (all_globs and P.any_match(all_globs, p)):
                    out.append(
                        Condition("outside-workspace", f"{p} is outside the workspace", True)
                    )
        for u in s.unresolved:
            out.append(Condition("outside-workspace", f"path {u!r} cannot be resolved", True))
        if s.prog_path is not None and not s.prog_trusted and not m.by_path:
            prog = s.argv[0] if s.argv else "?"
            out.append(
                Condition(
                    "program-path",
                    f"{prog} is run by path from outside the system directories",
                    True,
                )
            )
        for d in s.dangers:
            if d.index >= m.k:
                out.append(Condition("dangerous-option", d.reason, True))
        if s.command and not self.any_arguments:
            out.extend(Condition("unknown-option", u, True) for u in s.unknown)
            if not s.known and s.argv is not None and m.k < len(s.argv):
                out.append(
                    Condition(
                        "unknown-program",
                        f"overseer's program table has no entry for {s.base}, and rule "
                        f"{self.name} does not name all its arguments (see any_arguments)",
                        False,
                    )
                )
        if s.network and self.network is not True:
            out.append(
                Condition(
                    "network", "it uses the network and the rule does not allow network", False
                )
            )
        for r in RISKY:
            if r in s.risk and not self.covers_risk(s.tool, r):
                out.append(
                    Condition("risk", f"the tool declares itself {r.replace('_', ' ')}", False)
                )
        return out


def _match_prefix(prefix: Prefix, s: Subject) -> Match | None:
    argv = s.argv
    assert argv is not None
    if len(argv) < len(prefix):
        return None
    ok, by_path = prefix[0].match_program(s.base, s.prog_path)
    if not ok or not s.literal[0]:
        return None
    for i in range(1, len(prefix)):
        if not s.literal[i] or not prefix[i].match_token(argv[i]):
            return None
    return Match(len(prefix), by_path)


def shell_text(argv: Sequence[Word]) -> str:
    return " ".join(shlex.quote(w.value) if w.literal else w.source for w in argv)
