"""The paths a shell command may touch, as an independent guard sees them.

``Broker._guard`` keeps every tool away from overseer's own files whatever
the policy says (a custom ``Policy`` may allow anything). For a shell
command it cannot rely on the policy's judgement, so it asks this module for
the places the command names: every literal word of every part (quoting
undone, ``$'..'`` decoded), globs expanded the way bash would, relative
words taken from the shell's cwd and from every directory a ``cd`` in the
command goes to. A part that walks directories (``rm -r``, ``cp -r``,
``find``, ``grep -r``, ``tar``...) and names an *ancestor* of a protected
path reaches it too.
"""

from __future__ import annotations

import glob as globlib
import itertools
import os
import re
from collections.abc import Sequence

from .shell import MAX_GLOB_WORDS, Part, Word, analyse, program_name


class TooManyGlobs(ValueError):
    """The command has more glob words than can be expanded and checked."""


_WALKERS = frozenset(
    {"find", "du", "rg", "ripgrep", "tree", "tar", "zip", "7z", "rsync", "scp", "cpio", "git"}
    | {"ag", "ack", "fd", "fdfind", "shred", "chattr", "setfacl"}
)
_RECURSIVE_LONG = ("--recursive", "--archive", "--dereference-recursive")


def _walks(part: Part) -> bool:
    if not part.argv:
        return False
    name = program_name(part.argv[0].value)
    if name in _WALKERS:
        return True
    for w in part.argv[1:]:
        v = w.value
        if not w.literal or v == "--":
            continue
        if v.startswith("--"):
            key = v.split("=", 1)[0]
            if len(key) > 3 and any(lo.startswith(key) for lo in _RECURSIVE_LONG):
                return True
        elif v.startswith("-"):
            # -r/-R recurse (ls -r only reverses); cp -a is -dR.
            letters = "R" if name == "ls" else ("rRa" if name == "cp" else "rR")
            if any(c in letters for c in v[1:]):
                return True
    return False


_BRACE = re.compile(r"\{([^{}]*,[^{}]*)\}")


def _braces(text: str, limit: int = 256) -> list[str]:
    """Bash brace expansion of the comma form (``/a/{b,c}/d``), bounded."""
    out: list[str] = []
    todo = [text]
    while todo and len(out) + len(todo) <= limit:
        t = todo.pop()
        m = _BRACE.search(t)
        if m is None:
            out.append(t)
            continue
        todo += [t[: m.start()] + alt + t[m.end() :] for alt in m.group(1).split(",")]
    return out + todo


def _values(w: Word, bases: Sequence[str]) -> list[str]:
    if not w.literal:
        if "{" in w.source and not any(c in w.source for c in "$`'\"\\"):
            return [w.source, *_braces(w.source)]
        return [w.source]
    value = os.path.expanduser(w.value) if w.value.startswith("~") else w.value
    out = [value]
    if w.glob:
        try:
            if os.path.isabs(value):
                out += itertools.islice(globlib.iglob(value), 1000)
            else:
                for base in bases:
                    out += [
                        os.path.join(base, m)
                        for m in itertools.islice(globlib.iglob(value, root_dir=base), 1000)
                    ]
        except (OSError, ValueError):
            pass
    return out


def touched(command: str, cwd: str) -> tuple[list[str], list[str]]:
    """(paths the command names, directories a walking part descends from),
    as absolute, normalised (not symlink-resolved) paths."""
    parts = analyse(command).parts
    bases = [cwd]
    named: list[str] = []
    walked: list[str] = []
    per_part = [
        [*part.argv[1:], *part.path_args, *part.writes, *(r.target for r in part.redirects)]
        for part in parts
    ]
    globs = sum(w.glob for words in per_part for w in words)
    if globs > MAX_GLOB_WORDS:
        raise TooManyGlobs(f"{globs} glob patterns, more than {MAX_GLOB_WORDS} can be checked")
    for part, words in zip(parts, per_part, strict=True):
        walks = _walks(part)
        for w in words:
            for v in _values(w, bases):
                if not v or "\x00" in v:
                    continue
                for base in bases if not os.path.isabs(v) else ("/",):
                    p = os.path.normpath(os.path.join(base, v))
                    named.append(p)
                    if walks:
                        walked.append(p)
        if part.argv and program_name(part.argv[0].value) in ("cd", "pushd"):
            targets = [w for w in part.argv[1:] if w.literal and not w.value.startswith("-")]
            for t in targets[-1:]:
                v = os.path.expanduser(t.value)
                for base in list(bases):
                    moved = os.path.normpath(os.path.join(base, v))
                    if moved not in bases and len(bases) < 16:
                        bases.append(moved)
    return named, walked
