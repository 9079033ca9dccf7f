"""Placing a subject's paths: resolving each path a part or a tool names
against the workspace (and every directory a ``cd`` in the command goes to),
expanding globs the way bash would, and sorting what is found into inside,
outside, unresolvable and protected (overseer's own files)."""

from __future__ import annotations

import glob as globlib
import itertools
import os
import re
from collections.abc import Sequence

from . import paths as P
from .rule import Call, Result, Subject
from .shell import MAX_GLOB_WORDS, Part, Word, program_name

MAX_GLOB_MATCHES = 5000


def place(s: Subject, value: str, c: Call, bucket: list[str] | None) -> None:
    bases = c.bases or (c.ws,)
    if len(bases) > 1 and value[:1] not in ("/", "~"):
        # A `cd` earlier in the command: the path may be relative to any
        # of the directories it went to; every reading must be allowed.
        for base in bases:
            place(s, value, Call(c.ws, c.protected, c.protected_dirs, None, (base,)), bucket)
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


def place_word(
    s: Subject, w: Word, c: Call, bucket: list[str] | None, findings: list[Result]
) -> None:
    if not w.glob:
        place(s, w.value, c, bucket)
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
                found = itertools.islice(globlib.iglob(value, root_dir=base), MAX_GLOB_MATCHES + 1)
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
        place(s, m, c, bucket)
    # The fixed directory part of the pattern is touched even with no match.
    head = value.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    place(s, os.path.dirname(head) or ".", c, bucket)


def place_listing(s: Subject, w: Word, c: Call, findings: list[Result]) -> None:
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
        place(s, d, c, None)


def cd_bases(parts: Sequence[Part], cwd: str) -> tuple[str, ...]:
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
