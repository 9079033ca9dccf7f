"""Reading a program's options the way getopt does, for the checks.

Small helpers: GNU long options and their abbreviations, short-option
bundles, the operands of a command, and the paths hidden inside
``KEY=VALUE`` / ``FORMAT:PATH`` words and ``VAR=value`` assignments.
"""

from __future__ import annotations

import re

from .model import Part
from .programs import PATH_VARS
from .words import literal_word


def assigned_paths(part: Part, var: str, value: str) -> None:
    """Paths a ``VAR=value`` may make the program use: every piece of the
    value (split at ``:``) is placed as a path — a program may open any of
    them (``MAGIC=passwd_link file x`` reads the magic file through a link
    that points outside; ``PYTHONPYCACHEPREFIX=/tmp/x``) — and so is a path
    hidden in a ``KEY=VALUE`` piece. A piece that is not a path lands
    harmlessly in the workspace (``LC_ALL=C``)."""
    for piece in value.split(":"):
        if not piece:
            continue
        part.path_args.append(literal_word(piece))
        if var in PATH_VARS:
            continue
        tail = path_tail(piece)
        if tail is not None:
            part.path_args.append(literal_word(tail))


def long_opt(v: str, *options: str) -> str | None:
    """The long option ``v`` stands for, among ``options``, also when GNU-style
    abbreviated (``--out=x`` is ``--output=x`` to sort, git and friends)."""
    if not v.startswith("--") or len(v) < 3:
        return None
    key = v.split("=", 1)[0]
    for option in options:
        if option == key or (len(key) >= 3 and option.startswith(key)):
            return option
    return None


def short_cluster(v: str) -> bool:
    return len(v) > 1 and v[0] == "-" and v[1] != "-"


def has_opt(vals: list[str], letter: str, longs: tuple[str, ...]) -> bool:
    """``-LETTER`` (also in a bundle) or one of ``longs`` (also abbreviated)
    before ``--``."""
    for v in vals[1:]:
        if v == "--":
            return False
        if long_opt(v, *longs) or (short_cluster(v) and letter in v.split("=", 1)[0]):
            return True
    return False


def path_tail(value: str) -> str | None:
    """The path inside a ``KEY=VALUE`` or ``FORMAT:PATH`` word (pytest's
    ``-o cache_dir=/x``, ``--cov-report=html:/x``, ``VAR=/x cmd``) when it
    reaches outside by itself: absolute, ``~`` or ``..``. None otherwise."""
    for sep in ("=", ":"):
        if sep not in value:
            continue
        tail = value.split(sep, 1)[1]
        if sep == ":" and tail.startswith("//"):
            continue  # a URL (https://host)
        if tail.startswith(("/", "~")) or tail == ".." or tail.startswith("../"):
            return tail
        inner = path_tail(tail)
        if inner is not None:
            return inner
    return None


def first_operand(vals: list[str], start: int) -> str:
    for v in vals[start:]:
        if not v.startswith("-"):
            return v
    return ""


def operand_indexes(
    vals: list[str], start: int, short_arg: str, long_arg: tuple[str, ...]
) -> list[int]:
    out: list[int] = []
    i = start
    while i < len(vals):
        v = vals[i]
        if v == "--":
            out.extend(range(i + 1, len(vals)))
            break
        if v.startswith("--"):
            i += 2 if (v in long_arg) else 1
            continue
        if v.startswith("-") and len(v) > 1:
            i += 2 if (len(v) == 2 and v[1] in short_arg) else 1
            continue
        out.append(i)
        i += 1
    return out


CLUSTER_PATH_RE = re.compile(r"^-[A-Za-z0-9]+?([/~.].*)$")


def looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", ".")) or "/" in value
