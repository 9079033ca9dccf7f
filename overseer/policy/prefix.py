"""Command prefixes and flags, as rules write them: ``command = "git status|log"``,
``flags = ["-r", "--recursive"]`` (see docs/policy.md)."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from . import paths as P

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
