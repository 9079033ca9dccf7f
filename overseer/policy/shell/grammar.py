"""Allow by grammar: reading a command the way its program's table entry says.

A program in the catalogue (``catalog``) has a ``Spec``: every option it
knows (whether it takes a value, and what that value is: text, a number, a
file read, a file written, code), the kinds of its operands, and whether it
runs code from the workspace. ``parse`` reads a part's argv with it the way
getopt would — bundled short options (``-la``), attached values (``-n5``,
``--lines=5``), GNU abbreviations of long options (``--lin``), ``--`` ending
the options, options after operands unless the program stops at its first
operand — and returns what the words are.

Anything the entry does not know is *unknown*: an option not in the table,
a value of the wrong shape, more operands than the program takes. An allow
rule never covers an unknown (the part asks), so an incomplete table fails
closed: a spelling nobody listed asks instead of running.

Specs are written in a small notation (``spec(...)``) so that an entry reads
like the program's synopsis::

    spec("head", "prints the first lines of files",
         short="n:N c:N q v z", long="lines=N bytes=N quiet silent verbose",
         args="R*", numeric=True)

Value kinds: ``T`` text the program does not open (a pattern, a format),
``N`` a number, ``R`` a file or directory it reads, ``W`` a file it writes,
``X`` code it runs (never auto-allowed), ``P`` a test id (``path::name``:
the path is read), ``L`` a file that *names* the files the program reads
(``sort --files0-from=L``, ``md5sum -c``): the list is read, and what it
names cannot be checked, so the part is unknown. ``k:K`` takes a value, ``k::K`` takes one only when
attached (``-i.bak``, ``--color=always``). Operands are a sequence of kinds
with ``?`` (optional), ``*`` or ``+``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from .model import Part, Word

Kind = Literal["T", "N", "R", "W", "X", "P", "L"]
KINDS = frozenset("TNRWXPL")

MULTI_WORD = "a glob bash expands to any number of words, where the program takes one"

_NUMBER_RE = re.compile(r"^[+-]?[0-9]+(?:\.[0-9]+)?[A-Za-z]{0,3}$")


@dataclass(frozen=True, slots=True)
class Opt:
    """One option of a program."""

    takes: Kind | None = None  # None: a flag
    optional: bool = False  # the value is only taken when attached
    danger: str | None = None  # known, but only an allow rule naming it covers it
    shape: re.Pattern[str] | None = None  # the value must match this, else unknown
    follows_links: bool = False  # the program then follows symlinks it meets


@dataclass(frozen=True, slots=True)
class Operand:
    kind: Kind
    many: Literal["", "?", "*", "+"] = ""


@dataclass
class Parsed:
    """What a part's words are, by its program's entry."""

    spec: Spec
    unknown: list[str] = field(default_factory=list)
    # option name ("-n", "--lines") -> the values given (None for a flag)
    options: dict[str, list[Word | None]] = field(default_factory=dict)
    operands: list[tuple[int, Word, Kind]] = field(default_factory=list)
    reads: list[Word] = field(default_factory=list)
    writes: list[Word] = field(default_factory=list)
    listed: list[Word] = field(default_factory=list)  # globs only printed (echo *)
    code: list[str] = field(default_factory=list)
    dangers: list[tuple[int, str]] = field(default_factory=list)
    follows_links: bool = False
    runs_code: str | None = None  # why it runs code from the workspace
    sub: Parsed | None = None  # the subcommand's parse (git log ...)
    start: int = 1  # argv index the options of this level start at

    def has(self, *names: str) -> bool:
        return any(n in self.options for n in names)

    def values(self, *names: str) -> list[Word]:
        return [w for n in names for w in self.options.get(n, ()) if w is not None]

    def levels(self) -> list[Parsed]:
        """This parse and its subcommands' (git, git log), outermost first."""
        out = [self]
        while out[-1].sub is not None:
            out.append(out[-1].sub)  # type: ignore[arg-type]
        return out


Check = Callable[[Part, "Parsed"], None]


