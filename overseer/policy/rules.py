"""Rules and the rule engine: ``RulePolicy.decide``.

A call is turned into *subjects*, each judged on its own:

- every part of a shell command (``facts.commands``; see ``shell.py``),
  with its program argv, resolved path arguments, dangers and findings;
- every write a shell part makes (redirection target, ``tee`` file), judged
  like a file tool's write;
- the call itself for non-shell tools: tool name, serialized args and the
  paths/network/risk in its facts.

For one subject, every matching rule counts and the strictest wins
(``deny`` > ``ask`` > ``allow``); no match -> the policy's default. An
``allow`` rule only counts when it *covers* the subject: paths outside the
workspace must match the rule's own path globs, dangerous options must be
named by the rule's command prefix, network needs ``network = true``, a
program run by path from outside the system directories must be named by
path, and a tool's ``destructive``/``open_world`` risk hints need a rule that
names the tool. Findings from shell analysis (substitutions, eval, code
strings, heredocs, parse errors...) are never covered by any rule: such a
part is at least ``ask``, and marked ``hard`` so no grant skips it.

The whole call gets the strictest decision of its parts. ``decide`` never
raises: an internal error is a ``deny`` carrying the error.
"""

from __future__ import annotations

import glob as globlib
import itertools
import json
import os
import posixpath
import re
import shlex
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..events import Decision, PartDecision
from ..toolapi import Facts
from . import paths as P
from .base import STRICTNESS, Verdict
from .shell import (
    MAX_GLOB_WORDS,
    Danger,
    Part,
    Word,
    analyse,
    program_name,
    trusted_program,
)

RISKY = ("destructive", "open_world", "privileged", "writes_tests")
# "runs_code" is not in RISKY: it asks (hard) only without a sandbox, see _decide.
MAX_GLOB_MATCHES = 5000

# --------------------------------------------------------------------------
# Command prefixes


@dataclass(frozen=True, slots=True)
class Slot:
    """One token position of a command prefix: alternatives."""

    exact: frozenset[str] = frozenset()
    globs: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # program given by path (".venv/bin/pytest")
    any: bool = False

    def match_token(self, value: str) -> bool:
        if self.any or value in self.exact:
            return True
        return any(fnmatchcase(value, g) for g in self.globs)

    def match_program(self, base: str, prog_path: str | None) -> tuple[bool, bool]:
        """(matched, matched by path) for a program of basename ``base``."""
        if prog_path is not None and self.paths:
            for p in self.paths:
                if fnmatchcase(prog_path, p):
                    return True, True
        if self.any:
            return True, False
        if base in self.exact or any(fnmatchcase(base, g) for g in self.globs):
            return True, False
        return False, False


Prefix = tuple[Slot, ...]


def _slot(alternatives: Iterable[str], first: bool) -> Slot:
    exact: set[str] = set()
    globs: list[str] = []
    paths: list[str] = []
    any_ = False
    for alt in alternatives:
        if not alt:
            raise ValueError("empty alternative in a command prefix")
        if alt == "*":
            any_ = True
        elif first and "/" in alt:
            norm = posixpath.normpath(alt)
            paths.append(norm)
            # Also accept the program named by its path without a leading "./".
        elif P.is_glob(alt):
            globs.append(alt)
        else:
            exact.add(alt)
    return Slot(frozenset(exact), tuple(globs), tuple(paths), any_)


def _token_alternatives(token: str) -> list[str]:
    return token.split("|")


def _prefix_from_string(text: str) -> Prefix:
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot split command prefix {text!r}: {exc}") from None
    if not tokens:
        raise ValueError("empty command prefix")
    return tuple(_slot(_token_alternatives(t), i == 0) for i, t in enumerate(tokens))


