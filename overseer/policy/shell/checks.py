"""Per-program checks: findings, dangers, network use and path arguments.

After unwrapping, a part's program is looked up here: interpreters given a
code string, awk programs that run commands, sed scripts that write, git's
global options, the options of inspection programs that write files or run
programs, network programs, and which arguments are paths to confine.
"""

from __future__ import annotations

from .catalog import lookup
from .grammar import MULTI_WORD, Parsed, parse
from .model import Danger, Part, Word
from .options import (
    CLUSTER_PATH_RE,
    first_operand,
    long_opt,
    looks_like_path,
    path_tail,
)
from .programs import (
    ARG_SHORT,
    ARITH_CODE_RE,
    ARITH_CODE_REASON,
    ASSIGNERS,
    ATTACHED_ONLY,
    CODE_LONG,
    CODE_SHORT,
    DEV_FD_RE,
    GIT_DANGEROUS_OPTIONS,
    GIT_HARMLESS_GLOBAL,
    HARMLESS_TARGETS,
    NETWORK_PROGRAMS,
    NETWORK_SUBCOMMANDS,
    NON_PATH_PROGRAMS,
    PYTHON_RE,
    RUNS_CODE,
    STATE_BUILTINS,
    STRING_RUNNERS,
    is_dangerous_var,
    program_name,
)
from .words import literal_word


def program_checks(part: Part) -> None:
    argv = part.argv
    head = argv[0]
    name = program_name(head.value)
    vals = [w.value for w in argv]
    n = len(vals)

    if name in STATE_BUILTINS:
        part.add("shell-state", STATE_BUILTINS[name])
    if name in STRING_RUNNERS:
        part.add("runs-string", STRING_RUNNERS[name])
    if name in ASSIGNERS:
        _assigner_checks(part, name, argv)

    interp = "python" if PYTHON_RE.match(name) else name
    if interp in CODE_SHORT:
        _interpreter(part, interp, argv)

    if name in NETWORK_PROGRAMS:
        part.network = True
    else:
        subs = NETWORK_SUBCOMMANDS.get(name)
        if subs is not None:
            sub = first_operand(vals, 1)
            if sub in subs:
                part.network = True
        if interp == "python" and "-m" in vals:
            k = vals.index("-m")
            if k + 1 < n and vals[k + 1] in ("pip", "uv", "ensurepip", "http.server", "pipx"):
                part.network = True

    if name == "git":
        _git(part)
    elif name in ("test", "["):
        for w in argv[1:]:
            if w.literal and ARITH_CODE_RE.search(w.value):
                part.add("arithmetic-code", ARITH_CODE_REASON.format(w.source[:60]))
    elif name in ("cd", "pushd"):
        if any(w.literal and w.value == "-" for w in argv[1:]):
            part.add("dynamic-argument", "cd - goes to a directory that cannot be checked")
        elif not [w for w in argv[1:] if not (w.literal and w.value.startswith("-"))]:
            # a bare cd goes home: outside the workspace
            part.path_args.append(Word("~", "~", True, False, True))
    if name in RUNS_CODE:
        part.runs_code = RUNS_CODE[name]
    if part.unknown_args and name not in ("echo", "true", "false"):
        part.add(
            "unknown-arguments",
            f"xargs gives {name} arguments from its input, which cannot be checked",
        )
    spec = lookup(name)
    if spec is None:
        part.known = False
        _path_args(part, name)
        return
    _dynamic_args(part, name)
    _apply(part, parse(spec, part))


