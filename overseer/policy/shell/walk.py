"""Walking the tree-sitter tree of a command into its parts.

``analyse(command)`` parses the command and visits every node: each simple
command anywhere (after ``;`` ``&&`` ``||`` ``|`` ``&`` and newlines, in
``( )``, ``{ }``, ``if``/``for``/``while``/``case`` bodies, in command and
process substitutions, in the literal script of ``sh -c '...'``) becomes a
``Part``; statements, assignments, declarations and redirections are parts
or findings of their own. What a part's program does with its arguments is
judged by ``unwrap`` and ``checks``.
"""

from __future__ import annotations

import re
from typing import Literal

from tree_sitter import Node

from ...textcache import short_text_cache
from .arith import arith_reason, names_a_variable, test_arith_reason
from .model import MAX_COMMAND_CHARS, MAX_DEPTH, MAX_PARTS, Analysis, Part, Redirect, Word
from .options import assigned_paths
from .programs import (
    ARITH_CODE_RE,
    ARITH_CODE_REASON,
    DEV_FD_RE,
    HARMLESS_TARGETS,
    PATH_VARS,
    is_dangerous_var,
    is_plain_variable,
    word_set,
)
from .unwrap import unwrap
from .words import _LOCAL, SUBSTITUTIONS, _masked, _parser, _text, literal_word, make_word

# --------------------------------------------------------------------------
# Tree walking

_CONTAINERS = word_set(
    """
    program list pipeline subshell compound_statement do_group if_statement elif_clause
    else_clause while_statement for_statement c_style_for_statement case_statement
    case_item negated_command ERROR
    """
)
_IGNORED = word_set(
    """
    comment heredoc_body heredoc_start heredoc_end heredoc_content file_descriptor
    """
)
# Word-like and expression nodes found inside statements: they run nothing by
# themselves, but may contain substitutions (which are always looked for).
_WORDISH = word_set(
    """
    word string raw_string ansi_c_string translated_string concatenation number
    simple_expansion expansion arithmetic_expansion brace_expression variable_name
    special_variable_name string_content regex extglob_pattern test_operator
    binary_expression unary_expression postfix_expression parenthesized_expression
    ternary_expression subscript array
    """
)


# An unescaped backslash-newline (an odd run of backslashes before it).
_CONTINUATION = re.compile(rb"(?<!\\)(?:\\\\)*\\\n")