def parse_command_spec(spec: Any) -> list[Prefix]:
    """``command`` in a rule -> list of alternative prefixes.

    - ``"git status"``: one prefix, split like a shell command; a token
      ``a|b`` is alternatives, ``*`` any one token, ``python3.*`` a glob;
    - ``["git status", "git log"]`` (only strings): alternative prefixes;
    - ``["git", ["status", "log"]]`` (contains a list): one prefix given
      token by token, a list being alternatives for that token.
    """
    if isinstance(spec, str):
        return [_prefix_from_string(spec)]
    if not isinstance(spec, list) or not spec:
        raise ValueError("command must be a string or a non-empty list")
    if any(isinstance(item, list) for item in spec):
        slots: list[Slot] = []
        for i, item in enumerate(spec):
            if isinstance(item, str):
                alts = _token_alternatives(item)
            elif isinstance(item, list) and item and all(isinstance(a, str) for a in item):
                alts = [a for alt in item for a in _token_alternatives(alt)]
            else:
                raise ValueError(
                    f"command token {i + 1} must be a string or a non-empty list of strings"
                )
            if any(" " in a for a in alts):
                raise ValueError(
                    f"command token {item!r} contains a space; give one token per item"
                )
            slots.append(_slot(alts, i == 0))
        return [tuple(slots)]
    if not all(isinstance(item, str) for item in spec):
        raise ValueError(
            "command list items must be strings (or, for one prefix, strings and lists)"
        )
    return [_prefix_from_string(item) for item in spec]


def parse_flags(spec: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...], frozenset[str]]:
    """``flags`` -> (short letters, long options, exact single-dash words)."""
    short: set[str] = set()
    longs: list[str] = []
    words: set[str] = set()
    for f in spec:
        if not isinstance(f, str) or not f.startswith("-") or f in ("-", "--"):
            raise ValueError(f"flag {f!r} must look like -r, --recursive or -delete")
        if f.startswith("--"):
            longs.append(f)
        elif len(f) == 2:
            short.add(f[1])
        else:
            words.add(f)
    return frozenset(short), tuple(longs), frozenset(words)


def has_flag(
    argv: Sequence[str], short: frozenset[str], longs: tuple[str, ...], words: frozenset[str]
) -> bool:
    for v in argv[1:]:
        if v == "--":
            return False
        if v.startswith("--"):
            key = v.split("=", 1)[0]
            for long in longs:
                # GNU getopt accepts unambiguous abbreviations: --rec is --recursive.
                if key == long or (len(key) >= 3 and long.startswith(key)):
                    return True
        elif v.startswith("-") and len(v) > 1:
            if v in words or v.split("=", 1)[0] in words:
                return True
            if short and any(c in short for c in v[1:]):
                return True
    return False


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
            self.text = _shell_text(self.words)
        return self.text


@dataclass(slots=True)
class _Call:
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


# --------------------------------------------------------------------------
# The policy


def _stricter(rule: Rule, than: Rule) -> bool:
    """``rule`` wins over ``than``: stricter, or as strict and earlier in the file."""
    a, b = STRICTNESS[rule.decision], STRICTNESS[than.decision]
    return a > b or (a == b and rule.order < than.order)


def _strictest(results: Sequence[Result]) -> Result:
    best = results[0]
    for r in results[1:]:
        rs, bs = STRICTNESS[r.decision], STRICTNESS[best.decision]
        if rs > bs or (rs == bs and r.hard and not best.hard):
            best = r
    return best


def _combine(results: Sequence[Result]) -> Result:
    """The strictest result; its reason lists every distinct reason at that level."""
    if len(results) == 1:
        return results[0]
    best = _strictest(results)
    level = STRICTNESS[best.decision]
    at_level = [r for r in results if STRICTNESS[r.decision] == level]
    # "no rule matches" says nothing when something more specific is there.
    if any(r.rule is not None for r in at_level):
        at_level = [r for r in at_level if r.rule is not None]
    reasons: list[str] = []
    for r in at_level:
        if r.reason and r.reason not in reasons:
            reasons.append(r.reason)
    hard = any(r.hard for r in at_level)
    network = any(r.network_allowed for r in results)
    return Result(best.decision, best.rule, "; ".join(reasons), hard, network)


