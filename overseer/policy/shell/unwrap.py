"""Wrappers and shells: what a part really runs.

``env VAR=x``, ``nice``, ``timeout``, ``nohup``, ``command``, ``builtin``,
``stdbuf``, ``time``, ``setsid``, ``xargs``... are skipped with their options
and the command they run is judged (the wrapper levels are kept for deny and
ask rules). ``sh -c LITERAL`` is analysed recursively; a shell given anything
else is a finding.
"""

from __future__ import annotations

from collections.abc import Callable

from .checks import program_checks
from .model import Part, Word
from .programs import (
    EXEC_BUILTINS,
    SHELLS,
    WRAPPERS,
    program_name,
    trusted_program,
)
from .wrappers import WRAPPER_SPECS, unwrap_options


def unwrap(part: Part, words: list[Word], depth: int, run: Callable[[str, int], None]) -> None:
    """Set ``part.argv`` to what runs (and ``part.outer`` to the wrapper levels)."""
    outer: list[tuple[Word, ...]] = []
    argv = words
    for _ in range(16):
        head = argv[0]
        if not head.literal:
            part.add("dynamic-program", f"the program name {head.source} is not a literal")
            break
        if head.glob:
            part.add("dynamic-program", f"the program name {head.source} is a glob pattern")
            break
        name = program_name(head.value)
        if not trusted_program(head.value):
            break  # ./env is whatever the workspace put there, not env
        if name in EXEC_BUILTINS and name != "exec":
            part.add(name.strip(".") or "source", EXEC_BUILTINS[name])
            break
        if name in WRAPPERS:
            rest = _unwrap_one(part, name, argv)
            if rest is None:
                break
            outer.append(tuple(argv))
            if not rest:
                # a bare wrapper ("env", "time"): judge it as itself
                outer.pop()
                break
            argv = rest
            continue
        if name in SHELLS and _shell(part, name, argv, depth, run):
            part.outer = tuple(outer)
            part.argv = tuple(argv)
            part.kind = "wrapper"
            return
        break
    part.outer = tuple(outer)
    part.argv = tuple(argv)
    program_checks(part)


def _unwrap_one(part: Part, name: str, argv: list[Word]) -> list[Word] | None:
    """Skip a wrapper and its options; None when it does not run a command."""
    vals = argv
    i = 1
    n = len(vals)

    def lit(k: int) -> str | None:
        return vals[k].value if k < n and vals[k].literal else None

    if name in WRAPPER_SPECS:
        return unwrap_options(part, name, argv)
    if name == "exec":
        part.add("exec", EXEC_BUILTINS["exec"])
        while i < n and (lit(i) or "").startswith("-"):
            if lit(i) == "-a":
                i += 1
            i += 1
        return vals[i:]
    if name in ("builtin", "coproc", "busybox"):
        if i < n and lit(i) == "--":
            i += 1
        return vals[i:]
    return vals[i:]


# Options of `sh -c LITERAL` that leave the script meaning what it says
# (-c itself, -s, errexit, nounset, xtrace, verbose, noexec, login).
_HARMLESS_SHELL_FLAGS = frozenset("cseuxvnl")
_HARMLESS_SHELL_LONG = frozenset({"--norc", "--noprofile", "--noediting", "--login"})
_HARMLESS_SHELL_SET_O = frozenset(
    {"pipefail", "errexit", "nounset", "xtrace", "verbose", "noclobber", "noexec"}
)


# The literal script is parsed with bash's grammar: true to what bash runs,
# and to what a POSIX sh (dash, ash) runs where the two agree. They do not on
# $'...' (dash reads `$'\'<newline>cmd<newline>...'` as `$\` and then runs cmd,
# where bash sees one quoted word) nor $"...". Other shells have grammars of
# their own (zsh glob qualifiers run code, fish quotes differently).
_BASH = frozenset({"bash", "rbash"})
_POSIX_SH = frozenset({"sh", "dash", "ash"})


def _foreign_syntax(name: str, script: str) -> str | None:
    """Why ``name`` would not read ``script`` the way bash's grammar does."""
    if name in _BASH:
        return None
    if name not in _POSIX_SH:
        return f"{name} has a syntax of its own, which overseer does not analyse"
    for quote in ("$'", '$"'):
        if quote in script:
            return f"{name} does not read {quote}...{quote[1]} as bash does"
    return None


def _shell(
    part: Part, name: str, argv: list[Word], depth: int, run: Callable[[str, int], None]
) -> bool:
    """``sh -c LITERAL`` is analysed recursively (True: the part is only a
    wrapper now). Anything else a shell runs is judged or flagged here."""
    if part.unknown_args:
        # xargs splices its input into the script (-I) or its arguments.
        part.add("shell-code", f"xargs runs {name} with code or arguments taken from its input")
        return False
    i = 1
    n = len(argv)
    code = False
    stdin = False
    changes: list[str] = []  # options that change how the script is read or run
    while i < n:
        w = argv[i]
        if not w.literal:
            part.add("dynamic-argument", f"{name} argument {w.source} is not a literal")
            return False
        v = w.value
        if v == "--" or v == "-":
            i += 1
            break
        if v.startswith("--"):
            if v in ("--rcfile", "--init-file"):
                changes.append(f"{v} runs a file of shell code first")
                i += 2
                continue
            if v not in _HARMLESS_SHELL_LONG:
                changes.append(f"{v} changes how the shell reads or runs the script")
            i += 1
            continue
        if v.startswith(("-", "+")) and len(v) > 1:
            letters = v[1:]
            if "c" in letters:
                code = True
            if "s" in letters:
                stdin = True
            odd = set(letters) - _HARMLESS_SHELL_FLAGS if v[0] == "-" else set(letters)
            if v == "-o" and i + 1 < n and argv[i + 1].value in _HARMLESS_SHELL_SET_O:
                odd = set()
            if odd:
                # -O extglob (@(..) globs), -O cdable_vars (cd HOME), -k (VAR=x
                # words anywhere become environment), -i (reads an rc file)...
                changes.append(f"{v} changes how the shell reads or runs the script")
            if letters[-1] in "oO":
                i += 2
                continue
            i += 1
            continue
        break
    if changes and code:
        part.add("shell-options", f"{name} {changes[0]}")
        return False
    if code:
        if i >= n:
            part.add("shell-code", f"{name} -c without a command string")
            return False
        script = argv[i]
        if not script.literal:
            part.add(
                "shell-code",
                f"{name} -c runs a string that is not a literal ({script.source[:60]})",
            )
            return False
        foreign = _foreign_syntax(name, script.value)
        if foreign:
            part.add("shell-code", f"{name} -c: {foreign}")
            return False
        # A literal script: judge what it runs, part by part. The shell
        # part itself stays (its redirections and findings still count).
        run(script.value, depth + 1)
        return True
    if stdin or i >= n:
        part.add("shell-stdin", f"{name} runs shell code read from its standard input")
    return False


# -- per-program checks -------------------------------------------------
