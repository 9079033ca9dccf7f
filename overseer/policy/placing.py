"""Placing a subject's paths: resolving each path a part or a tool names
against the workspace (and every directory a ``cd`` in the command goes to),
expanding globs the way bash would, and sorting what is found into inside,
outside, unresolvable and protected (overseer's own files)."""

from __future__ import annotations

import glob as globlib
import itertools
import os
import posixpath
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
        # "." (a program reading its cwd) is the base itself, already resolved
        path = bases[0] if value == "." else P.resolve(value, bases[0])
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


def superset_glob(pattern: str) -> str:
    """``pattern`` with every bracket expression made a ``*``: Python's glob
    reads ``[^x]`` as "^ or x" and knows no ``[[:alpha:]]``, where bash
    negates and classes, and a quoted ``\\[x\\]`` reaches here as a class.
    A ``*`` matches whatever the bracket can (one character, or the literal
    text), so the files found are a superset of what bash expands."""
    if "[" not in pattern:
        return pattern
    out: list[str] = []
    for comp in pattern.split("/"):
        i, n = 0, len(comp)
        buf: list[str] = []
        while i < n:
            c = comp[i]
            if c != "[":
                buf.append(c)
                i += 1
                continue
            j = i + 1
            if j < n and comp[j] in "!^":
                j += 1
            if j < n and comp[j] == "]":
                j += 1  # a leading ] is part of the set
            while j < n and comp[j] != "]":
                if comp[j] == "[" and j + 1 < n and comp[j + 1] in ":=.":
                    end = comp.find(comp[j + 1] + "]", j + 2)
                    j = end + 2 if end >= 0 else n
                    continue
                j += 1
            if j >= n:
                buf.append(comp[i:])  # no closing ]: bash reads [ as itself
                break
            buf.append("*")
            i = j + 1
        out.append("".join(buf))
    return "/".join(out)


def place_word(
    s: Subject, w: Word, c: Call, bucket: list[str] | None, findings: list[Result]
) -> None:
    if not w.glob:
        place(s, w.value, c, bucket)
        return
    value = w.value
    if w.tilde:
        value = os.path.expanduser(value)
    value = superset_glob(value)
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
    value = superset_glob(os.path.expanduser(w.value) if w.tilde else w.value)
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
                if m.startswith("-"):
                    # printf * with a file named -v: printf -v NAME assigns
                    reason = (
                        f"{w.source} expands to {m!r}, which the program would read as an option"
                    )
                    findings.append(Result("ask", "overseer:glob", reason, True))
                    return
                dirs.add(os.path.dirname(m) or ".")
                if len(dirs) > MAX_GLOB_MATCHES:
                    reason = f"{w.source} matches too many files to check"
                    findings.append(Result("ask", "overseer:glob", reason, True))
                    return
    except (OSError, ValueError, re.error):
        pass
    for d in sorted(dirs):
        place(s, d, c, None)


def _targets(target: Word, base: str) -> list[str]:
    """What ``target`` names from ``base``: the glob's matches (bash expands
    ``cd s*``), else the word itself."""
    if target.glob:
        value = os.path.expanduser(target.value) if target.tilde else target.value
        try:
            found = list(
                itertools.islice(
                    globlib.iglob(value, root_dir=None if os.path.isabs(value) else base), 17
                )
            )
        except (OSError, ValueError, re.error):
            found = []
        return found + [value]
    return [target.value]


def cd_bases(parts: Sequence[Part], cwd: str) -> tuple[str, ...]:
    """``cwd`` plus every directory a literal ``cd``/``pushd`` in the command
    may move to (relative to any earlier one): a superset of where each part
    really runs, so checking every path against each of them is safe.

    bash's ``cd`` is logical unless given ``-P``: ``cd lnk/..`` goes to the
    directory holding ``lnk``, not to the parent of its target, so each move
    is followed both ways (the logical ``$PWD`` strings are kept for the
    next ``cd``)."""
    bases = [cwd]
    logical = [cwd]  # $PWD as bash keeps it, for each reachable directory
    for part in parts:
        if not part.argv or program_name(part.argv[0].value) not in ("cd", "pushd"):
            continue
        words = part.argv[1:]
        physical_only = any(w.literal and w.value.startswith("-P") for w in words)
        operands = [w for w in words if not (w.literal and w.value.startswith("-"))]
        target = operands[-1] if operands else Word("~", "~", True, False, True)
        if not target.literal:
            continue  # already a finding (ask) on that part
        for base, pwd in list(zip(bases, logical, strict=True)):
            for value in _targets(target, base):
                moves: list[tuple[str, str]] = []
                try:
                    moved = P.resolve(value, base)
                    moves.append((moved, moved))
                    if not physical_only and not value.startswith("~"):
                        lpath = posixpath.normpath(posixpath.join(pwd, value))
                        moves.append((os.path.realpath(lpath), lpath))
                except (ValueError, OSError):
                    continue
                for phys, lpath in moves:
                    if phys not in bases and len(bases) < 16:
                        bases.append(phys)
                        logical.append(lpath)
    return tuple(bases)


def chdir_bases(dirs: Sequence[Word], bases: Sequence[str]) -> tuple[str, ...]:
    """The directories a program reaches after changing into ``dirs`` in
    order (``git -C a -C b``), from each of ``bases``."""
    out = list(bases)
    for d in dirs:
        if not d.literal:
            return tuple(out)
        nxt: list[str] = []
        for base in out:
            for value in _targets(d, base):
                try:
                    moved = P.resolve(value, base)
                except (ValueError, OSError):
                    continue
                if moved not in nxt and len(nxt) < 16:
                    nxt.append(moved)
        out = nxt or out
    return tuple(out)
