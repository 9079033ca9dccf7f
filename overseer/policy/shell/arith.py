"""Arithmetic that runs code: bash evaluates a variable's *value* as an
arithmetic expression, recursively, and an array subscript in that value
runs its command substitutions.

``for x in 'a[$(id)]'; do echo $((x)); done`` runs ``id``: the loop gives
``x`` a value no analysis can see at the place it is used, and so do glob
matches (a file named ``a[$(id)]``), ``$_``, ``BASH_REMATCH``... So an
arithmetic context that names a variable — ``$((x))``, ``$[x]``,
``${s:x:1}``, ``${a[i]}``, ``[[ x -eq 1 ]]``, ``for ((...; i<n; ...))`` — is
a finding, as are ``${!x}`` (indirection: the value is a name, maybe with a
subscript) and ``${x@P}`` (the value is expanded like a prompt, command
substitutions included). ``${PS0:=...}`` assigns a variable that changes
what the shell runs: only a plain (lower-case) name may be assigned so. Numbers and operators alone are fine:
``$((1 + 2))``, ``${s:0:3}``, ``${a[0]}``, ``[[ 3 -gt 2 ]]``.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from .programs import is_plain_variable
from .words import SUBSTITUTIONS, _text

# numeric literals bash reads in arithmetic: 42, 0x1f, 0755, 16#ff, 2#1010
_NUMBER = re.compile(r"\b(?:\d+#[0-9A-Za-z@_]+|0[xX][0-9A-Fa-f]+|\d+)\b")
_NAMES = re.compile(r"[A-Za-z_$]")
ARITH_OPS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})


def names_a_variable(text: str) -> bool:
    """``text`` (arithmetic) refers to a variable (by name or ``$``)."""
    return bool(_NAMES.search(_NUMBER.sub("0", text)))


def arith_reason(node: Node) -> tuple[str, str] | None:
    """(finding kind, why) when ``node`` (a word, an expansion, a statement)
    may evaluate a variable's value as code or assign a dangerous one, or None. Command substitutions are not looked
    into: they are findings of their own."""
    stack = [node]
    while stack:
        n = stack.pop()
        t = n.type
        if t in SUBSTITUTIONS:
            continue
        if t == "arithmetic_expansion":
            inner = _text(n)
            inner = inner[3:-2] if inner.startswith("$((") else inner[2:-1]
            if names_a_variable(inner):
                why = f"{_text(n)[:60]} evaluates a variable's value, which may hold code"
                return "arithmetic-code", why
            continue
        if t == "expansion":
            if _assigns_dangerous(n):
                return (
                    "dangerous-variable",
                    f"{_text(n)[:60]} assigns a variable that changes how commands run",
                )
            expanded = _expansion(n)
            if expanded:
                return "arithmetic-code", expanded
        elif t == "c_style_for_statement":
            header = _c_for(n)
            if header:
                return "arithmetic-code", header
        stack.extend(n.children)
    return None


def _assigns_dangerous(n: Node) -> bool:
    kids = n.children
    return any(
        c.type in (":=", "=") and k > 0 and not is_plain_variable(_text(kids[k - 1]))
        for k, c in enumerate(kids)
    )


def _expansion(n: Node) -> str | None:
    kids = n.children
    text = _text(n)
    types = [c.type for c in kids]
    if len(types) > 1 and types[1] == "!":
        return f"{text[:60]} expands a variable named by another's value"
    for k, c in enumerate(kids):
        if c.type == "@" and k + 1 < len(kids) and _text(kids[k + 1]) == "P":
            return f"{text[:60]} expands a value like a prompt (command substitutions run)"
        if c.type == "subscript":
            index = "".join(_text(x) for x in c.children[2:-1])
            if index not in ("@", "*") and names_a_variable(index):
                return f"{text[:60]} evaluates a subscript that names a variable"
        if c.type == ":":
            rest = "".join(_text(x) for x in kids[k + 1 : -1])
            if names_a_variable(rest):
                return f"{text[:60]} evaluates an offset that names a variable"
            break
    return None


def _c_for(n: Node) -> str | None:
    assigned: set[str] = set()
    for c in n.children:
        if c.type == "do_group":
            break
        if c.type == "variable_assignment":
            name = c.child_by_field_name("name")
            value = c.child_by_field_name("value")
            if value is not None and names_a_variable(_text(value)):
                return f"for (( {_text(c)[:40]} )) evaluates a variable's value"
            if name is not None:
                assigned.add(_text(name))
            continue
        if c.is_named and c.type not in ("comment",):
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _NUMBER.sub("0", _text(c))))
            if "$" in _text(c) or words - assigned:
                return f"for (( ... {_text(c)[:40]} ... )) evaluates a variable's value"
    return None


def test_arith_reason(node: Node) -> str | None:
    """``[[ A -eq B ]]``: both operands are evaluated as arithmetic."""
    tokens: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in SUBSTITUTIONS:
            continue
        if n.type in (
            "word",
            "number",
            "test_operator",
            "string",
            "raw_string",
            "concatenation",
            "simple_expansion",
            "expansion",
            "arithmetic_expansion",
        ):
            tokens.append(_text(n))
            continue
        stack.extend(reversed(n.children))
    for k, tok in enumerate(tokens):
        if tok not in ARITH_OPS:
            continue
        for side in tokens[k - 1 : k] + tokens[k + 1 : k + 2]:
            if names_a_variable(side.strip("'\"")):
                return f"[[ {side[:40]} {tok} ... ]] evaluates {side[:40]} as arithmetic (its value may hold code)"
    return None