def _apply(part: Part, parsed: Parsed) -> None:
    """What the program's table entry says its words are."""
    for level in parsed.levels():
        part.unknown.extend(level.unknown)
        part.path_args.extend(level.reads)
        part.listed.extend(level.listed)
        for w in level.writes:
            if w.literal and DEV_FD_RE.match(w.value) and int(w.value[8:]) > 9:
                # tee /dev/fd/250: the shell's own descriptors (its status
                # socket among them), as a redirection >&250 would be
                part.add("redirect", f"{w.source[:40]} is a descriptor of the shell's")
            elif not (w.literal and (w.value in HARMLESS_TARGETS or DEV_FD_RE.match(w.value))):
                part.writes.append(w)
        part.dangers.extend(Danger(k, why) for k, why in level.dangers)
        for why in level.code:
            part.add("interpreter-code", why)
        part.follows_links = part.follows_links or level.follows_links
        if level.runs_code and not part.runs_code:
            part.runs_code = level.runs_code


def _dynamic_args(part: Part, name: str) -> None:
    if name in NON_PATH_PROGRAMS or part.kind != "command":
        return
    for w in part.argv[1:]:
        if not w.literal:
            part.add(
                "dynamic-argument",
                f"argument {w.source[:60]} is not a literal; its value cannot be checked",
            )


def _assigner_checks(part: Part, name: str, argv: tuple[Word, ...]) -> None:
    if name == "printf":
        for k, w in enumerate(argv):
            if w.literal and w.value.startswith("-v"):
                part.dangers.append(Danger(k, "printf -v assigns a shell variable"))
                target = w.value[2:] or (argv[k + 1].value if k + 1 < len(argv) else "")
                if is_dangerous_var(target):
                    part.add("dangerous-variable", f"printf -v sets {target}")
        return
    for w in argv[1:]:
        if not w.literal:
            continue
        v = w.value.split("=", 1)[0]
        if is_dangerous_var(v):
            part.add("dangerous-variable", f"{name} sets {v}, which changes how later commands run")


def _interpreter(part: Part, interp: str, argv: tuple[Word, ...]) -> None:
    code_short = CODE_SHORT[interp]
    code_long = CODE_LONG.get(interp, frozenset())
    arg_short = ARG_SHORT.get(interp, "")
    name = program_name(argv[0].value)
    i, n = 1, len(argv)
    while i < n:
        w = argv[i]
        if not w.literal:
            part.add("dynamic-argument", f"{name} argument {w.source} is not a literal")
            return
        v = w.value
        if v == "-":
            part.add("interpreter-stdin", f"{name} runs code read from its standard input")
            return
        if v == "--":
            i += 1
            break
        if v.startswith("--") or (interp in ("pwsh", "powershell") and v.startswith("-")):
            if v.split("=", 1)[0].lower() in code_long:
                part.add("interpreter-code", f"{name} {v.split('=')[0]} runs a code string")
                return
            i += 1
            continue
        if v.startswith("-") and len(v) > 1:
            letters = v[1:]
            for k, letter in enumerate(letters):
                if letter in code_short:
                    part.add("interpreter-code", f"{name} -{letter} runs a code string")
                    return
                if letter in arg_short:
                    if letter == "m" and interp == "python":
                        return  # python -m MODULE: judged by rules as "python -m MODULE"
                    if k == len(letters) - 1 and interp not in ATTACHED_ONLY:
                        i += 1  # value is the next word
                    break
            i += 1
            continue
        return  # a script file: judged by rules
    part.add("interpreter-stdin", f"{name} runs code read from its standard input")


