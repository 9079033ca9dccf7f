"""The program catalogue, part 2: searching and transforming (grep, rg,
find, sed, awk, jq).

These programs have options that run other programs or write files (``find
-exec``, ``rg --pre``, ``sed -i``, ``awk`` programs calling ``system``):
those are listed as dangers (only a rule naming them covers them) or as
code (never auto-allowed); everything not listed asks.
"""

from __future__ import annotations

import re

from .awkscript import awk_program_danger
from .grammar import MULTI_WORD, Opt, Parsed, Spec, spec, with_opts
from .model import Part, Word
from .programs import FIND_DANGERS, word_set
from .sedscript import sed_script_danger

_FOLLOWS = Opt(follows_links=True)


def _grep_cwd(part: Part, p: Parsed) -> None:
    # grep -r with no file operand searches the current directory.
    recursive = p.has("-r", "-R", "--recursive", "--dereference-recursive") or any(
        w.literal and w.value.startswith("rec") for w in p.values("-d", "--directories")
    )
    if recursive and not any(kind == "R" for _, _, kind in p.operands):
        p.reads.append(Word(".", ".", True))


GREP = spec(
    "grep",
    "searches files for a pattern",
    short="e:T f:R i y v w x c l L n h H o q s r E F G P a I z Z b T u A:N B:N C:N m:N D:T d:T U",
    long="regexp=T file=R ignore-case no-ignore-case invert-match word-regexp line-regexp count "
    "files-with-matches files-without-match line-number no-filename with-filename "
    "only-matching quiet silent no-messages recursive extended-regexp fixed-strings "
    "basic-regexp perl-regexp text binary-files=T devices=T directories=T null null-data "
    "byte-offset initial-tab label=T line-buffered max-count=N after-context=N "
    "before-context=N context=N color==T colour==T include=T exclude=T exclude-dir=T "
    "exclude-from=R binary",
    args="T R*",
    first_from="-e --regexp -f --file",
    extra={"-R": _FOLLOWS, "--dereference-recursive": _FOLLOWS},
    numeric=True,
    check=_grep_cwd,
)

_RG_SHORT = (
    "e:T f:R g:T i s S w x v c l n N H o u 0 p q U P F t:T T:T m:N A:N B:N C:N j:N "
    "d:N M:N r:T E:T a b h V z"
)
_RG_LONG = (
    "regexp=T file=R glob=T iglob=T glob-case-insensitive no-glob-case-insensitive "
    "ignore-case case-sensitive smart-case word-regexp line-regexp invert-match count "
    "count-matches files-with-matches files-without-match line-number no-line-number "
    "with-filename no-filename only-matching unrestricted null pretty quiet multiline "
    "multiline-dotall pcre2 no-pcre2 fixed-strings no-follow type=T type-not=T "
    "type-add=T type-clear=T type-list max-count=N after-context=N before-context=N "
    "context=N threads=N max-depth=N maxdepth=N max-columns=N max-columns-preview "
    "max-filesize=T replace=T encoding=T no-encoding engine=T text binary no-binary "
    "byte-offset column no-column heading no-heading hidden no-hidden files json no-json "
    "vimgrep color=T colors=T sort=T sortr=T trim no-trim stats no-stats passthru "
    "no-ignore no-ignore-dot no-ignore-exclude no-ignore-files no-ignore-global "
    "no-ignore-parent no-ignore-vcs ignore-file=R ignore-file-case-insensitive "
    "no-config context-separator=T no-context-separator field-context-separator=T "
    "field-match-separator=T path-separator=T line-buffered block-buffered crlf no-crlf "
    "no-unicode mmap no-mmap one-file-system no-messages no-require-git debug trace "
    "include-zero null-data auto-hybrid-regex dfa-size-limit=T regex-size-limit=T "
    "search-zip pre=T pre-glob=T hostname-bin=T hyperlink-format=T"
)
_RG_RUNS = "runs another program on every file"
RG = spec(
    "rg",
    "searches files for a pattern (ripgrep)",
    short=_RG_SHORT,
    long=_RG_LONG,
    args="T R*",
    first_from="-e --regexp -f --file --files --type-list",
    # ripgrep matches long options exactly (no GNU abbreviations).
    abbrev=False,
    dangers={
        "--pre": _RG_RUNS,
        "--pre-glob": _RG_RUNS,
        "--search-zip": _RG_RUNS,
        "-z": _RG_RUNS,
        "--hostname-bin": "runs a program to find the host name",
    },
    extra={"-L": _FOLLOWS, "--follow": _FOLLOWS},
    cwd_default=True,
)


