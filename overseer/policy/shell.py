"""Shell command analysis with tree-sitter-bash.

A command string is parsed, never string-matched. ``analyse(command)`` returns
the *parts* of the command: every simple command it would run, wherever it
sits (after ``;`` ``&&`` ``||`` ``|`` ``&`` or a newline, inside ``( )``,
``{ }``, ``if``/``for``/``while`` bodies, command and process substitutions,
the literal script of ``sh -c '...'``). Each part carries:

- ``argv``: the program and arguments actually run, after unwrapping wrappers
  (``env VAR=x``, ``VAR=x`` prefixes, ``nice``, ``timeout``, ``nohup``,
  ``command``, ``builtin``, ``stdbuf``, ``time``, ``xargs``...) with quoting
  normalised (``r"m"``, ``'r'm``, ``\\rm`` and ``$'\\x72m'`` are all ``rm``);
- ``findings``: what analysis found that no rule may auto-allow (command or
  process substitution, ``eval``/``source``/``exec``, code strings given to
  interpreters, heredocs, non-literal program names, shell state changes,
  parse errors...);
- ``dangers``: dangerous options (``find -exec``, ``git -c``, ``rg --pre``,
  ``sort -o``, ``sed -i``...) that an allow rule only covers when its own
  command prefix names that option;
- ``redirects`` and ``writes`` (redirection targets, ``tee`` files): writes
  the policy judges with its write rules;
- ``path_args``: arguments to resolve and confine to the workspace.

The analysis is pure (no file system access) and cached per command string;
resolving paths against a workspace happens later, in the rule engine.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from ..textcache import short_text_cache

Decision = Literal["allow", "ask", "deny"]

MAX_COMMAND_CHARS = 100_000
"""Longer commands are not analysed (ask): no real command needs more."""

MAX_GLOB_WORDS = 256
"""Glob words are expanded against the file system to see what they name; a
command with more than this many (15,000 took 5 s) is not expanded word by
word: the policy asks and the guard refuses."""

MAX_DEPTH = 60
"""Nesting (substitutions in substitutions, ``sh -c`` in ``sh -c``...) beyond
this is not analysed further (ask)."""

MAX_PARTS = 2_000

_LANGUAGE = Language(tree_sitter_bash.language())
_LOCAL = threading.local()


def _parser() -> Parser:
    # A tree-sitter Parser is not thread-safe; the broker may decide calls
    # from several threads (parallel tool calls), so keep one per thread.
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = Parser(_LANGUAGE)
        _LOCAL.parser = parser
    return parser


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word, as the program will receive it (when ``literal``)."""

    value: str  # unquoted, escapes decoded; the source text when not literal
    source: str  # as written
    literal: bool = True  # no expansion or substitution: value is exact
    glob: bool = False  # contains unquoted * ? [..] (the shell expands it)
    tilde: bool = False  # starts with an unquoted ~ (home directory)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something no rule may auto-allow. ``kind`` names the class of risk."""

    kind: str
    reason: str
    decision: Decision = "ask"


@dataclass(frozen=True, slots=True)
class Danger:
    """A dangerous option at ``argv[index]``; covered only by an allow rule
    whose command prefix reaches past ``index`` (i.e. names the option)."""

    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Redirect:
    kind: Literal["read", "write"]
    op: str
    target: Word


@dataclass(slots=True)
class Part:
    """One simple command (or shell statement) of a command line."""

    text: str
    argv: tuple[Word, ...] = ()
    # The argv at each wrapper level, outermost first (``nice -n5 git log``
    # has ``outer == (nice -n5 git log,)`` and ``argv == git log``). Deny and
    # ask rules are matched against these too.
    outer: tuple[tuple[Word, ...], ...] = ()
    redirects: list[Redirect] = field(default_factory=list)
    writes: list[Word] = field(default_factory=list)
    path_args: list[Word] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    dangers: list[Danger] = field(default_factory=list)
    network: bool = False
    # True when the program receives arguments nobody can see (xargs).
    unknown_args: bool = False
    # argv index that is not a path although it looks like one (sed's script).
    skip_arg: int | None = None
    # The program walks directories and follows the symlinks it meets
    # (grep -R, rg -L, find -L...): a link below a path argument that points
    # outside the workspace is read too (the engine looks for such links).
    follows_links: bool = False
    # "command": a program runs; "statement": a shell statement (assignment,
    # export, [[ ]]...); "redirect": redirections of a compound statement;
    # "wrapper": ``sh -c LITERAL`` whose script became parts of its own;
    # "error": the command could not be analysed.
    kind: str = "command"

    def add(self, kind: str, reason: str, decision: Decision = "ask") -> None:
        self.findings.append(Finding(kind, reason, decision))

    @property
    def argv_values(self) -> list[str]:
        return [w.value for w in self.argv]


@dataclass(frozen=True, slots=True)
class Analysis:
    command: str
    parts: tuple[Part, ...]


# --------------------------------------------------------------------------
# Program knowledge


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


WRAPPERS = _names(
    """
    env nice ionice timeout nohup command builtin stdbuf time xargs setsid coproc
    busybox exec
    """
)

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "rbash", "fish", "yash"})

# Interpreters and the options that make them run a code string.
_CODE_SHORT: dict[str, str] = {
    "python": "c",
    "pypy": "c",
    "perl": "eE",
    "ruby": "e",
    "node": "ep",
    "nodejs": "ep",
    "bun": "ep",
    "php": "rRBE",
    "lua": "e",
    "luajit": "e",
    "julia": "eE",
    "Rscript": "e",
    "osascript": "e",
    "pwsh": "c",
    "powershell": "c",
}
_CODE_LONG: dict[str, frozenset[str]] = {
    "node": frozenset({"--eval", "--print"}),
    "nodejs": frozenset({"--eval", "--print"}),
    "bun": frozenset({"--eval", "--print"}),
    "julia": frozenset({"--eval", "--print"}),
    "pwsh": frozenset({"-c", "-command", "-encodedcommand", "-ec", "--command"}),
    "powershell": frozenset({"-c", "-command", "-encodedcommand", "-ec", "--command"}),
}
# Short options that take the next word (or the rest of the cluster) as value.
_ARG_SHORT: dict[str, str] = {
    "python": "WXmQ",
    "pypy": "WXmQ",
    "perl": "ICdDFiIlmMox0",  # all attached (-Idir, -i.bak), see _ATTACHED_ONLY
    "ruby": "CEFIKrTWx",
    "node": "r",
    "nodejs": "r",
}

# Interpreters whose option values are only ever attached (perl -i.bak -e ...).
_ATTACHED_ONLY = frozenset({"perl"})

AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})

