"""Wrappers read by grammar: the options of ``env``, ``xargs``, ``timeout``,
``nice``, ``stdbuf``, ``ionice``, ``setsid``, ``nohup``, ``time`` and
``command``, and where the command they run starts.

Each wrapper has a catalogue entry (``spec``) read the way its getopt does
(``+``: the options end at the first operand, which is the command), so GNU
abbreviations (``env --ch=/etc``, ``xargs --arg=F``), bundles (``xargs
-0aF``) and attached values (``time -o/tmp/x``) mean what they mean to the
program. An option the entry does not know is unknown (the part asks): a
wrapper option nobody listed might take the next word as its value, and
then the command judged would not be the command run.
"""

from __future__ import annotations

from .grammar import MULTI_WORD, Parsed, Spec, read_options, spec
from .model import Part, Word
from .options import assigned_paths
from .programs import PROTECTIVE_VARS, is_dangerous_var
from .words import literal_word

_SIGNALS = "block-signal==T default-signal==T ignore-signal==T list-signal-handling"

WRAPPER_SPECS: dict[str, Spec] = {
    s.name: s
    for s in [
        spec(
            "env",
            "runs a command with a changed environment",
            short="i 0 u:T C:R S:T v",
            long=f"ignore-environment null unset=T chdir=R split-string=T debug {_SIGNALS}",
            posix=True,
        ),
        spec(
            "xargs",
            "runs a command with arguments read from its input",
            short="0 a:R d:T E:T e::T I:T i::T L:N l::N n:N o p P:N r s:N t x",
            long="null arg-file=R delimiter=T eof==T replace==T max-lines==N max-args=N "
            "interactive max-procs=N no-run-if-empty max-chars=N show-limits verbose exit "
            "open-tty process-slot-var=T",
            posix=True,
        ),
        spec(
            "timeout",
            "runs a command with a time limit",
            short="k:T p s:T v",
            long="foreground kill-after=T preserve-status signal=T verbose",
            posix=True,
        ),
        spec(
            "nice",
            "runs a command at another priority",
            short="n:N",
            long="adjustment=N",
            posix=True,
            numeric=True,
        ),
        spec(
            "stdbuf",
            "runs a command with other stream buffering",
            short="i:T o:T e:T",
            long="input=T output=T error=T",
            posix=True,
        ),
        spec(
            "ionice",
            "runs a command at another I/O priority",
            short="c:T n:T p:T P:T t u:T",
            long="class=T classdata=T pid=T pgid=T ignore uid=T",
            posix=True,
        ),
        spec(
            "setsid",
            "runs a command in a new session",
            short="c f w",
            long="ctty fork wait",
            posix=True,
        ),
        spec("nohup", "runs a command immune to hangups", posix=True),
        # GNU time (/usr/bin/time); bash's time keyword takes -p only.
        spec(
            "time",
            "times a command",
            short="a f:T o:W p q v",
            long="append format=T output=W portability quiet verbose",
            posix=True,
        ),
        spec("command", "runs a command bypassing functions", short="p v V", posix=True),
    ]
}

_OTHER_PROCESS = ("-p", "-P", "-u", "--pid", "--pgid", "--uid")


def unwrap_options(part: Part, name: str, argv: list[Word]) -> list[Word] | None:
    """The command a wrapper with an entry runs (``[]``: none, the wrapper is
    judged as itself; None: it acts on another process or only looks a name
    up), recording on ``part`` what its options read, write and change."""
    sub = Part(text=part.text, argv=tuple(argv))
    parsed, first = read_options(WRAPPER_SPECS[name], sub, 1)
    part.unknown.extend(parsed.unknown)
    part.path_args.extend(parsed.reads)
    part.writes.extend(parsed.writes)
    rest = argv[first:]
    if name == "command" and parsed.has("-v", "-V"):
        return None  # `command -v x` only looks a name up
    if name == "ionice" and parsed.has(*_OTHER_PROCESS):
        return None
    if name == "env":
        return _env(part, parsed, rest)
    if name == "timeout":
        if rest and rest[0].glob:
            # `timeout [5s]h cat` is `timeout 5h sh cat` when 5h and sh exist
            part.unknown.append(f"timeout {rest[0].source[:40]}: {MULTI_WORD}")
        return rest[1:]  # DURATION, then the command
    if name == "nohup":
        # With the terminal as output nohup appends to nohup.out in the cwd.
        part.writes.append(literal_word("nohup.out"))
    if name == "xargs":
        for w in parsed.values("--process-slot-var"):
            if is_dangerous_var(w.value):
                part.add("dangerous-variable", f"xargs sets {w.value} for the command it runs")
        part.unknown_args = True
        return rest or [literal_word("echo")]
    return rest


def _env(part: Part, parsed: Parsed, rest: list[Word]) -> list[Word]:
    for w in parsed.values("-u", "--unset"):
        var = w.value if w.literal else None
        if var is None or is_dangerous_var(var) or var in PROTECTIVE_VARS:
            part.add(
                "dangerous-variable",
                f"env -u {var or w.source} removes a setting that keeps commands safe",
            )
    if parsed.has("-i", "--ignore-environment"):
        part.add("dangerous-variable", "env -i removes the settings that keep commands safe")
    if parsed.has("-S", "--split-string"):
        part.add("env-split", "env -S splits a string into a command")
    part.chdirs.extend(parsed.values("-C", "--chdir"))
    i = 0
    while i < len(rest):
        w = rest[i]
        if not w.literal:
            part.add("dynamic-argument", f"env argument {w.source} is not a literal")
            return rest[i:]
        v = w.value
        if v == "-":  # a lone "-" is -i
            part.add("dangerous-variable", "env - removes the settings that keep commands safe")
        elif "=" in v and not v.startswith("="):
            var = v.split("=", 1)[0]
            if is_dangerous_var(var):
                part.add(
                    "dangerous-variable", f"sets {var}, which changes which programs run or how"
                )
            assigned_paths(part, var, v.split("=", 1)[1])
        else:
            break
        i += 1
    return rest[i:]
