"""Rules and the rule engine: ``RulePolicy.decide``.

A call is turned into *subjects*, each judged on its own:

- every part of a shell command (``facts.commands``; see ``shell/``),
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
names the tool, and options or programs the program catalogue does not know
need ``any_arguments`` (allow by grammar). Findings from shell analysis (substitutions, eval, code
strings, heredocs, parse errors...) are never covered by any rule: such a
part is at least ``ask``, and marked ``hard`` so no grant skips it.

Code from the workspace (a test runner, ``make``, a ``runs_code`` tool) with
no sandbox asks, hard. The rules themselves are in ``rule.py``, their command
prefixes in ``prefix.py``, path placement in ``placing.py``.

The whole call gets the strictest decision of its parts. ``decide`` never
raises: an internal error is a ``deny`` carrying the error.
"""

from __future__ import annotations

import itertools
import json
import os
import posixpath
import traceback
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..events import Decision, PartDecision
from ..toolapi import Facts
from . import paths as P
from .base import STRICTNESS, Verdict
from .placing import cd_bases, chdir_bases, place, place_listing, place_word
from .rule import RISKY, Call, Condition, Match, Result, Rule, Subject
from .settings import own_settings, settings_reason
from .shell import (
    Part,
    Word,
    analyse,
    program_name,
    trusted_program,
)
from .shell.programs import BASH_BUILTINS

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
        self, s: Subject, c: Call, outer: Sequence[Subject] = (), strict_only: bool = False
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
            # What analysis would not let any rule cover stays hard when an
            # ask rule decided first: an approval for `rm -f ../x` must not
            # become a grant for paths outside the workspace.
            hard = bool(s.outside or s.unresolved)
            return Result(
                strict.decision,
                strict.name,
                strict.reason or f"rule {strict.name}",
                hard=hard,
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

    def _part_subject(self, part: Part, tool: str, c: Call, findings: list[Result]) -> Subject:
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
        elif (
            (c.path_dirs[0] or c.path_dirs[1])
            and argv
            and argv[0].literal
            and (argv[0].value not in BASH_BUILTINS)
        ):
            # A PATH directory inside the workspace (an activated .venv/bin)
            # makes a bare name run a file the agent may have put there.
            shadow = P.path_shadow(argv[0].value, c.path_dirs, c.bases)
            if shadow is not None:
                s.prog_trusted = False
                s.prog_path = posixpath.relpath(shadow, c.ws) if P.inside(shadow, c.ws) else shadow
        for w in part.path_args:
            place_word(s, w, c, None, findings)
        for w in part.listed:
            place_listing(s, w, c, findings)
        if part.chdirs:
            # git -C DIR, env -C DIR: the program opens its relative paths from
            # DIR, so they are placed from there too (a superset of where).
            saved = c.bases
            try:
                for k in range(1, len(part.chdirs)):  # git -C a -C b: b is a/b
                    c.bases = chdir_bases(part.chdirs[:k], saved or (c.ws,))
                    place_word(s, part.chdirs[k], c, None, findings)
                c.bases = chdir_bases(part.chdirs, saved or (c.ws,))
                chdirs = {id(w) for w in part.chdirs}
                for w in part.path_args:
                    if id(w) not in chdirs:
                        place_word(s, w, c, None, findings)
                for w in part.listed:
                    place_listing(s, w, c, findings)
            finally:
                c.bases = saved
        if part.kind == "command" and s.base == "git" and s.prog_trusted:
            # git searches upwards for its repository: from a workspace inside
            # a larger repository (a package of a monorepo) `git show
            # HEAD:other/secret` reads the rest of it.
            starts = chdir_bases(part.chdirs, c.bases or (c.ws,)) if part.chdirs else c.bases
            for base in starts or (c.ws,):
                repo = P.enclosing_repository(base)
                if repo is not None and not P.inside(repo, c.ws):
                    s.outside.append(f"{repo} (the repository git finds from {base})")
                    break
        if part.kind == "command" and s.base in ("cd", "pushd"):
            # where a cd in this command may go (logically too: cd lnk/../..)
            for b in c.bases[1:]:
                if not P.inside(b, c.ws):
                    s.outside.append(f"{b} (where a cd in this command goes)")
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
                place_word(s, r.target, c, s.reads, findings)
        s.network = part.network
        s.dangers = tuple(part.dangers)
        s.command = part.kind == "command"
        s.known = part.known
        s.unknown = tuple(part.unknown)
        return s

    # -- parts ----------------------------------------------------------------

    def _judge_part(self, part: Part, tool: str, c: Call) -> tuple[PartDecision, bool]:
        results: list[Result] = [
            Result(f.decision, f"overseer:{f.kind}", f.reason, hard=True) for f in part.findings
        ]
        findings: list[Result] = []
        s_unknown: Subject | None = None
        if part.kind in ("command", "statement", "wrapper") and part.argv:
            s = self._part_subject(part, tool, c, findings)
            if part.kind == "command" and not part.known:
                s_unknown = s
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
                    place_word(s, r.target, c, s.reads, findings)
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
            place(target, w.value, c, target.writes)
            res = self.judge(target, c)
            if res.decision != "allow":
                res.hard = True
                res.reason = f"write to {w.value}: {res.reason}"
            results.append(res)
            results.extend(_settings_asks(target.writes, c))
        if s_unknown is not None:
            # a program the catalogue does not know may write any file it names
            results.extend(_settings_asks(s_unknown.paths, c))
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
        c = Call(ws, exact, dirs, collect, (cwd,), sandbox=facts.sandbox)
        if facts.commands:
            c.path_dirs = P.workspace_path_dirs(os.environ.get("PATH", ""), ws)
        parts: list[PartDecision] = []
        results: list[Result] = []
        network_ok: list[bool] = []
        for command in facts.commands:
            analysis = analyse(command if isinstance(command, str) else str(command))
            c.bases = cd_bases(analysis.parts, cwd)
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
                place(s, r, c, s.reads)
            for w in facts.writes:
                place(s, w, c, s.writes)
            res = self.judge(s, c)
            results.append(res)
            results.extend(_settings_asks(s.writes, c))
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
        hard = any(r.hard and r.decision != "allow" for r in results)
        return Verdict(
            decision=best.decision,
            rule=best.rule,
            reason=reason,
            parts=parts,
            network=network,
            hard=hard,
        )

    def strictest(self) -> Decision:
        """The strictest decision any rule (or the default) can produce."""
        decisions = [r.decision for r in self.rules] + [self.default]
        return max(decisions, key=STRICTNESS.__getitem__)


def _settings_asks(paths: Sequence[str], c: Call) -> list[Result]:
    """A hard ask for each write to overseer's own settings (``settings``)."""
    return [
        Result("ask", "overseer:own-settings", settings_reason(p), hard=True)
        for p in own_settings(paths, c.ws)
    ]


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