def _in_double_quotes(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "string":
            return True
        parent = parent.parent
    return False


# Leaves whose text bash never expands, and what opens a substitution.
_LITERAL_LEAVES = word_set("raw_string ansi_c_string comment heredoc_body heredoc_content")
_QUOTES = word_set("raw_string ansi_c_string")
_ESCAPED = re.compile(r"\\.", re.S)
_MAY_SUBSTITUTE = re.compile(rb"`|\$\(|[<>]\(")
_OPAQUE_SUBST = re.compile(r"`|\$\(|[<>]\(")


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
            if _MAY_SUBSTITUTE.search(data):
                self._opaque_code(root)
            if b"\\\n" in data:
                self._continuations(root, data)
        finally:
            _LOCAL.src = outer

    def _continuations(self, root: Node, data: bytes) -> None:
        """bash removes a backslash-newline before it reads the line, so one
        inside a word joins what the parser sees apart: ``"$\\<newline>(cmd)"``
        is ``"$(cmd)"`` to bash and text to tree-sitter. Between words (after
        a blank) it is harmless, and in '...' and comments it is no
        continuation at all; anywhere else it is a finding."""
        for m in _CONTINUATION.finditer(data):
            pos = m.end() - 2  # the backslash
            if pos > 0 and data[pos - 1 : pos] in (b" ", b"\t"):
                continue
            node: Node | None = root.descendant_for_byte_range(pos, pos + 1)
            literal = False
            while node is not None:
                if node.type == "comment":
                    literal = True
                    break
                if node.type == "raw_string":
                    literal = not _in_double_quotes(node)
                    break
                node = node.parent
            if not literal:
                part = Part(text=data[max(0, pos - 30) : pos + 30].decode("utf-8", "replace"))
                part.kind = "statement"
                part.add(
                    "line-continuation",
                    "a backslash-newline inside a word: bash joins the lines before it reads "
                    "them, so the command is not the one analysed",
                )
                self.parts.append(part)
                return

    def _opaque_code(self, root: Node) -> None:
        """tree-sitter-bash leaves some text bash expands unparsed: the
        operand of ``${x#...}``, ``${x/.../...}``, ``${x:-...}``, the regex
        of ``[[ =~ ]]``, extglob patterns, '...' inside "..." (no quotes
        there for bash). A substitution there runs like any
        other (``${x%`id`}`` runs id) but is no node the walk can see, so a
        leaf whose text holds one is a finding of its own."""
        stack = [(root, False)]
        while stack:
            n, quoted = stack.pop()
            # Inside "...", bash reads ' as a plain character: the
            # substitution in "${x:+'$(id)'}" runs (tree-sitter sees a
            # single-quoted string there).
            if n.type in _LITERAL_LEAVES and not (quoted and n.type in _QUOTES):
                continue
            if n.child_count and n.type not in _QUOTES:
                quoted = quoted or n.type == "string"
                stack.extend((c, quoted) for c in n.children)
                continue
            if not n.is_named:
                continue  # syntax: the $( of a substitution the walk did see
            found = _OPAQUE_SUBST.search(_ESCAPED.sub("", _text(n)))
            if found:
                part = self._new_part(n, "statement")
                part.add(
                    "command-substitution",
                    f"{_text(n)[:60]} holds a substitution ({found.group(0)}) bash runs "
                    "where the parser sees plain text",
                )

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
            if t == "for_statement":
                self._loop_variable(node)
            if t == "c_style_for_statement":
                found = arith_reason(node)
                if found:
                    self._new_part(node, "statement").add(*found)
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
            found = arith_reason(node)
            if found:  # for x in $((y)), case ${a[i]} in
                self._new_part(node, "statement").add(*found)
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

    def _loop_variable(self, node: Node) -> None:
        """``for VAR in ...`` assigns VAR (and it stays set after the loop):
        ``for PATH in /tmp; do ls; done`` runs /tmp/ls, ``for PS0 in ...``
        runs code before every later command. ``select`` reads the terminal."""
        first = node.children[0].type if node.children else ""
        var = node.child_by_field_name("variable")
        name = _text(var) if var is not None else ""
        if first == "select":
            part = self._new_part(node, "statement")
            part.argv = (literal_word("select"),)
            part.add("shell-state", "select reads a choice from the terminal and assigns it")
        elif not is_plain_variable(name):
            part = self._new_part(node, "statement")
            part.argv = (literal_word("for"),)
            part.add(
                "dangerous-variable",
                f"the loop assigns {name}, which may change how commands run"
                " (a loop variable is a lower-case name)",
            )

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
                if w.literal and ARITH_CODE_RE.search(w.value):
                    part.add("arithmetic-code", ARITH_CODE_REASON.format(w.source[:60]))
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
        found = arith_reason(node)
        why = (
            test_arith_reason(node)
            if head == "[["
            else f"(( {_text(node)[2:42]} )) is arithmetic on variables' values"
            if names_a_variable(_text(node)[2:-2])
            else None
        )
        if found:
            part.add(*found)
        if why:
            part.add("arithmetic-code", why)
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
            if base in PATH_VARS and not w.literal:
                part.add("dynamic-argument", f"{base} is set to a value that cannot be checked")
            elif w.literal:
                assigned_paths(part, base, w.value)

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
                found = arith_reason(child)
                if found:
                    part.add(*found)
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
        fds = [_text(c) for c in node.children if c.type == "file_descriptor"]
        if op in (">&", "<&", ">&-", "<&-") and target.value.isdigit():
            fds.append(target.value)
        elif target.literal and DEV_FD_RE.match(target.value):
            fds.append(target.value.rsplit("/", 1)[1])
        if any(not fd.isdigit() or int(fd) > 9 for fd in fds):
            # bash keeps its own descriptors at 10 and up (overseer's status
            # socket among them); scripts use 0-9.
            part.add("redirect", f"redirection {_text(node)[:60]} uses a descriptor of the shell's")
            return
        if op in (">&", "<&", ">&-", "<&-") and (target.value.isdigit() or target.value == "-"):
            return  # 2>&1, >&2, 3<&0, >&-: descriptor duplication or closing
        if not target.literal:
            part.add("redirect", f"redirection target {target.source} is not a literal path")
            return
        if target.value in HARMLESS_TARGETS or DEV_FD_RE.match(target.value):
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
                _named_fd(child, part)
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
                    _named_fd(extra, part)
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
        for child in node.children:
            found = arith_reason(child)
            if found:
                part.add(*found)
                break
        if not words:
            part.kind = "statement"
            part.argv = tuple(literal_word(_text(c)) for _, c in assignments)
            return
        unwrap(part, words, depth, self.run)


_NAMED_FD_RE = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\}$")


def _named_fd(node: Node, part: Part) -> None:
    """``{var}>file``: bash opens a descriptor and assigns its number to
    ``var`` (``{PATH}>&1``, ``{IFS}<x`` change later commands). tree-sitter
    reads ``{var}`` as a word, so look at what follows it."""
    src: bytes = _LOCAL.src
    if _NAMED_FD_RE.match(_text(node)) and src[node.end_byte : node.end_byte + 1] in (b"<", b">"):
        part.add("shell-state", f"the redirection {_text(node)[:40]}... assigns a shell variable")


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
