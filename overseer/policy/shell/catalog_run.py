"""The program catalogue, part 4: running the project's tests.

pytest and ``python -m pytest|unittest`` run code from the workspace (test
files, conftest.py): their entries say so, and the policy lets them run only
inside the sandbox. Options that load other code or configuration (``-p``
plugins, ``-c`` ini files, ``-o`` overrides such as ``addopts``,
``--pdbcls``, ``--rootdir``, ``--confcutdir``) are not in the table: they
ask.
"""

from __future__ import annotations

import re

from .grammar import MULTI_WORD, Opt, Parsed, Spec, parse, spec, with_opts
from .model import Part

# A warning filter action:message:category:module:lineno imports the module
# of a dotted category (error::evil.Warn imports evil): builtin categories only.
_WARNING_FILTER = re.compile(r"^[^:]*(?::[^:]*(?::[^:.]*(?::.*)?)?)?$")
# -X options that only switch diagnostics (pycache_prefix= writes elsewhere,
# presite= imports a module).
_X_OPTION = re.compile(
    r"^(?:importtime(?:=\d)?|dev|utf8(?:=[01])?|tracemalloc(?:=\d+)?|faulthandler"
    r"|showrefcount|warn_default_encoding|no_debug_ranges|frozen_modules=(?:on|off)"
    r"|int_max_str_digits=\d+|cpu_count=(?:\d+|default)|perf|gil=[01])$"
)

_RUNS_TESTS = "runs the project's tests, which execute code from the workspace"

PYTEST = spec(
    "pytest",
    "runs the project's tests",
    short="q v x s k:T m:T r:T l n:T h V",
    long="quiet verbose exitfirst maxfail=N capture=T showlocals no-showlocals tb=T "
    "show-capture=T full-trace color=T code-highlight=T durations=N durations-min=N lf "
    "last-failed ff failed-first nf new-first sw stepwise sw-skip stepwise-skip lfnf=T "
    "last-failed-no-failures=T co collect-only strict-markers strict-config strict markers "
    "fixtures fixtures-per-test disable-warnings disable-pytest-warnings runxfail "
    "deselect=P ignore=R ignore-glob=T continue-on-collection-errors doctest-modules "
    "doctest-glob=T doctest-continue-on-failure import-mode=T no-header no-summary "
    "setup-only setup-show setup-plan keep-duplicates basetemp=W junitxml=W junit-xml=W "
    "log-level=T log-cli-level=T log-format=T log-date-format=T log-file=W "
    "log-file-level=T timeout=N asyncio-mode=T dist=T numprocesses=T maxprocesses=N "
    "count=N pdb trace xfail-tb",
    args="P*",
    # -p no:NAME only switches a plugin off; -p NAME loads one (asks).
    extra={
        "-p": Opt("T", shape=re.compile(r"^no:[\w.-]+$")),
        "-W": Opt("T", shape=_WARNING_FILTER),
    },
    dangers={"--basetemp": "empties the directory it names first (rm -rf)"},
    runs_code=_RUNS_TESTS,
    # pytest (argparse, allow_abbrev=False) takes no abbreviations, and reads
    # more arguments from @FILE (-p plugins, --junitxml=/elsewhere...).
    abbrev=False,
    at_files=True,
    cwd_default=True,
)


def _unittest_operands(part: Part, p: Parsed) -> None:
    """``unittest discover [START [PATTERN [TOP]]]``: START and TOP are
    directories whose tests run (``discover ../other`` runs another project's
    code); any other operand naming a file (``a/b.py``) is read too."""
    ops = [(k, w) for k, w, _ in p.operands]
    if ops and ops[0][1].value == "discover":
        for pos, (_, w) in enumerate(ops[1:4]):
            if pos != 1:  # START, TOP (PATTERN is text)
                p.reads.append(w)
        if len(ops) > 4:
            p.unknown.append("unittest discover takes at most three operands")
        return
    for _, w in ops:
        if not w.literal or "/" in w.value or w.value.startswith(("~", ".")):
            p.reads.append(w)


UNITTEST = spec(
    "unittest",
    "runs the project's unittest tests",
    short="v q f c b k:T s:R p:T t:R",
    long="verbose quiet locals failfast catch buffer durations=N start-directory=R "
    "pattern=T top-level-directory=R",
    args="T*",
    runs_code=_RUNS_TESTS,
    cwd_default=True,
    check=_unittest_operands,
)

MODULES: dict[str, Spec] = {"pytest": PYTEST, "unittest": UNITTEST}
"""What ``python -m MODULE`` the table knows."""

_PY_FLAGS = frozenset("BbdEhIiOqsSuvVxP")
_PY_VALUE = frozenset("WX")


def _python(s: Spec, part: Part, start: int) -> Parsed:
    """python [options] (-m MODULE args | -c CODE | SCRIPT args | -)."""
    p = Parsed(s, start=start)
    argv = part.argv
    n = len(argv)
    i = start
    while i < n:
        w = argv[i]
        v = w.value
        if not w.literal or v == "-":
            return p  # a finding of its own (checks): dynamic, or code from stdin
        if v == "--":
            i += 1
            break
        if v.startswith("--"):
            if v not in ("--help", "--version"):
                p.unknown.append(f"python does not know the option {v.split('=')[0]}")
            i += 1
            continue
        if not v.startswith("-"):
            break
        letters = v[1:]
        for k, c in enumerate(letters):
            if c in _PY_FLAGS:
                continue
            if c in _PY_VALUE:
                value = letters[k + 1 :]
                if not value:
                    i += 1
                    value = argv[i].value if i < n and argv[i].literal else ""
                    if i < n and argv[i].glob:
                        p.unknown.append(f"python -{c} {argv[i].source[:40]}: {MULTI_WORD}")
                shape = _WARNING_FILTER if c == "W" else _X_OPTION
                if not shape.match(value):
                    p.unknown.append(f"python -{c} {value[:40]!r} is not a value it knows")
                break
            if c == "m":
                module = letters[k + 1 :] or (argv[i + 1].value if i + 1 < n else "")
                nxt = i + 1 if letters[k + 1 :] else i + 2
                sub = MODULES.get(module)
                if sub is None:
                    p.unknown.append(f"python -m {module[:40]} is not in overseer's table")
                    p.runs_code = "runs a Python module"
                    return p
                p.sub = parse(sub, part, nxt)
                return p
            if c == "c":
                return p  # a code string: a finding of its own (checks)
            p.unknown.append(f"python does not know the option -{c}")
            break
        i += 1
    if i < n:
        p.operands.append((i, argv[i], "R"))
        p.reads.append(argv[i])
        p.runs_code = "runs a Python script from the workspace"
    return p


PYTHON = Spec("python", "the Python interpreter (-m pytest, -m unittest)", custom=_python)

RUN: list[Spec] = [PYTEST, with_opts(PYTEST, "py.test", "runs the project's tests"), PYTHON]
"""Test runners."""