def _git(part: Part) -> None:
    argv = list(part.argv)
    vals = [w.value for w in argv]
    n = len(vals)
    i = 1
    strip: list[int] = []
    while i < n:
        v = vals[i]
        if not v.startswith("-"):
            break
        if v == "-c" or v.startswith(("--config-env", "--exec-path", "--git-dir")):
            # --git-dir picks a repository (maybe one the agent wrote into the
            # workspace) whose config can run programs (core.fsmonitor...).
            part.dangers.append(Danger(i, f"git {v.split('=')[0]} can make git run any program"))
            if v.startswith("--git-dir="):
                part.path_args.append(literal_word(v.split("=", 1)[1]))
            elif v == "--git-dir" and i + 1 < n:
                part.path_args.append(argv[i + 1])
            return  # keep argv unnormalised: no read-only rule matches it
        if v in ("-C", "--work-tree", "--namespace"):
            if i + 1 < n:
                if argv[i + 1].glob:
                    # `git -C [ab] log` is `git -C a b log`: b is the subcommand
                    part.unknown.append(f"git {v} {argv[i + 1].source[:40]}: {MULTI_WORD}")
                part.path_args.append(argv[i + 1])
                if v == "-C":
                    # git -C DIR: relative paths (--no-index files, -O FILE...)
                    # are opened from DIR.
                    part.chdirs.append(argv[i + 1])
            strip += [i, i + 1]
            i += 2
            continue
        if v.startswith("--work-tree="):
            part.path_args.append(literal_word(v.split("=", 1)[1]))
            strip.append(i)
            i += 1
            continue
        if v in GIT_HARMLESS_GLOBAL:
            strip.append(i)
            i += 1
            continue
        break  # unknown global option: leave it, no prefix rule will match
    if strip:
        argv = [w for k, w in enumerate(argv) if k not in set(strip)]
        part.argv = tuple(argv)
        vals = [w.value for w in argv]
    sub = vals[1] if len(vals) > 1 else ""
    if git_network(vals):
        part.network = True
    for k, v in enumerate(vals[2:], 2):
        key = long_opt(v, *GIT_DANGEROUS_OPTIONS) or v.split("=", 1)[0]
        if key in GIT_DANGEROUS_OPTIONS or (sub == "grep" and v.startswith("-O")):
            part.dangers.append(
                Danger(
                    k,
                    f"git {sub} {key} {GIT_DANGEROUS_OPTIONS.get(key, 'runs a pager command')}",
                )
            )
        elif sub == "format-patch" and (v == "-o" or v.startswith("--output-directory")):
            part.dangers.append(Danger(k, "git format-patch -o writes files"))


def _path_args(part: Part, name: str) -> None:
    """A program overseer has no entry for: every operand may be a path, and
    so may an option's value that looks like one."""
    if name in NON_PATH_PROGRAMS:
        return
    skip = part.skip_arg
    for k, w in enumerate(part.argv[1:], 1):
        if k == skip:
            continue
        if not w.literal:
            if part.kind == "command":
                part.add(
                    "dynamic-argument",
                    f"argument {w.source[:60]} is not a literal; its value cannot be checked",
                )
            continue
        v = w.value
        tail = path_tail(v) if ("=" in v or ":" in v) else None
        if tail is not None:
            part.path_args.append(Word(tail, w.source, True, w.glob, tail.startswith("~")))
        if v.startswith("--"):
            if "=" in v:
                value = v.split("=", 1)[1]
                if looks_like_path(value):
                    part.path_args.append(
                        Word(value, w.source, True, w.glob, value.startswith("~"))
                    )
            continue
        if v.startswith("-") and len(v) > 1:
            value = v[2:]
            if value and ("/" in value or value.startswith("~")):
                part.path_args.append(Word(value, w.source, True, w.glob, value.startswith("~")))
                # A bundle ends with an option taking a value: -rf/etc/passwd
                # is -r -f /etc/passwd.
                m = CLUSTER_PATH_RE.match(v)
                if m and m.group(1) != value:
                    value = m.group(1)
                    part.path_args.append(
                        Word(value, w.source, True, w.glob, value.startswith("~"))
                    )
            continue
        part.path_args.append(w)


def git_network(vals: list[str]) -> bool:
    sub = vals[1] if len(vals) > 1 else ""
    action = first_operand(vals, 2)
    if sub in ("push", "fetch", "pull", "clone", "ls-remote"):
        return True
    if sub == "remote":
        return action in ("update", "prune", "show", "set-head") and "-n" not in vals
    if sub == "submodule":
        return action in ("update", "add", "foreach", "sync")
    if sub == "archive":
        return any(v.startswith("--remote") for v in vals)
    return False