@dataclass(frozen=True)
class Spec:
    """A program's table entry: what it is, its options and operands."""

    name: str
    why: str
    short: Mapping[str, Opt] = field(default_factory=dict)
    long: Mapping[str, Opt] = field(default_factory=dict)
    operands: tuple[Operand, ...] = (Operand("R", "*"),)
    # Options that supply the first operand (grep -e PATTERN: no pattern operand).
    first_from: frozenset[str] = frozenset()
    abbrev: bool = True  # accepts unambiguous abbreviations of long options (GNU)
    numeric: bool = False  # -NUM is a count (head -5, tail -20)
    posix: bool = False  # the options end at the first operand
    runs_code: str | None = None  # runs code from the workspace (why)
    subcommands: Mapping[str, Spec] | None = None
    # The subcommand may be left out (git stash = git stash push is not this).
    sub_optional: bool = False
    check: Check | None = None  # program-specific checks on the parse
    # A parser of its own for programs whose syntax is not getopt (find).
    custom: Callable[[Spec, Part, int], Parsed] | None = None
    # Reads more arguments from FILE for a word @FILE (binutils' expandargv,
    # argparse's fromfile_prefix_chars): what the file says cannot be checked.
    at_files: bool = False
    # With no file operand the program reads the current directory (ls, du,
    # rg, pytest): "." is then a read, so a shell whose cwd is outside the
    # workspace does not list it unasked.
    cwd_default: bool = False


def _kind(code: str, where: str) -> Kind:
    if code not in KINDS:
        raise ValueError(f"{where}: unknown value kind {code!r}")
    return code  # type: ignore[return-value]


def _opt(token: str, where: str, dangers: Mapping[str, str], name: str) -> Opt:
    takes: Kind | None = None
    optional = False
    if "::" in token:
        takes, optional = _kind(token.split("::", 1)[1], where), True
    elif ":" in token:
        takes = _kind(token.split(":", 1)[1], where)
    return Opt(takes, optional, dangers.get(name))


def _operands(text: str) -> tuple[Operand, ...]:
    out: list[Operand] = []
    for tok in text.split():
        many = tok[1:] if len(tok) > 1 else ""
        if many not in ("", "?", "*", "+"):
            raise ValueError(f"operand {tok!r}: use K, K?, K* or K+")
        out.append(Operand(_kind(tok[0], f"operand {tok!r}"), many))  # type: ignore[arg-type]
    if sum(o.many in ("*", "+") for o in out) > 1:
        raise ValueError(f"operands {text!r}: at most one K* or K+")
    return tuple(out)


def spec(
    name: str,
    why: str,
    short: str = "",
    long: str = "",
    args: str = "R*",
    *,
    dangers: Mapping[str, str] | None = None,
    extra: Mapping[str, Opt] | None = None,
    first_from: str = "",
    **kw: object,
) -> Spec:
    """A Spec from the notation in the module docstring. ``dangers`` maps an
    option ("-i", "--in-place") to why only a rule naming it may allow it;
    ``extra`` adds options the notation cannot say (a value shape)."""
    dangers = dangers or {}
    s: dict[str, Opt] = {}
    lo: dict[str, Opt] = {"--help": Opt(), "--version": Opt()}
    for tok in short.split():
        letter = tok[0]
        s[letter] = _opt(tok, f"{name} -{tok}", dangers, "-" + letter)
    for tok in long.split():
        key = "--" + tok.split("=", 1)[0]
        t = tok.replace("==", "::").replace("=", ":")
        lo[key] = _opt(t, f"{name} --{tok}", dangers, key)
    for key, opt in (extra or {}).items():
        (lo if key.startswith("--") else s)[key if key.startswith("--") else key[1:]] = opt
    for key in dangers:
        table = lo if key.startswith("--") else s
        k = key if key.startswith("--") else key[1:]
        if k not in table:
            raise ValueError(f"{name}: danger for unknown option {key}")
    return Spec(
        name,
        why,
        s,
        lo,
        _operands(args),
        frozenset(first_from.split()),
        **kw,  # type: ignore[arg-type]
    )


