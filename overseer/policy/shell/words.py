"""Shell words as bash will hand them to a program.

tree-sitter-bash parses the command (one parser per thread); this module
turns its word-like nodes into ``Word`` values with quoting undone
(``r"m"``, ``'r'm``, ``\\rm`` and ``$'\\x72m'`` are all ``rm``), and marks
what bash would expand (globs, braces, ``~``, variables, substitutions) so
that nothing whose value is not known is taken for a literal.
"""

from __future__ import annotations

import re
import threading

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from .model import Word

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


def literal_word(value: str) -> Word:
    return Word(value, value)
