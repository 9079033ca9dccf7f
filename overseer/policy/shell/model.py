"""What shell analysis produces: words, parts and what was found in them.

A ``Part`` is one simple command (or shell statement) of a command line, with
the program and arguments it runs after unwrapping, the paths it names, its
redirections and writes, and the *findings* (risks no rule may auto-allow)
and *dangers* (options only a rule naming them covers). The limits say where
analysis stops and asks instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Decision = Literal["allow", "ask", "deny"]

MAX_COMMAND_CHARS = 100_000
"""Longer commands are not analysed (ask): no real command needs more."""

MAX_GLOB_WORDS = 256
"""Glob words are expanded against the file system to see what they name; a
command with more than this many (15,000 took 5 s) is not expanded word by
word: the policy asks and the guard refuses."""

MAX_DEPTH = 60
"""Nesting (substitutions in substitutions, ``sh -c`` in ``sh -c``...) beyond
this is not analysed further (ask)."""

MAX_PARTS = 2_000


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word, as the program will receive it (when ``literal``)."""

    value: str  # unquoted, escapes decoded; the source text when not literal
    source: str  # as written
    literal: bool = True  # no expansion or substitution: value is exact
    glob: bool = False  # contains unquoted * ? [..] (the shell expands it)
    tilde: bool = False  # starts with an unquoted ~ (home directory)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something no rule may auto-allow. ``kind`` names the class of risk."""

    kind: str
    reason: str
    decision: Decision = "ask"


@dataclass(frozen=True, slots=True)
class Danger:
    """A dangerous option at ``argv[index]``; covered only by an allow rule
    whose command prefix reaches past ``index`` (i.e. names the option)."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Redirect:
    kind: Literal["read", "write"]
    op: str
    target: Word


@dataclass(slots=True)
class Part:
    """One simple command (or shell statement) of a command line."""

    text: str
    argv: tuple[Word, ...] = ()
    # The argv at each wrapper level, outermost first (``nice -n5 git log``
    # has ``outer == (nice -n5 git log,)`` and ``argv == git log``). Deny and
    # ask rules are matched against these too.
    outer: tuple[tuple[Word, ...], ...] = ()
    redirects: list[Redirect] = field(default_factory=list)
    writes: list[Word] = field(default_factory=list)
    path_args: list[Word] = field(default_factory=list)
    # Directories the program moves to before it opens its relative paths
    # (git -C DIR, env -C DIR), in order: relative paths are resolved there.
    chdirs: list[Word] = field(default_factory=list)
    # Glob words whose matches the program only prints (echo src/*): the
    # directories the matches are in are listed, so they must be inside.
    listed: list[Word] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dangers: list[Danger] = field(default_factory=list)
    network: bool = False
    # True when the program receives arguments nobody can see (xargs).
    unknown_args: bool = False
    # argv index that is not a path although it looks like one (sed's script).
    skip_arg: int | None = None
    # The program walks directories and follows the symlinks it meets
    # (grep -R, rg -L, find -L...): a link below a path argument that points
    # outside the workspace is read too (the engine looks for such links).
    follows_links: bool = False
    # "command": a program runs; "statement": a shell statement (assignment,
    # export, [[ ]]...); "redirect": redirections of a compound statement;
    # "wrapper": ``sh -c LITERAL`` whose script became parts of its own;
    # "error": the command could not be analysed.
    kind: str = "command"
    # False when the program has no entry in the catalogue (see grammar):
    # an allow rule then covers it only as the rule writes it.
    known: bool = True
    # What the program's entry does not know (options, operand shapes): no
    # allow rule covers these unless it says any_arguments.
    unknown: list[str] = field(default_factory=list)
    # Why the program runs code from the workspace (a test runner, make, an
    # interpreter given a script): only inside the sandbox without asking.
    runs_code: str | None = None

    def add(self, kind: str, reason: str, decision: Decision = "ask") -> None:
        self.findings.append(Finding(kind, reason, decision))

    @property
    def argv_values(self) -> list[str]:
        return [w.value for w in self.argv]


@dataclass(frozen=True, slots=True)
class Analysis:
    command: str
    parts: tuple[Part, ...]


# --------------------------------------------------------------------------
# Program knowledge
