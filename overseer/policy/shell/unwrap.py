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
from .options import assigned_paths, short_cluster
from .programs import (
    EXEC_BUILTINS,
    OPTION_WRAPPERS,
    PROTECTIVE_VARS,
    SHELLS,
    WRAPPERS,
    is_dangerous_var,
    program_name,
    trusted_program,
)
from .words import literal_word


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

    if name == "exec":
        part.add("exec", EXEC_BUILTINS["exec"])
        while i < n and (lit(i) or "").startswith("-"):
            if lit(i) == "-a":
                i += 1
            i += 1
        return vals[i:]
    if name in ("nohup", "builtin", "coproc", "busybox"):
        if i < n and lit(i) == "--":
            i += 1
        return vals[i:]
    if name == "command":
        while i < n:
            v = lit(i)
            if v is None or not v.startswith("-") or v == "-":
                break
            if v == "--":
                i += 1
                break
            if "v" in v or "V" in v:
                return None  # `command -v x` only looks a name up
            i += 1
        return vals[i:]
    if name == "time":
        while i < n:
            v = lit(i)
            if v is None or not v.startswith("-"):
                break
            if v in ("-o", "--output") or v.startswith("--output="):
                target = v.split("=", 1)[1] if "=" in v else lit(i + 1)
                if target:
                    part.writes.append(literal_word(target))
                i += 1 if "=" in v else 2
                continue
            if v in ("-f", "--format"):
                i += 2
                continue
            i += 1
        return vals[i:]
    if name in OPTION_WRAPPERS:
        takes_value, refuse = OPTION_WRAPPERS[name]
        j = i
        while j < n:
            v = lit(j)
            if v is None or not v.startswith("-"):
                break
            if v in refuse:
                return None  # acts on another process, runs nothing itself
            if v == "--":
                j += 1
                break
            j += 2 if v in takes_value else 1
        if name == "timeout":
            return vals[j + 1 :] if j < n else []  # skip DURATION
        return vals[j:]
    if name == "env":
        while i < n:
            v = lit(i)
            if v is None:
                part.add("dynamic-argument", f"env argument {vals[i].source} is not a literal")
                return vals[i:]
            if v in ("-S", "--split-string") or v.startswith(("-S", "--split-string=")):
                part.add("env-split", "env -S splits a string into a command")
                return vals[i + 1 :]
            if v in ("-C", "--chdir") or v.startswith(("--chdir=", "-C")):
                d = v.split("=", 1)[1] if "=" in v else (v[2:] if len(v) > 2 else lit(i + 1))
                if d:
                    part.path_args.append(literal_word(d))
                i += 1 if ("=" in v or len(v) > 2) else 2
                continue
            if v in ("-u", "--unset") or v.startswith(("-u", "--unset=")):
                attached = "=" in v or (v[1] != "-" and len(v) > 2)
                var = v.split("=", 1)[1] if "=" in v else (v[2:] if attached else lit(i + 1))
                if var is None or is_dangerous_var(var) or var in PROTECTIVE_VARS:
                    part.add(
                        "dangerous-variable",
                        f"env -u {var or '?'} removes a setting that keeps commands safe",
                    )
                i += 1 if attached else 2
                continue
            if v in ("-i", "--ignore-environment", "-") or (
                short_cluster(v) and "i" in v and not v.startswith(("-C", "-S", "-P"))
            ):
                part.add(
                    "dangerous-variable", "env -i removes the settings that keep commands safe"
                )
                i += 1
                continue
            if v == "-P":
                part.add("env-path", "env -P changes where the program is looked up")
                i += 2
                continue
            if v == "--":
                i += 1
                continue
            if v.startswith("-") and v != "-":
                i += 1
                continue
            if "=" in v and not v.startswith("="):
                var = v.split("=", 1)[0]
                if is_dangerous_var(var):
                    part.add(
                        "dangerous-variable",
                        f"sets {var}, which changes which programs run or how",
                    )
                assigned_paths(part, var, v.split("=", 1)[1])
                i += 1
                continue
            break
        return vals[i:]
    if name == "xargs":
        short_arg = set("adEeIiLlnPs")
        long_arg = {
            "--arg-file",
            "--delimiter",
            "--eof",
            "--replace",
            "--max-lines",
            "--max-args",
            "--max-procs",
            "--max-chars",
            "--process-slot-var",
        }
        while i < n:
            v = lit(i)
            if v is None:
                part.add("dynamic-argument", f"xargs argument {vals[i].source} is not a literal")
                return vals[i:]
            if not v.startswith("-") or v == "-":
                break
            if v == "--":
                i += 1
                break
            if v.startswith("--"):
                key = v.split("=", 1)[0]
                if key == "--arg-file":
                    f = v.split("=", 1)[1] if "=" in v else lit(i + 1)
                    if f:
                        part.path_args.append(literal_word(f))
                i += 1 if ("=" in v or key not in long_arg) else 2
                continue
            letter = v[1]
            if letter in short_arg:
                # -n1 / -n 1; -e/-i/-l take an optional attached value only
                if letter == "a":
                    f = v[2:] or lit(i + 1)
                    if f:
                        part.path_args.append(literal_word(f))
                if len(v) > 2 or letter in "eil":
                    i += 1
                else:
                    i += 2
                continue
            i += 1
        rest = vals[i:] or [literal_word("echo")]
        part.unknown_args = True
        return rest
    return vals[i:]


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
                i += 2
                continue
            i += 1
            continue
        if v.startswith(("-", "+")) and len(v) > 1:
            letters = v[1:]
            if "c" in letters:
                code = True
            if "s" in letters:
                stdin = True
            if letters[-1] in "oO":
                i += 2
                continue
            i += 1
            continue
        break
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
        # A literal script: judge what it runs, part by part. The shell
        # part itself stays (its redirections and findings still count).
        run(script.value, depth + 1)
        return True
    if stdin or i >= n:
        part.add("shell-stdin", f"{name} runs shell code read from its standard input")
    return False


# -- per-program checks -------------------------------------------------