def _shell_text(argv: Sequence[Word]) -> str:
    return " ".join(shlex.quote(w.value) if w.literal else w.source for w in argv)


class RulePolicy:
    """A policy made of rules (usually loaded from TOML by ``load_policy``)."""

    def __init__(
        self,
        rules: list[Rule],
        default: Decision = "ask",
        name: str = "custom",
        text: str = "",
        source: str | None = None,
    ) -> None:
        import hashlib

        self.rules = rules
        self.default: Decision = default
        self.name = name
        self.text = text
        self.hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        self.source = source or name
        # Rules are indexed so a subject only meets the rules that could
        # match it: by program name (and name glob) for command rules, by
        # tool for the rest. Candidate lists are cached per (tool, program).
        self._by_program: dict[str, list[Rule]] = {}
        self._by_program_glob: list[tuple[str, Rule]] = []
        self._argv_generic: list[Rule] = []
        self._generic: list[Rule] = []
        for rule in rules:
            keys = rule.index_keys()
            if keys is not None:
                names, globs = keys
                for n in names:
                    self._by_program.setdefault(n, []).append(rule)
                for g in globs:
                    self._by_program_glob.append((g, rule))
            elif rule.needs_argv:
                self._argv_generic.append(rule)
            else:
                self._generic.append(rule)
        self._candidate_cache: dict[
            tuple[str, str | None, bool, bool, bool, bool, bool], list[Rule]
        ] = {}
        self._ws_cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RulePolicy(name={self.name!r}, rules={len(self.rules)}, default={self.default!r})"

    # -- candidates -----------------------------------------------------

    def candidates(self, s: Subject) -> list[Rule]:
        """The rules that could match ``s``, in file order: the tool matches,
        the command's program is one the rule names, and the subject has the
        kinds of paths (and network) the rule's matchers need."""
        key = (
            s.tool,
            s.base if s.argv else None,
            bool(s.reads),
            bool(s.writes),
            bool(s.paths),
            s.network,
            bool(s.risk),
        )
        hit = self._candidate_cache.get(key)
        if hit is not None:
            return hit
        found: dict[int, Rule] = {}
        for rule in self._generic:
            found[rule.order] = rule
        if s.argv:
            for rule in self._by_program.get(s.base, ()):
                found[rule.order] = rule
            for pattern, rule in self._by_program_glob:
                if fnmatchcase(s.base, pattern):
                    found[rule.order] = rule
            for rule in self._argv_generic:
                found[rule.order] = rule
        hit = [found[k] for k in sorted(found) if found[k].could_match(s)]
        if len(self._candidate_cache) > 8192:
            self._candidate_cache.clear()
        self._candidate_cache[key] = hit
        return hit

    # -- judging one subject ------------------------------------------------

    def judge(
        self, s: Subject, c: _Call, outer: Sequence[Subject] = (), strict_only: bool = False
    ) -> Result:
        if s.protected:
            return Result(
                "deny",
                "overseer:protected-path",
                f"{s.protected[0]} belongs to overseer's audit log or configuration",
                hard=True,
            )
        ws = c.ws
        strict: Rule | None = None
        net_rule = False  # an ask rule naming network matched (see below)
        allows: list[tuple[Rule, Match]] = []
        for level, subj in enumerate(itertools.chain((s,), outer)):
            for rule in self.candidates(subj):
                if rule.decision == "allow" and (level or strict_only):
                    continue
                m = rule.match(subj, ws, tool_checked=True)
                if m is None:
                    continue
                if c.collect is not None:
                    c.collect.add(rule.name)
                if rule.decision == "allow":
                    allows.append((rule, m))
                    continue
                net_rule = net_rule or (rule.decision == "ask" and rule.network is True)
                if strict is None or _stricter(rule, strict):
                    strict = rule
        if strict is not None:
            # An `ask` rule that names network (network = true) lets the call
            # use it once a person has approved: they saw what would run.
            approved_net = strict.decision == "ask" and net_rule and s.network
            return Result(
                strict.decision,
                strict.name,
                strict.reason or f"rule {strict.name}",
                network_allowed=approved_net,
            )
        if strict_only:
            return Result("allow", None, "")
        blocked: list[tuple[Rule, list[Condition]]] = []
        for rule, m in sorted(allows, key=lambda rm: rm[0].order):
            missing = rule.uncovered(s, m, ws)
            if not missing:
                reason = rule.reason or f"rule {rule.name}"
                return Result("allow", rule.name, reason, network_allowed=s.network)
            blocked.append((rule, missing))
        if blocked:
            # The analysis, not the rule, decided: name it as the rule.
            rule, missing = blocked[0]
            listed = "; ".join(m.reason for m in missing)
            hard = any(m.hard for m in missing)
            reason = f"rule {rule.name} does not cover this: {listed}"
            return Result("ask", f"overseer:{missing[0].kind}", reason, hard=hard)
        conds = self._conditions(s)
        if conds and (self.default == "allow" or any(m.hard for m in conds)):
            return Result(
                "deny" if self.default == "deny" else "ask",
                f"overseer:{conds[0].kind}",
                "; ".join(m.reason for m in conds),
                hard=any(m.hard for m in conds),
            )
        reason = f"no rule matches; the policy default is {self.default}"
        if conds:
            reason += " (" + "; ".join(m.reason for m in conds) + ")"
        return Result(self.default, None, reason)

    def _conditions(self, s: Subject) -> list[Condition]:
        """What only an explicit allow rule could cover (used with no match)."""
        out = [
            Condition("outside-workspace", f"{p} is outside the workspace", True) for p in s.outside
        ]
        out += [
            Condition("outside-workspace", f"path {u!r} cannot be resolved", True)
            for u in s.unresolved
        ]
        if s.prog_path is not None and not s.prog_trusted:
            prog = s.argv[0] if s.argv else "?"
            reason = f"{prog} is run by path from outside the system directories"
            out.append(Condition("program-path", reason, True))
        out += [Condition("dangerous-option", d.reason, True) for d in s.dangers]
        out += [Condition("unknown-option", u, True) for u in s.unknown]
        if s.network:
            out.append(Condition("network", "it uses the network", False))
        for r in RISKY:
            if r in s.risk:
                out.append(
                    Condition("risk", f"the tool declares itself {r.replace('_', ' ')}", False)
                )
        return out

    # -- resolution ---------------------------------------------------------

    def _workspace(self, workspace: Any) -> str:
        key = os.fspath(workspace) if workspace is not None else os.getcwd()
        ws = self._ws_cache.get(key)
        if ws is None:
            ws = P.resolve_workspace(key)
            if len(self._ws_cache) > 256:
                self._ws_cache.clear()
            self._ws_cache[key] = ws
        return ws

    @staticmethod
    def _place(s: Subject, value: str, c: _Call, bucket: list[str] | None) -> None:
        bases = c.bases or (c.ws,)
        if len(bases) > 1 and value[:1] not in ("/", "~"):
            # A `cd` earlier in the command: the path may be relative to any
            # of the directories it went to; every reading must be allowed.
            for base in bases:
                RulePolicy._place(
                    s, value, _Call(c.ws, c.protected, c.protected_dirs, None, (base,)), bucket
                )
            return
        try:
            path = P.resolve(value, bases[0])
        except (ValueError, OSError):
            s.unresolved.append(value[:200])
            return
        s.paths.append(path)
        if bucket is not None:
            bucket.append(path)
        if not P.inside(path, c.ws):
            s.outside.append(path)
        if path in c.protected or path.startswith(c.protected_dirs):
            s.protected.append(path)

    def _place_word(
        self, s: Subject, w: Word, c: _Call, bucket: list[str] | None, findings: list[Result]
    ) -> None:
        if not w.glob:
            self._place(s, w.value, c, bucket)
            return
        value = w.value
        if w.tilde:
            value = os.path.expanduser(value)
        c.globs += 1
        if c.globs > MAX_GLOB_WORDS:
            if c.globs == MAX_GLOB_WORDS + 1:
                reason = f"more than {MAX_GLOB_WORDS} glob patterns to check"
                findings.append(Result("ask", "overseer:glob", reason, True))
            return
        try:
            if os.path.isabs(value):
                matches = list(itertools.islice(globlib.iglob(value), MAX_GLOB_MATCHES + 1))
            else:
                matches = []
                for base in c.bases or (c.ws,):
                    found = itertools.islice(
                        globlib.iglob(value, root_dir=base), MAX_GLOB_MATCHES + 1
                    )
                    matches.extend(m if len(c.bases) < 2 else os.path.join(base, m) for m in found)
        except (OSError, ValueError, re.error):
            matches = []
        if len(matches) > MAX_GLOB_MATCHES:
            findings.append(
                Result("ask", "overseer:glob", f"{w.source} matches too many files to check", True)
            )
            return
        for m in matches:
            # The word the program receives is the match itself ("-rf" from
            # "*"), not "dir/-rf" (which no program reads as an option).
            if m.startswith("-"):
                reason = f"{w.source} expands to {m!r}, which the program would read as an option"
                findings.append(Result("ask", "overseer:glob", reason, True))
            self._place(s, m, c, bucket)
        # The fixed directory part of the pattern is touched even with no match.
        head = value.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        self._place(s, os.path.dirname(head) or ".", c, bucket)

    def _place_listing(self, s: Subject, w: Word, c: _Call, findings: list[Result]) -> None:
        """A glob whose matches are only printed: each match's directory is
        listed (``*/*`` lists every directory ``*`` matches, a symlink to /
        among them), not the matches' targets."""
        value = os.path.expanduser(w.value) if w.tilde else w.value
        head = value.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
        dirs = {os.path.dirname(head) or "."}
        c.globs += 1
        if c.globs > MAX_GLOB_WORDS:
            if c.globs == MAX_GLOB_WORDS + 1:
                reason = f"more than {MAX_GLOB_WORDS} glob patterns to check"
                findings.append(Result("ask", "overseer:glob", reason, True))
            return
        try:
            for base in c.bases or (c.ws,):
                for m in itertools.islice(
                    globlib.iglob(value, root_dir=None if os.path.isabs(value) else base),
                    MAX_GLOB_MATCHES + 1,
                ):
                    dirs.add(os.path.dirname(m) or ".")
                    if len(dirs) > MAX_GLOB_MATCHES:
                        reason = f"{w.source} matches too many files to check"
                        findings.append(Result("ask", "overseer:glob", reason, True))
                        return
        except (OSError, ValueError, re.error):
            pass
        for d in sorted(dirs):
            self._place(s, d, c, None)

    def _part_subject(self, part: Part, tool: str, c: _Call, findings: list[Result]) -> Subject:
        argv = part.argv
        vals = [w.value for w in argv]
        s = Subject(
            tool=tool,
            text=None,
            words=argv,
            argv=vals,
            literal=[w.literal for w in argv],
            base=program_name(vals[0]) if vals else "",
        )
        if argv and argv[0].literal and "/" in argv[0].value:
            ws = c.ws
            s.prog_trusted = trusted_program(argv[0].value)
            prog = argv[0].value
            if prog.startswith("~"):
                prog = os.path.expanduser(prog)
            full = posixpath.normpath(prog if os.path.isabs(prog) else posixpath.join(ws, prog))
            s.prog_path = posixpath.relpath(full, ws) if P.inside(full, ws) and full != ws else full
        for w in part.path_args:
            self._place_word(s, w, c, None, findings)
        for w in part.listed:
            self._place_listing(s, w, c, findings)
        if part.follows_links:
            # grep -R, rg -L, find -L...: a symlink below a directory argument
            # (or the cwd when none is given) is followed, wherever it points.
            dirs = [p for p in s.paths if P.inside(p, c.ws) and os.path.isdir(p)]
            for d in dirs or c.bases or (c.ws,):
                try:
                    link = P.links_outside(d, c.ws)
                except ValueError as exc:
                    s.unresolved.append(str(exc))
                    break
                if link is not None:
                    s.outside.append(f"{link} (a symlink the program follows)")
                    break
        for r in part.redirects:
            if r.kind == "read":
                self._place_word(s, r.target, c, s.reads, findings)
        s.network = part.network
        s.dangers = tuple(part.dangers)
        s.command = part.kind == "command"
        s.known = part.known
        s.unknown = tuple(part.unknown)
        return s

    # -- parts ----------------------------------------------------------------

    def _judge_part(self, part: Part, tool: str, c: _Call) -> tuple[PartDecision, bool]:
        results: list[Result] = [
            Result(f.decision, f"overseer:{f.kind}", f.reason, hard=True) for f in part.findings
        ]
        findings: list[Result] = []
        if part.kind in ("command", "statement", "wrapper") and part.argv:
            s = self._part_subject(part, tool, c, findings)
            outer = [self._outer_subject(o, s, tool) for o in part.outer]
            if part.kind == "wrapper":
                res = self.judge(s, c, outer, strict_only=True)
                if res.decision == "allow":
                    res = Result("allow", None, "runs the literal script judged part by part")
            else:
                res = self.judge(s, c, outer)
            results.append(res)
        elif part.kind == "redirect":
            s = Subject(tool=tool, text=part.text)
            for r in part.redirects:
                if r.kind == "read":
                    self._place_word(s, r.target, c, s.reads, findings)
            if s.outside or s.unresolved or s.protected:
                results.append(self.judge(s, c))
        results.extend(findings)
        if part.runs_code and c.sandbox != "bwrap":
            name = program_name(part.argv[0].value) if part.argv else "it"
            results.append(
                Result("ask", "overseer:unsandboxed-code", _unsandboxed(name, part.runs_code), True)
            )
        for w in [r.target for r in part.redirects if r.kind == "write"] + list(part.writes):
            target = Subject(tool=tool, text=w.value)
            if w.glob:
                reason = f"write target {w.source} is a glob pattern"
                results.append(Result("ask", "overseer:redirect", reason, hard=True))
            self._place(target, w.value, c, target.writes)
            res = self.judge(target, c)
            if res.decision != "allow":
                res.hard = True
                res.reason = f"write to {w.value}: {res.reason}"
            results.append(res)
        if not results:
            results.append(Result("allow", None, "nothing to run"))
        final = _combine(results)
        decision = PartDecision(
            command=part.text,
            decision=final.decision,
            rule=final.rule,
            reason=final.reason,
            argv=[w.value for w in part.argv],
            hard=final.hard and final.decision != "allow",
        )
        return decision, final.network_allowed

    @staticmethod
    def _outer_subject(argv: tuple[Word, ...], inner: Subject, tool: str) -> Subject:
        return Subject(
            tool=tool,
            text=None,
            words=argv,
            base=program_name(argv[0].value) if argv else "",
            argv=[w.value for w in argv],
            literal=[w.literal for w in argv],
            paths=inner.paths,
            reads=inner.reads,
            network=inner.network,
        )

    # -- the entry point ------------------------------------------------------

    def decide(self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path) -> Verdict:
        """Judge one call. Never raises: an internal error is a deny naming it."""
        try:
            return self._decide(tool, args, facts, workspace, None)
        except Exception as exc:  # fail closed on anything, RecursionError and MemoryError too
            where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
            loc = f" at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno}" if where else ""
            return Verdict(
                decision="deny",
                rule="overseer:internal-error",
                reason=f"the policy could not judge this call ({type(exc).__name__}: {str(exc)[:200]}{loc})",
            )

    def decide_collect(
        self, tool: str, args: dict[str, Any], facts: Facts, workspace: Path, collect: set[str]
    ) -> Verdict:
        """``decide``, also adding the name of every rule that matched to ``collect``
        (inline examples use it to check that *their* rule was involved)."""
        try:
            return self._decide(tool, args, facts, workspace, collect)
        except Exception as exc:
            return Verdict(
                decision="deny",
                rule="overseer:internal-error",
                reason=f"{type(exc).__name__}: {exc}",
            )

    def _decide(
        self, tool: Any, args: Any, facts: Any, workspace: Any, collect: set[str] | None
    ) -> Verdict:
        tool = tool if isinstance(tool, str) else str(tool)
        if not isinstance(facts, Facts):
            facts = Facts.model_validate(facts or {})
        exact, dirs = P.protected_sets()
        ws = self._workspace(workspace)
        cwd = P.resolve(facts.cwd, ws) if facts.cwd else ws
        c = _Call(ws, exact, dirs, collect, (cwd,), sandbox=facts.sandbox)
        parts: list[PartDecision] = []
        results: list[Result] = []
        network_ok: list[bool] = []
        for command in facts.commands:
            analysis = analyse(command if isinstance(command, str) else str(command))
            c.bases = _bases(analysis.parts, cwd)
            for part in analysis.parts:
                pd, net = self._judge_part(part, tool, c)
                parts.append(pd)
                results.append(Result(pd.decision, pd.rule, pd.reason, pd.hard))
                network_ok.append(net)
        c.bases = (cwd,)
        if not facts.commands or facts.reads or facts.writes or facts.network or facts.risk:
            s = Subject(
                tool=tool,
                text=_args_text(args),
                network=bool(facts.network),
                risk=frozenset(facts.risk),
            )
            for r in facts.reads:
                self._place(s, r, c, s.reads)
            for w in facts.writes:
                self._place(s, w, c, s.writes)
            res = self.judge(s, c)
            results.append(res)
            network_ok.append(res.network_allowed)
            if "runs_code" in facts.risk and facts.sandbox != "bwrap":
                why = _unsandboxed(tool, "runs code from the workspace")
                results.append(Result("ask", "overseer:unsandboxed-code", why, True))
        if not results:
            return Verdict(decision="allow", reason="nothing to run (empty command)", parts=parts)
        best = _strictest(results)
        reason = best.reason
        if len(parts) > 1:
            for pd in parts:
                if pd.decision == best.decision and pd.reason == best.reason:
                    reason = f"{_short(pd.command)}: {pd.reason}"
                    break
        # Network is granted only where an allow rule with network = true
        # covered a part that needs it (the sandbox opens nothing else).
        network = any(network_ok)
        return Verdict(
            decision=best.decision, rule=best.rule, reason=reason, parts=parts, network=network
        )

    def strictest(self) -> Decision:
        """The strictest decision any rule (or the default) can produce."""
        decisions = [r.decision for r in self.rules] + [self.default]
        return max(decisions, key=STRICTNESS.__getitem__)


def _bases(parts: Sequence[Part], cwd: str) -> tuple[str, ...]:
    """``cwd`` plus every directory a literal ``cd``/``pushd`` in the command
    may move to (relative to any earlier one): a superset of where each part
    really runs, so checking every path against each of them is safe."""
    bases = [cwd]
    for part in parts:
        if not part.argv or program_name(part.argv[0].value) not in ("cd", "pushd"):
            continue
        operands = [w for w in part.argv[1:] if not (w.literal and w.value.startswith("-"))]
        target = operands[-1] if operands else Word("~", "~", True, False, True)
        if not target.literal:
            continue  # already a finding (ask) on that part
        for base in list(bases):
            try:
                moved = P.resolve(target.value, base)
            except (ValueError, OSError):
                continue
            if moved not in bases and len(bases) < 16:
                bases.append(moved)
    return tuple(bases)


def _unsandboxed(name: str, why: str) -> str:
    return (
        f"{name} {why}, and there is no sandbox: that code could reach overseer's log "
        "and keys or plant git hooks (run with --sandbox bwrap to let it flow)"
    )


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _args_text(args: Any) -> str:
    try:
        return json.dumps(
            args, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":")
        )
    except (TypeError, ValueError, RecursionError):
        return repr(args)[:100_000]