_PYTHON_RE = re.compile(r"^(?:python|pypy)(?:[0-9.]*)(?:-dbg)?$")

# Programs whose arguments are not file paths (their values are not confined).
NON_PATH_PROGRAMS = _names(
    """
    echo printf true false pwd which type whoami uname seq sleep expr
    basename dirname id yes :
    """
)

# Builtins that change the persistent shell's behaviour for later commands.
STATE_BUILTINS: dict[str, str] = {
    "alias": "alias changes what later commands run",
    "unalias": "unalias changes what later commands run",
    "hash": "hash changes which program a name runs",
    "enable": "enable loads or switches shell builtins",
    "trap": "trap stores a command the shell runs later",
    "fc": "fc re-runs commands from the shell history",
    "bind": "bind can attach commands to key presses",
    "complete": "complete can attach commands to completion",
    "set": "set changes shell options for later commands",
    "shopt": "shopt changes shell options for later commands",
    "ulimit": "ulimit changes resource limits of the shell",
    "umask": "umask changes the permissions of later files",
    "history": "history edits the shell history",
    "disown": "disown detaches jobs from the shell",
}
EXEC_BUILTINS: dict[str, str] = {
    "eval": "eval runs a string as shell code",
    "source": "source runs a file as shell code in this shell",
    ".": ". runs a file as shell code in this shell",
    "exec": "exec replaces the shell (or rewires its descriptors)",
}
STRING_RUNNERS: dict[str, str] = {
    "watch": "watch runs its arguments as a shell command",
    "parallel": "parallel runs its arguments as shell commands",
    "script": "script runs a shell or a command string",
    "su": "su runs a command as another user",
    "runuser": "runuser runs a command as another user",
}
ASSIGNERS = frozenset({"read", "mapfile", "readarray", "getopts", "let", "printf"})

# Environment variables that make another program run (or run differently):
# assigning them is never auto-allowed.
_DANGEROUS_VARS = _names(
    """
    PATH BASH_ENV ENV SHELLOPTS BASHOPTS PS0 PS1 PS2 PS3 PS4 PROMPT_COMMAND IFS CDPATH
    HOME GLOBIGNORE PAGER MANPAGER SYSTEMD_PAGER EDITOR VISUAL BROWSER LESSOPEN
    LESSCLOSE LESSKEY PYTHONSTARTUP PYTHONHOME PYTHONUSERBASE PYTHONINSPECT
    PYTHONBREAKPOINT PYTEST_ADDOPTS PYTEST_PLUGINS NODE_OPTIONS NODE_PATH PERL5OPT
    PERL5LIB PERLLIB RUBYOPT RUBYLIB JAVA_TOOL_OPTIONS _JAVA_OPTIONS SSH_ASKPASS
    SUDO_ASKPASS XDG_CONFIG_HOME RIPGREP_CONFIG_PATH GREP_OPTIONS TAR_OPTIONS MAKEFLAGS
    TMPDIR SHELL PWD OLDPWD
    """
)
_DANGEROUS_PREFIXES = ("LD_", "DYLD_", "GIT_", "BASH_FUNC_")
_PATH_VARS = frozenset({"PYTHONPATH"})
# Set by the shell tool to keep commands safe (tools/_env.py): git ignores
# bare repositories it merely finds (a workspace directory holding HEAD,
# objects/, refs/ and a config with core.fsmonitor would run a program).
_PROTECTIVE_VARS = frozenset({"GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0"})

# bash evaluates the operands of [[ -eq ]] (and friends) and of -v as
# arithmetic / variable names, and an array subscript in them runs command
# substitutions: [[ -v 'a[$(id)]' ]] runs id, quotes or not.
_ARITH_CODE_RE = re.compile(r"\$[({]|`|\[[^\]]*\$")
_ARITH_CODE_REASON = "{} holds code bash evaluates (an array subscript or substitution)"

# Network: programs that always reach the network, and (program ->
# subcommands) for those that do for some subcommands.
NETWORK_PROGRAMS = _names(
    """
    curl wget ssh scp sftp ftp tftp telnet nc ncat netcat socat rsync aria2c http https
    xh ping ping6 dig nslookup host whois traceroute mosh lftp rclone aws gcloud az gh
    kubectl npx pipx
    """
)
_NETWORK_SUBCOMMANDS: dict[str, frozenset[str]] = {
    # git: see _git_network (subcommand and action decide)
    "pip": frozenset({"install", "download", "wheel", "search", "index"}),
    "uv": frozenset({"pip", "add", "sync", "lock", "tool", "run", "venv", "python", "publish"}),
    "poetry": frozenset({"add", "install", "update", "lock", "publish", "self"}),
    "pdm": frozenset({"add", "install", "update", "lock", "publish", "sync"}),
    "npm": frozenset(
        {"install", "i", "ci", "add", "update", "publish", "exec", "x", "audit", "outdated", "view"}
    ),
    "yarn": frozenset({"add", "install", "upgrade", "publish", "dlx", "up"}),
    "pnpm": frozenset({"add", "install", "i", "update", "up", "publish", "dlx"}),
    "bun": frozenset({"add", "install", "i", "update", "x", "publish"}),
    "gem": frozenset({"install", "update", "push", "fetch"}),
    "bundle": frozenset({"install", "update", "add"}),
    "cargo": frozenset({"install", "update", "fetch", "publish", "add", "search"}),
    "go": frozenset({"get", "install", "mod"}),
    "apt": frozenset({"install", "update", "upgrade", "full-upgrade", "download"}),
    "apt-get": frozenset({"install", "update", "upgrade", "dist-upgrade", "download", "source"}),
    "yum": frozenset({"install", "update", "upgrade"}),
    "dnf": frozenset({"install", "update", "upgrade"}),
    "brew": frozenset({"install", "update", "upgrade", "tap", "fetch"}),
    "conda": frozenset({"install", "update", "create"}),
    "mamba": frozenset({"install", "update", "create"}),
    "docker": frozenset({"pull", "push", "run", "build", "login", "search"}),
    "podman": frozenset({"pull", "push", "run", "build", "login", "search"}),
}


TRUSTED_DIRS = _names(
    """
    /bin /usr/bin /usr/local/bin /sbin /usr/sbin /usr/local/sbin /opt/homebrew/bin
    """
)
"""Programs named by a path are only taken for what their name says (``env``,
``sh``, ``ls``...) when they live in one of these directories."""


def trusted_program(value: str) -> bool:
    """A bare name (looked up on PATH) or a path into a system directory."""
    if "/" not in value:
        return True
    return value.rsplit("/", 1)[0] in TRUSTED_DIRS


def program_name(value: str) -> str:
    """The name rules match a program by: the basename of its path."""
    return value.rsplit("/", 1)[-1]