# -- find ----------------------------------------------------------------------

_FIND_FLAGS = word_set(
    """
    -depth -mount -xdev -noleaf -daystart -ignore_readdir_race -noignore_readdir_race
    -empty -readable -writable -executable -true -false -prune -print -print0 -ls -quit
    -nouser -nogroup -warn -nowarn -a -o -and -or -not ! ( ) ,
    """
)
_FIND_TEXT = word_set(
    """
    -name -iname -path -ipath -wholename -iwholename -regex -iregex -type -xtype -size
    -mtime -mmin -atime -amin -ctime -cmin -user -group -uid -gid -perm -links -inum
    -maxdepth -mindepth -regextype -lname -ilname -fstype -used -printf -context
    """
)
_FIND_READ = word_set("-newer -anewer -cnewer -samefile")
_FIND_NEWER = re.compile(r"^-newer[aBcm][aBcmt]$")
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_WRITES = {"-fprint": 1, "-fprint0": 1, "-fls": 1, "-fprintf": 2}
_FIND_VALUED = _FIND_TEXT | _FIND_READ | frozenset(_FIND_WRITES) | {"-files0-from", "-D"}


def _find(s: Spec, part: Part, start: int) -> Parsed:
    p = Parsed(s, start=start)
    argv = part.argv
    n = len(argv)
    # A value word that is a glob becomes any number of words: the ones after
    # the first are read as more of the expression (-delete, -fprint...).
    for k in range(start, n):
        v = argv[k].value if argv[k].literal else ""
        takes = 2 if v == "-fprintf" else 1 if v in _FIND_VALUED or _FIND_NEWER.match(v) else 0
        for w in argv[k + 1 : k + 1 + takes]:
            if w.glob:
                p.unknown.append(f"find {v} {w.source[:40]}: {MULTI_WORD}")
    i = start
    # Global options: -H -L -P -D debugopts -Olevel.
    while i < n and argv[i].literal:
        v = argv[i].value
        if v in ("-H", "-P"):
            i += 1
        elif v == "-L":
            p.follows_links = True
            i += 1
        elif v == "-D":
            i += 2
        elif re.fullmatch(r"-O[0-3]", v):
            i += 1
        else:
            break
    starts = 0
    first = i
    while i < n and not (argv[i].literal and (argv[i].value[:1] in "-!(," and argv[i].value)):
        p.reads.append(argv[i])
        p.operands.append((i, argv[i], "R"))
        starts += 1
        i += 1
    if starts == 0 and first <= n:
        p.reads.append(Word(".", ".", True))  # find with no start point: "."
    while i < n:
        w = argv[i]
        v = w.value if w.literal else ""
        if v in _FIND_FLAGS:
            i += 1
        elif v == "-follow":
            p.follows_links = True
            i += 1
        elif v in _FIND_TEXT:
            i += 2
        elif v == "-files0-from":
            # the starting points are the names the file lists: not checkable
            if i + 1 < n:
                p.reads.append(argv[i + 1])
            p.unknown.append("find -files0-from starts from the names a file lists")
            i += 2
        elif v in _FIND_READ or (_FIND_NEWER.match(v) and not v.endswith("t")):
            if i + 1 < n:
                p.reads.append(argv[i + 1])
            i += 2
        elif _FIND_NEWER.match(v):
            i += 2
        elif v in _FIND_EXEC:
            p.dangers.append((i, f"find {v} {FIND_DANGERS[v]}"))
            i += 1
            while i < n and not (argv[i].literal and argv[i].value in (";", "+")):
                i += 1
            i += 1
        elif v == "-delete":
            p.dangers.append((i, f"find -delete {FIND_DANGERS['-delete']}"))
            i += 1
        elif v in _FIND_WRITES:
            p.dangers.append((i, f"find {v} {FIND_DANGERS[v]}"))
            if i + 1 < n:
                p.writes.append(argv[i + 1])
            i += 1 + _FIND_WRITES[v]
        else:
            p.unknown.append(f"find does not know the expression {(v or w.source)[:40]}")
            i += 1
    return p