def with_opts(base: Spec, name: str, why: str, **kw: object) -> Spec:
    """``base`` under another name (egrep is grep)."""
    from dataclasses import replace

    return replace(base, name=name, why=why, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Parsing


def _value_word(w: Word, value: str) -> Word:
    """The value part of an option word (``--file=x`` -> ``x``)."""
    return Word(value, w.source, True, w.glob, value.startswith("~"))


def _long(spec: Spec, key: str) -> tuple[str, Opt] | None:
    opt = spec.long.get(key)
    if opt is not None:
        return key, opt
    if not spec.abbrev or len(key) < 3:
        return None
    hits = [k for k in spec.long if k.startswith(key)]
    # getopt_long takes a unique prefix; an ambiguous one is an error there.
    if len(hits) == 1:
        return hits[0], spec.long[hits[0]]
    return None


class _Reader:
    __slots__ = ("spec", "part", "argv", "p", "ops", "stop")

    def __init__(self, spec: Spec, part: Part, start: int, stop: bool = False) -> None:
        self.spec = spec
        self.part = part
        self.argv = part.argv
        self.p = Parsed(spec, start=start)
        self.ops: list[int] = []
        self.stop = stop  # a wrapper: the first operand is the command it runs

    def record(self, name: str, opt: Opt, value: Word | None, index: int) -> None:
        p = self.p
        p.options.setdefault(name, []).append(value)
        if opt.danger:
            p.dangers.append((index, f"{self.spec.name} {name} {opt.danger}"))
        if opt.follows_links:
            p.follows_links = True
        if value is None or opt.takes is None:
            return
        if opt.shape is not None and value.literal and not opt.shape.match(value.value):
            p.unknown.append(
                f"{self.spec.name} {name} {value.value[:40]!r} is not a value it knows"
            )
            return
        self.place(opt.takes, value, f"{self.spec.name} {name}", operand=False)

    def place(self, kind: Kind, w: Word, what: str, operand: bool = True) -> None:
        p = self.p
        if kind == "R":
            p.reads.append(w)
        elif kind == "W":
            p.writes.append(w)
        elif kind == "X":
            p.code.append(f"{what} runs code that cannot be checked")
        elif kind == "L":
            p.reads.append(w)
            p.unknown.append(
                f"{what} reads the files {w.source[:40]} names, which cannot be checked"
            )
        elif kind == "P":
            path = w.value.split("::", 1)[0]
            if path:
                p.reads.append(Word(path, w.source, w.literal, w.glob, w.tilde))
        elif kind == "N" and w.literal and not _NUMBER_RE.match(w.value):
            p.unknown.append(f"{what} expects a number, not {w.value[:40]!r}")
        elif kind == "T" and w.glob and operand:
            # bash expands the glob: the names it matches are what the program
            # gets (echo ~/.ssh/* lists a directory) -- confine the directory.
            p.listed.append(w)

    def missing(self, name: str) -> None:
        self.p.unknown.append(f"{self.spec.name} {name} needs a value")

    def separate(self, name: str, index: int) -> Word:
        """The word after an option, taken as its value. A glob there is
        unknown: bash expands it to any number of words, and the ones after
        the first become operands or options of their own (``grep -e
        /etc/host* f`` reads /etc/hosts, ``env -u [5s]h cat`` runs ``sh cat``)."""
        w = self.argv[index]
        if w.glob:
            self.p.unknown.append(f"{self.spec.name} {name} {w.source[:40]}: {MULTI_WORD}")
        return w

    def run(self) -> Parsed:
        spec, argv = self.spec, self.argv
        n = len(argv)
        i = self.p.start
        done = False
        while i < n:
            w = argv[i]
            v = w.value
            if done or not w.literal or v == "-" or not v.startswith("-"):
                self.ops.append(i)
                if self.stop:
                    return self.p
                if spec.posix or (spec.subcommands is not None and len(self.ops) == 1):
                    done = True
                    if spec.subcommands is not None:
                        break
                i += 1
                continue
            if v == "--":
                done = True
                i += 1
                continue
            if v.startswith("--"):
                key, eq, val = v.partition("=")
                found = _long(spec, key)
                if found is None:
                    self.p.unknown.append(f"{spec.name} does not know the option {key}")
                    i += 1
                    continue
                name, opt = found
                if opt.takes is None:
                    if eq:
                        self.p.unknown.append(f"{spec.name} {name} takes no value")
                    self.record(name, opt, None, i)
                elif eq:
                    self.record(name, opt, _value_word(w, val), i)
                elif opt.optional:
                    self.record(name, opt, None, i)
                elif i + 1 < n:
                    self.record(name, opt, self.separate(name, i + 1), i)
                    i += 1
                else:
                    self.missing(name)
                i += 1
                continue
            letters = v[1:]
            if spec.numeric and letters.isdigit():
                i += 1
                continue
            k = 0
            while k < len(letters):
                c = letters[k]
                short = spec.short.get(c)
                if short is None:
                    self.p.unknown.append(f"{spec.name} does not know the option -{c}")
                    break
                if short.takes is None:
                    self.record("-" + c, short, None, i)
                    k += 1
                    continue
                rest = letters[k + 1 :]
                if rest:
                    self.record("-" + c, short, _value_word(w, rest), i)
                elif short.optional:
                    self.record("-" + c, short, None, i)
                elif i + 1 < n:
                    self.record("-" + c, short, self.separate("-" + c, i + 1), i)
                    i += 1
                else:
                    self.missing("-" + c)
                break
            i += 1
        if spec.subcommands is not None:
            self.subcommand(i)
        else:
            self.assign()
        return self.p

    def subcommand(self, i: int) -> None:
        spec = self.spec
        assert spec.subcommands is not None
        if not self.ops:
            if not spec.sub_optional:
                self.p.unknown.append(f"{spec.name} without a subcommand")
            return
        k = self.ops[0]
        w = self.argv[k]
        sub = spec.subcommands.get(w.value) if w.literal else None
        if sub is None:
            self.p.unknown.append(
                f"{spec.name} {w.value[:40]} is not in overseer's table of what {spec.name} does"
            )
            return
        self.p.sub = parse(sub, self.part, k + 1)

    def assign(self) -> None:
        spec = self.spec
        kinds = list(spec.operands)
        if spec.first_from and self.p.has(*spec.first_from) and kinds:
            kinds = kinds[1:]
        n = len(self.ops)
        required = sum(o.many in ("", "+") for o in kinds)
        spare = n - required
        counts: list[int] = []
        for o in kinds:
            if o.many == "" or o.many == "+":
                counts.append(1)
            elif o.many == "?":
                take = 1 if spare > 0 else 0
                spare -= take
                counts.append(take)
            else:
                counts.append(0)
        star = next((j for j, o in enumerate(kinds) if o.many in ("*", "+")), None)
        if spare > 0:
            if star is None:
                extra = self.argv[self.ops[-spare]]
                self.p.unknown.append(
                    f"{spec.name} takes {len(self.ops) - spare} operand(s); "
                    f"{extra.source[:40]} is one more than it knows"
                )
            else:
                counts[star] += spare
        j = 0
        for o, count in zip(kinds, counts, strict=True):
            for _ in range(count):
                if j >= n:
                    return
                idx = self.ops[j]
                w = self.argv[idx]
                if w.glob and o.many in ("", "?"):
                    # One slot, any number of words: the rest shift into the
                    # slots after it (uniq a* writes its second match).
                    self.p.unknown.append(f"{spec.name} operand {w.source[:40]}: {MULTI_WORD}")
                self.p.operands.append((idx, w, o.kind))
                self.place(o.kind, w, f"{spec.name} operand")
                j += 1


def read_options(spec: Spec, part: Part, start: int = 1) -> tuple[Parsed, int]:
    """A wrapper's options (``env -u X``, ``xargs -a F``, ``timeout -s KILL``),
    read as ``spec`` says up to its first operand, which is returned (its
    index, ``len(argv)`` when there is none): getopt with ``+``, as these
    programs use it."""
    reader = _Reader(spec, part, start, stop=True)
    p = reader.run()
    return p, reader.ops[0] if reader.ops else len(part.argv)


def parse(spec: Spec, part: Part, start: int = 1) -> Parsed:
    """Read ``part.argv[start:]`` as ``spec`` says (see the module docstring)."""
    if spec.custom is not None:
        p = spec.custom(spec, part, start)
    else:
        p = _Reader(spec, part, start).run()
    if spec.at_files:
        for w in part.argv[start:]:
            if w.value.startswith("@") or w.source.lstrip("'\"$").startswith("@"):
                p.unknown.append(
                    f"{spec.name} reads more arguments from the file {w.source[:40]}, "
                    "which cannot be checked"
                )
    if spec.cwd_default and not any(kind in "RPL" for _, _, kind in p.operands):
        p.reads.append(Word(".", ".", True))
    if p.runs_code is None:
        p.runs_code = spec.runs_code
    if spec.check is not None:
        spec.check(part, p)
    return p