def is_dangerous_var(name: str) -> bool:
    return name in _DANGEROUS_VARS or name.startswith(_DANGEROUS_PREFIXES)


# --------------------------------------------------------------------------
# Words


_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def decode_ansi_c(body: str) -> str:
    """Decode the body of a ``$'...'`` string the way bash does."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        i += 2
        if e in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[e])
        elif e in "01234567":
            j = i
            while j < n and j < i + 2 and body[j] in "01234567":
                j += 1
            out.append(chr(int(e + body[i:j], 8) & 0xFF))
            i = j
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            j = i
            while j < n and j < i + width and body[j] in "0123456789abcdefABCDEF":
                j += 1
            if j == i:
                out.append("\\" + e)
            else:
                code = int(body[i:j], 16)
                out.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                i = j
        elif e == "c" and i < n:
            out.append(chr(ord(body[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)
    return "".join(out)


def _unescape_unquoted(text: str) -> tuple[str, list[bool]]:
    """Backslash removal in an unquoted word; returns the value and, per
    character, whether it was quoted (escaped)."""
    out: list[str] = []
    quoted: list[bool] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] == "\n":
                i += 2
                continue
            out.append(text[i + 1])
            quoted.append(True)
            i += 2
            continue
        out.append(c)
        quoted.append(False)
        i += 1
    return "".join(out), quoted


def _unescape_double(text: str) -> str:
    r"""Inside "...", a backslash only escapes $ ` " \ and newline."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_BRACE_RE = re.compile(r"\{[^{}]*(?:,|\.\.)[^{}]*\}")


class _WordBuilder:
    """Collects a word's value and, in parallel, its *unquoted view*: the same
    text with every quoted or escaped character replaced by "q", which is
    what glob, brace and tilde detection look at."""

    __slots__ = ("chars", "unq", "literal", "subst")

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.unq: list[str] = []
        self.literal = True
        self.subst: list[Node] = []

    def add(self, text: str, quoted: bool) -> None:
        self.chars.append(text)
        self.unq.append("q" * len(text) if quoted else text)

    def add_mask(self, text: str, mask: list[bool]) -> None:
        self.chars.append(text)
        self.unq.append("".join("q" if q else c for c, q in zip(text, mask, strict=False)))


SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})


def _text(node: Node) -> str:
    # The tree was parsed from an ASCII-masked copy (see _masked); the text
    # comes from the original bytes, at the same offsets.
    src: bytes = _LOCAL.src
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


# tree-sitter-bash 0.25 can crash (SIGSEGV, not an exception) on some
# non-ASCII input, e.g. "{" followed by a code point from the upper planes.
# A crash would take the whole runtime down, so tree-sitter only ever sees
# ASCII: every byte >= 0x80 becomes "a". Bash treats those bytes as word
# characters, exactly like a letter, so the tree keeps the same shape and the
# byte offsets stay valid for the original text.
_MASK = bytes(range(128)) + b"a" * 128


def _masked(data: bytes) -> bytes:
    return data.translate(_MASK) if not data.isascii() else data


# An interactive bash expands "!x" / "!!" from its history, in unquoted words
# and inside double quotes: such a word's value is not what it looks like.
_HISTORY_RE = re.compile(r"!(?![\s=(\"]|$)")


def _build(node: Node, b: _WordBuilder) -> None:
    t = node.type
    if t == "word":
        raw = _text(node)
        if "!" in raw and _HISTORY_RE.search(raw):
            b.literal = False
        if "\\" in raw:
            value, mask = _unescape_unquoted(raw)
            b.add_mask(value, mask)
        else:
            b.add(raw, False)
    elif t == "number":
        b.add(_text(node), False)
    elif t == "raw_string":
        b.add(_text(node)[1:-1], True)
    elif t == "ansi_c_string":
        b.add(decode_ansi_c(_text(node)[2:-1]), True)
    elif t == "string":
        for child in node.children:
            ct = child.type
            if ct == '"':
                continue
            if ct == "string_content":
                raw = _text(child)
                if "!" in raw and _HISTORY_RE.search(raw):
                    b.literal = False
                b.add(_unescape_double(raw), True)
            else:
                b.literal = False
                b.subst.extend(_substitutions_in(child))
                b.add(_text(child), True)
    elif t == "translated_string":
        for child in node.children:
            if child.type == "string":
                _build(child, b)
    elif t == "concatenation":
        for child in node.children:
            _build(child, b)
    else:
        # $x, ${x}, $(...), `...`, <(...), $((...)), {a..b}, anything unknown:
        # the value is not known before the shell runs.
        b.literal = False
        b.subst.extend(_substitutions_in(node))
        b.add(_text(node), False)


def _substitutions_in(node: Node) -> list[Node]:
    """Command/process substitutions at or below ``node`` (not nested in
    each other: the inner ones are found when the outer one is analysed)."""
    found: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in SUBSTITUTIONS:
            found.append(n)
        else:
            stack.extend(n.children)
    return found


def make_word(node: Node) -> tuple[Word, list[Node]]:
    """A Word for a tree-sitter word-like node, plus the substitutions in it."""
    t = node.type
    if t == "word" or t == "raw_string" or t == "number":
        # Fast path (most words): no quoting to undo beyond '...'.
        raw = _text(node)
        if t == "raw_string":
            return Word(raw[1:-1], raw), []
        if "\\" not in raw and "!" not in raw and "{" not in raw:
            glob = "*" in raw or "?" in raw or ("[" in raw and "]" in raw[raw.index("[") + 1 :])
            return Word(raw, raw, True, glob, raw[:1] == "~"), []
    b = _WordBuilder()
    _build(node, b)
    value = "".join(b.chars)
    literal = b.literal
    unq = "".join(b.unq)
    glob = False
    tilde = unq[:1] == "~"
    if literal:
        if "*" in unq or "?" in unq:
            glob = True
        elif "[" in unq:
            k = unq.index("[")
            glob = "]" in unq[k + 1 :]
        if "{" in unq and _BRACE_RE.search(unq):
            literal = False  # brace expansion: one word becomes several
    if node.type == "brace_expression":
        literal = False
    source = _text(node)
    return Word(value if literal else source, source, literal, glob, tilde), b.subst


# Wrappers that take options and then a command: the options that take a
# value (skipped with it), and the ones that make them act on another
# process instead (they run nothing).
OPTION_WRAPPERS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "nice": (frozenset({"-n", "--adjustment"}), frozenset()),
    "ionice": (
        frozenset({"-c", "-n", "--class", "--classdata"}),
        frozenset({"-p", "-P", "-u", "--pid", "--pgid", "--uid"}),
    ),
    "setsid": (frozenset(), frozenset()),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), frozenset()),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), frozenset()),
}


def literal_word(value: str) -> Word:
    return Word(value, value)


# --------------------------------------------------------------------------
# Tree walking

_CONTAINERS = _names(
    """
    program list pipeline subshell compound_statement do_group if_statement elif_clause
    else_clause while_statement for_statement c_style_for_statement case_statement
    case_item negated_command ERROR
    """
)
_IGNORED = _names(
    """
    comment heredoc_body heredoc_start heredoc_end heredoc_content file_descriptor
    """
)
# Word-like and expression nodes found inside statements: they run nothing by
# themselves, but may contain substitutions (which are always looked for).
_WORDISH = _names(
    """
    word string raw_string ansi_c_string translated_string concatenation number
    simple_expansion expansion arithmetic_expansion brace_expression variable_name
    special_variable_name string_content regex extglob_pattern test_operator
    binary_expression unary_expression postfix_expression parenthesized_expression
    ternary_expression subscript array
    """
)


class _Analyser:
    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.overflow = False  # the too-large/deep finding is reported once

    # -- entry ----------------------------------------------------------

    def run(self, src: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._error(src, "nested-too-deep", "the command is nested too deeply to analyse")
            return
        data = src.encode("utf-8", "replace")
        tree = _parser().parse(_masked(data))
        root = tree.root_node
        if root.has_error:
            self._error(src, "parse-error", "the command does not parse cleanly as bash")
        outer = getattr(_LOCAL, "src", b"")
        _LOCAL.src = data
        try:
            self.visit(root, depth)
        finally:
            _LOCAL.src = outer

    def _error(self, src: str, kind: str, reason: str) -> None:
        part = Part(text=src, kind="error")
        part.add(kind, reason)
        self.parts.append(part)

    def _new_part(self, node: Node, kind: str = "command") -> Part:
        part = Part(text=_text(node), kind=kind)
        self.parts.append(part)
        return part

    # -- statements -------------------------------------------------------

    def visit(self, node: Node, depth: int) -> None:
        if depth > MAX_DEPTH or len(self.parts) > MAX_PARTS:
            if not self.overflow:
                self.overflow = True
                self._error(
                    _text(node)[:200],
                    "nested-too-deep",
                    "the command is too large or deep to analyse",
                )
            return
        t = node.type
        if t in _CONTAINERS:
            if t == "compound_statement" and node.children and node.children[0].type == "((":
                self._statement(node, depth, "((")
                return
            for child in node.children:
                if child.is_named:
                    self.visit(child, depth + 1)
                elif child.is_missing:
                    pass  # reported once as a parse error
            return
        if t == "command":
            self.command(node, [], depth)
        elif t == "redirected_statement":
            self.redirected(node, depth)
        elif t == "function_definition":
            part = self._new_part(node, "statement")
            part.argv = (literal_word("function"),)
            part.add(
                "function-definition",
                "defines a shell function, which changes what later commands run",
            )
            body = node.child_by_field_name("body")
            if body is not None:
                self.visit(body, depth + 1)
        elif t in ("declaration_command", "unset_command"):
            self.declaration(node, depth)
        elif t == "variable_assignment" or t == "variable_assignments":
            self.assignment_statement(node, depth)
        elif t == "test_command":
            self._statement(node, depth, "[[")
        elif t in _IGNORED:
            pass
        elif t in _WORDISH:
            self.scan_substitutions(node, None, depth)
        elif t in SUBSTITUTIONS:
            self.substitution(node, None, depth)
        elif t == "heredoc_redirect" or t == "file_redirect" or t == "herestring_redirect":
            part = self._new_part(node, "redirect")
            self.redirect(node, part, depth)
        else:
            part = self._new_part(node, "statement")
            part.add("unsupported", f"shell construct '{t}' is not analysed")
            for child in node.children:
                if child.is_named:
                    self.visit(child, depth + 1)

    def _statement(self, node: Node, depth: int, head: str) -> None:
        """[[ ... ]] and (( ... )): run nothing, but their words may be paths
        or contain substitutions."""
        part = self._new_part(node, "statement")
        words: list[Word] = [literal_word(head)]
        stack = list(node.named_children)
        while stack:
            child = stack.pop(0)
            if child.type in ("word", "string", "raw_string", "concatenation", "ansi_c_string"):
                w, subst = make_word(child)
                words.append(w)
                for s in subst:
                    self.substitution(s, part, depth)
                if w.literal and _ARITH_CODE_RE.search(w.value):
                    part.add("arithmetic-code", _ARITH_CODE_REASON.format(w.source[:60]))
                if not w.literal and not subst:
                    # bash evaluates expanded values arithmetically here:
                    # a value like a[$(cmd)] would run cmd.
                    part.add("dynamic-argument", f"{w.source[:60]} is expanded and evaluated")
            elif child.type in ("simple_expansion", "expansion"):
                part.add("dynamic-argument", f"{_text(child)[:60]} is expanded and evaluated")
            elif child.type in SUBSTITUTIONS:
                self.substitution(child, part, depth)
            else:
                stack[0:0] = list(child.named_children)
        part.argv = tuple(words)
        if head == "((":
            part.path_args = []
        else:
            part.path_args = [w for w in words[1:] if not w.value.startswith("-")]

    def declaration(self, node: Node, depth: int) -> None:
        part = self._new_part(node, "statement")
        words: list[Word] = []
        for child in node.children:
            if child.type == "variable_assignment":
                name_node = child.child_by_field_name("name")
                name = _text(name_node) if name_node is not None else ""
                words.append(literal_word(_text(child)))
                self._check_assignment(part, child, name, depth)
            elif child.type in ("variable_name", "word"):
                w, subst = make_word(child)
                words.append(w)
                for s in subst:
                    self.substitution(s, part, depth)
                named = child.type == "variable_name" or (w.literal and not w.value.startswith("-"))
                if named and is_dangerous_var(w.value):
                    part.add(
                        "dangerous-variable",
                        f"changes ${w.value}, which changes how later commands run",
                    )
                if not w.literal:
                    part.add(
                        "dynamic-name",
                        f"declares a variable whose name is not a literal ({w.source})",
                    )
            elif child.is_named:
                self.scan_substitutions(child, part, depth)
            else:
                words.append(literal_word(_text(child)))
        part.argv = tuple(words)

    def assignment_statement(self, node: Node, depth: int) -> None:
        part = self._new_part(node, "statement")
        nodes = [node] if node.type == "variable_assignment" else list(node.named_children)
        words = []
        for child in nodes:
            name_node = child.child_by_field_name("name")
            name = _text(name_node) if name_node is not None else ""
            words.append(literal_word(_text(child)))
            self._check_assignment(part, child, name, depth)
        part.argv = tuple(words)

    def _check_assignment(self, part: Part, node: Node, name: str, depth: int) -> None:
        base = name.split("[", 1)[0]
        if is_dangerous_var(base):
            part.add("dangerous-variable", f"sets {base}, which changes which programs run or how")
        value = node.child_by_field_name("value")
        if value is not None:
            self.scan_substitutions(value, part, depth)
            w, _ = make_word(value)
            if base in _PATH_VARS and not w.literal:
                part.add("dynamic-argument", f"{base} is set to a value that cannot be checked")
            elif w.literal:
                _assigned_paths(part, base, w.value)

    # -- substitutions ------------------------------------------------------

    def substitution(self, node: Node, part: Part | None, depth: int) -> None:
        kind = (
            "process-substitution"
            if node.type == "process_substitution"
            else "command-substitution"
        )
        text = _text(node)
        reason = (
            f"process substitution {text[:60]} runs a command whose output becomes a file"
            if kind == "process-substitution"
            else f"command substitution {text[:60]} runs a command whose output becomes arguments"
        )
        if part is None:
            part = self._new_part(node, "statement")
        part.add(kind, reason)
        for child in node.named_children:
            self.visit(child, depth + 1)

    def scan_substitutions(self, node: Node, part: Part | None, depth: int) -> None:
        """Find substitutions anywhere below ``node`` (not inside them)."""
        stack = [node]
        while stack:
            n = stack.pop()
            if n.type in SUBSTITUTIONS:
                self.substitution(n, part, depth)
            else:
                stack.extend(n.children)

    # -- redirections -------------------------------------------------------

    def redirected(self, node: Node, depth: int) -> None:
        body = node.child_by_field_name("body")
        redirects = [c for c in node.children if c.type.endswith("_redirect")]
        if body is not None and body.type == "command":
            self.command(body, redirects, depth)
            return
        if body is not None:
            self.visit(body, depth + 1)
        part = self._new_part(node, "redirect")
        part.text = " ".join(_text(r) for r in redirects)
        for r in redirects:
            self.redirect(r, part, depth)
            extra = r.children_by_field_name("destination")[1:]
            if extra:
                part.add("parse-ambiguity", "words after a redirection of a compound statement")

    def redirect(self, node: Node, part: Part, depth: int) -> None:
        t = node.type
        if t == "heredoc_redirect":
            part.add("heredoc", "a heredoc feeds inline text to the command")
            for child in node.children:
                if child.type == "heredoc_body":
                    self.scan_substitutions(child, part, depth)
                elif child.type.endswith("_redirect"):
                    self.redirect(child, part, depth)
            return
        if t == "herestring_redirect":
            for child in node.named_children:
                self.scan_substitutions(child, part, depth)
            return
        if t != "file_redirect":
            part.add("unsupported", f"redirection '{t}' is not analysed")
            return
        op = ""
        for child in node.children:
            if not child.is_named:
                op = child.type
        dests = node.children_by_field_name("destination")
        if not dests:
            part.add("redirect", f"redirection {_text(node)} has no target")
            return
        target, subst = make_word(dests[0])
        for s in subst:
            self.substitution(s, part, depth)
        if op in (">&", "<&", ">&-", "<&-") and (target.value.isdigit() or target.value == "-"):
            return  # 2>&1, >&2, 3<&0, >&-: descriptor duplication or closing
        if not target.literal:
            part.add("redirect", f"redirection target {target.source} is not a literal path")
            return
        if target.value in _HARMLESS_TARGETS or _DEV_FD_RE.match(target.value):
            return
        if target.glob:
            part.add("redirect", f"redirection target {target.source} is a glob pattern")
        kind: Literal["read", "write"] = "read" if op in ("<", "<&") else "write"
        if op == "<>":
            kind = "write"
        part.redirects.append(Redirect(kind, op, target))

    # -- simple commands ----------------------------------------------------

    def command(self, node: Node, outer_redirects: list[Node], depth: int) -> None:
        part = self._new_part(node)
        if outer_redirects:
            part.text = _text(node.parent) if node.parent is not None else part.text
        words: list[Word] = []
        assignments: list[tuple[str, Node]] = []
        for child in node.children:
            ct = child.type
            if ct == "command_name":
                named = child.named_children
                w, subst = make_word(named[0] if named else child)
                words.append(w)
                for sub in subst:
                    self.substitution(sub, part, depth)
            elif ct in _WORDISH or ct in SUBSTITUTIONS:
                w, subst = make_word(child)
                words.append(w)
                for sub in subst:
                    self.substitution(sub, part, depth)
            elif ct == "variable_assignment":
                name_node = child.child_by_field_name("name")
                assignments.append((_text(name_node) if name_node is not None else "", child))
            elif ct.endswith("_redirect"):
                self.redirect(child, part, depth)
                for extra in child.children_by_field_name("destination")[1:]:
                    w, subst = make_word(extra)
                    words.append(w)
                    for sub in subst:
                        self.substitution(sub, part, depth)
            elif child.is_named and ct != "comment":
                self.scan_substitutions(child, part, depth)
        for r in outer_redirects:
            self.redirect(r, part, depth)
            # tree-sitter-bash attaches words after a redirection to it
            # ("ls >f -la"): bash passes them to the command as arguments.
            for extra in r.children_by_field_name("destination")[1:]:
                w, subst = make_word(extra)
                words.append(w)
                for s in subst:
                    self.substitution(s, part, depth)
        for name, child in assignments:
            self._check_assignment(part, child, name, depth)
        if not words:
            part.kind = "statement"
            part.argv = tuple(literal_word(_text(c)) for _, c in assignments)
            return
        self.unwrap(part, words, depth)

    def unwrap(self, part: Part, words: list[Word], depth: int) -> None:
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
                rest = self._unwrap_one(part, name, argv)
                if rest is None:
                    break
                outer.append(tuple(argv))
                if not rest:
                    # a bare wrapper ("env", "time"): judge it as itself
                    outer.pop()
                    break
                argv = rest
                continue
            if name in SHELLS and self._shell(part, name, argv, depth):
                part.outer = tuple(outer)
                part.argv = tuple(argv)
                part.kind = "wrapper"
                return
            break
        part.outer = tuple(outer)
        part.argv = tuple(argv)
        self.program_checks(part, depth)

    def _unwrap_one(self, part: Part, name: str, argv: list[Word]) -> list[Word] | None:
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
                    if var is None or is_dangerous_var(var) or var in _PROTECTIVE_VARS:
                        part.add(
                            "dangerous-variable",
                            f"env -u {var or '?'} removes a setting that keeps commands safe",
                        )
                    i += 1 if attached else 2
                    continue
                if v in ("-i", "--ignore-environment", "-") or (
                    _short_cluster(v) and "i" in v and not v.startswith(("-C", "-S", "-P"))
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
                    _assigned_paths(part, var, v.split("=", 1)[1])
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
                    part.add(
                        "dynamic-argument", f"xargs argument {vals[i].source} is not a literal"
                    )
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

    def _shell(self, part: Part, name: str, argv: list[Word], depth: int) -> bool:
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
            self.run(script.value, depth + 1)
            return True
        if stdin or i >= n:
            part.add("shell-stdin", f"{name} runs shell code read from its standard input")
        return False

    # -- per-program checks -------------------------------------------------

    def program_checks(self, part: Part, depth: int) -> None:
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
            self._assigner_checks(part, name, argv)

        interp = "python" if _PYTHON_RE.match(name) else name
        if interp in _CODE_SHORT:
            self._interpreter(part, interp, argv)
        elif name in AWKS:
            self._awk(part, argv)

        if name in NETWORK_PROGRAMS:
            part.network = True
        else:
            subs = _NETWORK_SUBCOMMANDS.get(name)
            if subs is not None:
                sub = _first_operand(vals, 1)
                if sub in subs:
                    part.network = True
            if interp == "python" and "-m" in vals:
                k = vals.index("-m")
                if k + 1 < n and vals[k + 1] in ("pip", "uv", "ensurepip", "http.server", "pipx"):
                    part.network = True

        if name in ("grep", "egrep", "fgrep"):
            part.follows_links = _has_opt(vals, "R", ("--dereference-recursive",))
        elif name in ("ls", "du"):
            part.follows_links = _has_opt(vals, "L", ("--dereference",)) and (
                name == "du" or _has_opt(vals, "R", ("--recursive",))
            )
        if name == "git":
            self._git(part)
        elif name == "find":
            part.follows_links = "-L" in vals or "-follow" in vals
            for k, v in enumerate(vals):
                if v in _FIND_DANGERS and argv[k].literal:
                    part.dangers.append(Danger(k, f"find {v} {_FIND_DANGERS[v]}"))
        elif name in ("rg", "ripgrep"):
            part.follows_links = _has_opt(vals, "L", ("--follow",))
            for k, v in enumerate(vals):
                if v.startswith(("--pre", "--hostname-bin", "--search-zip")) or (
                    _short_cluster(v) and "z" in v
                ):
                    part.dangers.append(
                        Danger(k, f"rg {v.split('=')[0]} runs another program on every file")
                    )
        elif name == "sort":
            for k, v in enumerate(vals):
                if long_opt(v, "--output", "--compress-program") or (
                    _short_cluster(v) and "o" in v
                ):
                    part.dangers.append(
                        Danger(k, f"sort {v.split('=')[0]} writes a file or runs a program")
                    )
        elif name == "uniq":
            operands = _operands(vals, 1, "fsw", ("--skip-fields", "--skip-chars", "--check-chars"))
            if len(operands) >= 2:
                part.dangers.append(Danger(operands[1], "uniq writes its second file argument"))
        elif name == "sed":
            self._sed(part)
        elif name in ("diff", "sdiff", "diff3"):
            for k, v in enumerate(vals):
                if long_opt(v, "--output") or (name == "sdiff" and _short_cluster(v) and "o" in v):
                    part.dangers.append(Danger(k, f"{name} {v.split('=')[0]} writes a file"))
        elif name == "tree":
            for k, v in enumerate(vals):
                if v.startswith("--output") or (_short_cluster(v) and ("o" in v or "R" in v)):
                    part.dangers.append(Danger(k, f"tree {v} writes files"))
                if v in ("-l", "--follow") or (_short_cluster(v) and "l" in v):
                    part.follows_links = True
        elif name in ("test", "["):
            for w in argv[1:]:
                if w.literal and _ARITH_CODE_RE.search(w.value):
                    part.add("arithmetic-code", _ARITH_CODE_REASON.format(w.source[:60]))
        elif name == "file":
            for k, v in enumerate(vals):
                if v == "-C" or long_opt(v, "--compile"):
                    part.dangers.append(Danger(k, "file -C writes a compiled magic file"))
        elif name == "date":
            for k, v in enumerate(vals):
                if long_opt(v, "--set") or (_short_cluster(v) and "s" in v):
                    part.dangers.append(Danger(k, "date -s sets the system clock"))
        elif name == "tee":
            for w in argv[1:]:
                if w.literal and (w.value.startswith("-") and w.value != "-"):
                    continue
                if not w.literal:
                    part.add("dynamic-argument", f"tee target {w.source} is not a literal path")
                    continue
                if w.value not in _HARMLESS_TARGETS:
                    part.writes.append(w)
            return
        elif name in ("cd", "pushd"):
            if any(w.literal and w.value == "-" for w in argv[1:]):
                part.add("dynamic-argument", "cd - goes to a directory that cannot be checked")
            elif not [w for w in argv[1:] if not (w.literal and w.value.startswith("-"))]:
                # a bare cd goes home: outside the workspace
                part.path_args.append(Word("~", "~", True, False, True))
        self._path_args(part, name)

    def _assigner_checks(self, part: Part, name: str, argv: tuple[Word, ...]) -> None:
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
                part.add(
                    "dangerous-variable", f"{name} sets {v}, which changes how later commands run"
                )

    def _interpreter(self, part: Part, interp: str, argv: tuple[Word, ...]) -> None:
        code_short = _CODE_SHORT[interp]
        code_long = _CODE_LONG.get(interp, frozenset())
        arg_short = _ARG_SHORT.get(interp, "")
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
                        if k == len(letters) - 1 and interp not in _ATTACHED_ONLY:
                            i += 1  # value is the next word
                        break
                i += 1
                continue
            return  # a script file: judged by rules
        part.add("interpreter-stdin", f"{name} runs code read from its standard input")

    def _awk(self, part: Part, argv: tuple[Word, ...]) -> None:
        name = program_name(argv[0].value)
        i, n = 1, len(argv)
        program: Word | None = None
        while i < n:
            w = argv[i]
            v = w.value
            if not w.literal:
                part.add("dynamic-argument", f"{name} argument {w.source} is not a literal")
                return
            if v in (
                "-f",
                "--file",
                "-i",
                "--include",
                "-l",
                "--load",
                "-E",
                "--exec",
            ) or v.startswith(("-f", "--file=", "-i", "-l", "-E")):
                part.add(
                    "interpreter-code", f"{name} {v[:2]} loads a program that cannot be checked"
                )
                return
            if v in ("-e", "--source") or v.startswith("--source="):
                program = (
                    argv[i + 1] if "=" not in v and i + 1 < n else literal_word(v.split("=", 1)[-1])
                )
                break
            if v in ("-F", "-v", "--field-separator", "--assign"):
                i += 2
                continue
            if v == "--":
                i += 1
                continue
            if v.startswith("-") and len(v) > 1:
                i += 1
                continue
            program = w
            break
        if program is None:
            part.add("interpreter-code", f"{name} without a program")
            return
        if _AWK_DANGER.search(program.value):
            part.add(
                "interpreter-code",
                f"{name} program can run commands or write files (system, |, >, getline)",
            )

    def _sed(self, part: Part) -> None:
        argv = part.argv
        vals = [w.value for w in argv]
        scripts: list[str] = []
        explicit = False
        i, n = 1, len(vals)
        operands: list[int] = []
        while i < n:
            v = vals[i]
            if (
                v == "-i"
                or long_opt(v, "--in-place")
                or (_short_cluster(v) and "i" in v and not v.startswith(("-e", "-f", "-l")))
            ):
                part.dangers.append(Danger(i, "sed -i edits files in place"))
                i += 1
                continue
            if v == "-e" or (long_opt(v, "--expression") and "=" not in v):
                if i + 1 < n:
                    scripts.append(vals[i + 1])
                explicit = True
                i += 2
                continue
            if long_opt(v, "--expression"):
                scripts.append(v.split("=", 1)[1])
                explicit = True
                i += 1
                continue
            if v == "-f" or long_opt(v, "--file"):
                part.dangers.append(Danger(i, "sed -f runs a script that cannot be checked"))
                explicit = True
                i += 1 if "=" in v else 2
                continue
            if v.startswith("-e") and len(v) > 2:
                scripts.append(v[2:])
                explicit = True
                i += 1
                continue
            if v in ("-l", "--line-length"):
                i += 2
                continue
            if v.startswith("-") and v != "-":
                i += 1
                continue
            operands.append(i)
            i += 1
        if not explicit and operands:
            scripts.append(vals[operands[0]])
            part.skip_arg = operands[0]
        for s in scripts:
            why = sed_script_danger(s)
            if why:
                k = vals.index(s) if s in vals else 1
                part.dangers.append(Danger(k, why))

    def _git(self, part: Part) -> None:
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
                part.dangers.append(
                    Danger(i, f"git {v.split('=')[0]} can make git run any program")
                )
                if v.startswith("--git-dir="):
                    part.path_args.append(literal_word(v.split("=", 1)[1]))
                elif v == "--git-dir" and i + 1 < n:
                    part.path_args.append(argv[i + 1])
                return  # keep argv unnormalised: no read-only rule matches it
            if v in ("-C", "--work-tree", "--namespace"):
                if i + 1 < n:
                    part.path_args.append(argv[i + 1])
                strip += [i, i + 1]
                i += 2
                continue
            if v.startswith("--work-tree="):
                part.path_args.append(literal_word(v.split("=", 1)[1]))
                strip.append(i)
                i += 1
                continue
            if v in _GIT_HARMLESS_GLOBAL:
                strip.append(i)
                i += 1
                continue
            break  # unknown global option: leave it, no prefix rule will match
        if strip:
            argv = [w for k, w in enumerate(argv) if k not in set(strip)]
            part.argv = tuple(argv)
            vals = [w.value for w in argv]
        sub = vals[1] if len(vals) > 1 else ""
        if _git_network(vals):
            part.network = True
        for k, v in enumerate(vals[2:], 2):
            key = long_opt(v, *_GIT_DANGEROUS_OPTIONS) or v.split("=", 1)[0]
            if key in _GIT_DANGEROUS_OPTIONS or (sub == "grep" and v.startswith("-O")):
                part.dangers.append(
                    Danger(
                        k,
                        f"git {sub} {key} {_GIT_DANGEROUS_OPTIONS.get(key, 'runs a pager command')}",
                    )
                )
            elif sub == "format-patch" and (v == "-o" or v.startswith("--output-directory")):
                part.dangers.append(Danger(k, "git format-patch -o writes files"))

    def _path_args(self, part: Part, name: str) -> None:
        if part.unknown_args and name not in ("echo", "true", "false"):
            part.add(
                "unknown-arguments",
                f"xargs gives {name} arguments from its input, which cannot be checked",
            )
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
            tail = _path_tail(v) if ("=" in v or ":" in v) else None
            if tail is not None:
                part.path_args.append(Word(tail, w.source, True, w.glob, tail.startswith("~")))
            if v.startswith("--"):
                if "=" in v:
                    value = v.split("=", 1)[1]
                    if _looks_like_path(value):
                        part.path_args.append(
                            Word(value, w.source, True, w.glob, value.startswith("~"))
                        )
                continue
            if v.startswith("-") and len(v) > 1:
                value = v[2:]
                if value and ("/" in value or value.startswith("~")):
                    part.path_args.append(
                        Word(value, w.source, True, w.glob, value.startswith("~"))
                    )
                    # A bundle ends with an option taking a value: -rf/etc/passwd
                    # is -r -f /etc/passwd.
                    m = _CLUSTER_PATH_RE.match(v)
                    if m and m.group(1) != value:
                        value = m.group(1)
                        part.path_args.append(
                            Word(value, w.source, True, w.glob, value.startswith("~"))
                        )
                continue
            part.path_args.append(w)


def _assigned_paths(part: Part, var: str, value: str) -> None:
    """Paths a ``VAR=value`` makes the program use: every piece of a search
    path (PYTHONPATH), and for any other variable the pieces that reach
    outside by themselves (``PYTHONPYCACHEPREFIX=/tmp/x``, ``XDG_CACHE_HOME=~/x``)."""
    for piece in value.split(":"):
        if not piece:
            continue
        if (
            var in _PATH_VARS
            or piece.startswith(("/", "~"))
            or piece == ".."
            or piece.startswith("../")
        ):
            part.path_args.append(literal_word(piece))
            continue
        tail = _path_tail(piece)
        if tail is not None:
            part.path_args.append(literal_word(tail))


def _git_network(vals: list[str]) -> bool:
    sub = vals[1] if len(vals) > 1 else ""
    action = _first_operand(vals, 2)
    if sub in ("push", "fetch", "pull", "clone", "ls-remote"):
        return True
    if sub == "remote":
        return action in ("update", "prune", "show", "set-head") and "-n" not in vals
    if sub == "submodule":
        return action in ("update", "add", "foreach", "sync")
    if sub == "archive":
        return any(v.startswith("--remote") for v in vals)
    return False


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


def _short_cluster(v: str) -> bool:
    return len(v) > 1 and v[0] == "-" and v[1] != "-"


def _has_opt(vals: list[str], letter: str, longs: tuple[str, ...]) -> bool:
    """``-LETTER`` (also in a bundle) or one of ``longs`` (also abbreviated)
    before ``--``."""
    for v in vals[1:]:
        if v == "--":
            return False
        if long_opt(v, *longs) or (_short_cluster(v) and letter in v.split("=", 1)[0]):
            return True
    return False


def _path_tail(value: str) -> str | None:
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
        inner = _path_tail(tail)
        if inner is not None:
            return inner
    return None


def _first_operand(vals: list[str], start: int) -> str:
    for v in vals[start:]:
        if not v.startswith("-"):
            return v
    return ""


def _operands(vals: list[str], start: int, short_arg: str, long_arg: tuple[str, ...]) -> list[int]:
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


_CLUSTER_PATH_RE = re.compile(r"^-[A-Za-z0-9]+?([/~.].*)$")


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", ".")) or "/" in value


_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_DEV_FD_RE = re.compile(r"^/dev/fd/[0-9]+$")

_FIND_DANGERS = {
    "-exec": "runs a command for every file",
    "-execdir": "runs a command for every file",
    "-ok": "runs a command for every file",
    "-okdir": "runs a command for every file",
    "-delete": "deletes files",
    "-fprint": "writes a file",
    "-fprint0": "writes a file",
    "-fprintf": "writes a file",
    "-fls": "writes a file",
}
_GIT_HARMLESS_GLOBAL = _names(
    """
    --no-pager -P --no-optional-locks --literal-pathspecs --glob-pathspecs --noglob-pathspecs
    --icase-pathspecs --no-replace-objects --no-lazy-fetch --no-advice
    """
)
_GIT_DANGEROUS_OPTIONS = {
    "--output": "writes a file",
    "--ext-diff": "runs an external diff program",
    "--textconv": "runs text conversion programs",
    "--upload-pack": "runs a program",
    "--receive-pack": "runs a program",
    "--exec": "runs a program",
    "--open-files-in-pager": "runs a pager command",
    "--config": "changes git configuration",
    "--run": "runs a program",
    "--filters": "runs the clean/smudge filter programs",
}
# awk programs that may run commands, write or read other files, or read the
# environment: system(), pipes (not ||), output redirection in print/printf
# (not comparisons), getline, ARGV/ARGC rewrites (which change the input
# files), gawk's @load/@include and indirect calls (@f()), /inet files.
_AWK_DANGER = re.compile(
    r"system|getline|(?<!\|)\|(?!\|)|\bprintf?\b[^;}\n]*>|ENVIRON|ARGV|ARGC|PROCINFO"
    r"|close\s*\(|fflush|@|/inet"
)


def sed_script_danger(script: str) -> str | None:
    """Why a sed script is dangerous (e, w, W, r, R commands; s///e or s///w),
    or None. A small scanner of sed's syntax; anything it cannot follow is
    reported as dangerous."""
    i, n = 0, len(script)

    def skip_delimited(j: int, delim: str) -> int:
        # from just after an opening delimiter to just after the closing one
        while j < n:
            c = script[j]
            if c == "\\":
                j += 2
                continue
            if c == delim:
                return j + 1
            if c == "\n":
                return -1
            j += 1
        return -1

    def address(j: int) -> int:
        if j < n and script[j] in "0123456789":
            while j < n and script[j] in "0123456789~":
                j += 1
        elif j < n and script[j] == "$":
            j += 1
        elif j < n and script[j] in "/\\":
            if script[j] == "\\":
                if j + 1 >= n:
                    return -1
                j = skip_delimited(j + 2, script[j + 1])
            else:
                j = skip_delimited(j + 1, "/")
            if j < 0:
                return -1
            while j < n and script[j] in "IM":
                j += 1
        return j

    while i < n:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            return None
        i = address(i)
        if i < 0:
            return "cannot read the sed script"
        if i < n and script[i] == ",":
            i += 1
            if i < n and script[i] in "+~":
                i += 1
            i = address(i)
            if i < 0:
                return "cannot read the sed script"
        while i < n and script[i] in " \t!":
            i += 1
        if i >= n:
            return None
        c = script[i]
        i += 1
        if c in "ewWrR":
            return f"the sed script's {c} command runs a command or reads/writes a file"
        if c in "{}=dDgGhHlnNpPqQxzF":
            while i < n and script[i] in "0123456789 \t":
                i += 1
            continue
        if c in "bt:T":
            while i < n and script[i] not in ";\n}":
                i += 1
            continue
        if c in "aic":
            while i < n and script[i] != "\n":
                i += 2 if script[i] == "\\" else 1
            continue
        if c in "sy":
            if i >= n or script[i] in "\n\\":
                return "cannot read the sed script"
            delim = script[i]
            j = skip_delimited(i + 1, delim)
            j = skip_delimited(j, delim) if j >= 0 else -1
            if j < 0:
                return "cannot read the sed script"
            flags_start = j
            while j < n and script[j] not in ";\n}":
                j += 1
            flags = script[flags_start:j]
            if c == "s" and ("e" in flags or "w" in flags):
                return "the sed s command's e/w flag runs a command or writes a file"
            i = j
            continue
        if c == "#":
            while i < n and script[i] != "\n":
                i += 1
            continue
        return f"cannot read the sed script (command {c!r})"
    return None


@short_text_cache(maxsize=8192)
def analyse(command: str) -> Analysis:
    """Parse ``command`` and return its parts (cached up to 4,096 characters;
    the result is shared, do not modify it)."""
    if "\x00" in command:
        part = Part(text=command, kind="error")
        part.add("nul", "the command contains a NUL character")
        return Analysis(command, (part,))
    if len(command) > MAX_COMMAND_CHARS:
        part = Part(text=command[:200] + "...", kind="error")
        part.add("too-long", f"the command is longer than {MAX_COMMAND_CHARS} characters")
        return Analysis(command, (part,))
    analyser = _Analyser()
    try:
        command.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable bytes): what runs is not what we read.
        # Analyse a best-effort copy so deny rules still apply, and ask.
        analyser._error(command, "encoding", "the command is not valid UTF-8 text")
    try:
        analyser.run(command, 0)
    except RecursionError:
        part = Part(text=command[:200], kind="error")
        part.add("nested-too-deep", "the command is nested too deeply to analyse")
        analyser.parts.append(part)
    return Analysis(command, tuple(analyser.parts))


def shell_parts(command: str) -> list[Part]:
    """The parts of ``command`` (see the module docstring)."""
    return list(analyse(command).parts)