FIND = Spec("find", "lists files matching an expression", custom=_find)


# -- sed -----------------------------------------------------------------------


def _sed_check(part: Part, p: Parsed) -> None:
    scripts = [w for w in p.values("-e", "--expression")]
    if not p.has("-e", "--expression", "-f", "--file"):
        scripts += [w for _, w, kind in p.operands[:1] if kind == "T"]
    for w in scripts:
        why = sed_script_danger(w.value) if w.literal else "the sed script is not a literal"
        if why:
            k = next((j for j, a in enumerate(part.argv) if a is w), 1)
            p.dangers.append((k, why))


SED = spec(
    "sed",
    "edits text in a stream (scripts that run, read or write files are dangers)",
    short="n e:T f:R E r s z u l:N i::T b",
    long="quiet silent expression=T file=R regexp-extended separate null-data unbuffered "
    "line-length=N posix debug sandbox follow-symlinks in-place==T binary",
    args="T R*",
    first_from="-e --expression -f --file",
    dangers={
        "-i": "edits files in place",
        "--in-place": "edits files in place",
        "-f": "runs a script that cannot be checked",
        "--file": "runs a script that cannot be checked",
    },
    check=_sed_check,
)


# -- awk -----------------------------------------------------------------------


def _awk_check(part: Part, p: Parsed) -> None:
    programs = p.values("-e", "--source")
    if not p.has("-e", "--source", "-f", "--file", "-E", "--exec", "-i", "--include"):
        programs += [w for _, w, kind in p.operands[:1] if kind == "T"]
        if not p.operands:
            p.code.append(f"{p.spec.name} without a program")
    for w in programs:
        why = awk_program_danger(w.value) if w.literal else "the awk program is not a literal"
        if why:
            p.code.append(f"{p.spec.name}: {why}")


AWK = spec(
    "awk",
    "runs a text-processing program (programs that run commands are code)",
    short="F:T v:T f:X e:T E:X i:X l:X b c h M N n O P r s S t V",
    long="field-separator=T assign=T file=X source=T exec=X include=X load=X "
    "characters-as-bytes traditional posix re-interval non-decimal-data use-lc-numeric "
    "optimize no-optimize bignum sandbox copyright",
    args="T R*",
    first_from="-f --file -e --source -E --exec",
    posix=True,
    check=_awk_check,
)


# -- jq ------------------------------------------------------------------------

_JQ_MODULES = re.compile(r"\b(?:import|include|modulemeta|get_search_list)\b")


def _jq_check(part: Part, p: Parsed) -> None:
    # A filter cannot run commands, but import/include load modules and JSON
    # data files from a search path outside the workspace (~/.jq, ../lib).
    if p.has("-f", "--from-file"):
        return
    for _, w, kind in p.operands[:1]:
        if kind == "T" and (not w.literal or _JQ_MODULES.search(w.value)):
            p.unknown.append("the jq filter imports modules or data files from outside")


JQ = spec(
    "jq",
    "filters JSON (filters cannot run commands; --arg/--slurpfile, import/include are not known)",
    short="r j a c n e s S C M R t h V f:R 0",
    long="raw-output join-output ascii-output compact-output null-input exit-status slurp "
    "sort-keys color-output monochrome-output raw-input tab indent=N seq stream "
    "stream-errors from-file=R raw-output0 unbuffered",
    args="T R*",
    first_from="-f --from-file",
    dangers={
        "-f": "runs a filter file that cannot be checked (import/include read files)",
        "--from-file": "runs a filter file that cannot be checked (import/include read files)",
    },
    # jq matches its long options exactly (no abbreviations).
    abbrev=False,
    check=_jq_check,
)

SEARCH: list[Spec] = [
    GREP,
    with_opts(GREP, "egrep", "searches files for an extended regular expression"),
    with_opts(GREP, "fgrep", "searches files for fixed strings"),
    RG,
    with_opts(RG, "ripgrep", "searches files for a pattern"),
    FIND,
    SED,
    AWK,
    with_opts(AWK, "gawk", "GNU awk"),
    with_opts(AWK, "mawk", "mawk (-W options are not known)"),
    with_opts(AWK, "nawk", "the one true awk"),
    JQ,
]
"""Searching and transforming files."""
