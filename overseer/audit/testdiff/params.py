"""``@pytest.mark.parametrize`` lists, compared case by case.

More cases is a stronger test: a list that grows as a strict superset of the
old one weakens nothing, even when a new case is marked skip or xfail (it
disables no check that ran before). What weakens it: a case removed, an
existing case newly marked skip/xfail, or a case's expected value rewritten
to what a failing run showed the code returning (``rewrites`` judges that).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .observed import Observed, showed_rewrite

_MARKED = re.compile(r"\b(skip|skipif|xfail)\b")


@dataclass(frozen=True)
class Case:
    values: str  # the case's values, as written (its identity)
    node: ast.AST  # the values' node
    marked: bool  # pytest.param(..., marks=skip/xfail)
    text: str


def is_parametrize(node: ast.AST) -> bool:
    f = node.func if isinstance(node, ast.Call) else node
    return isinstance(f, ast.Attribute) and f.attr == "parametrize"


def _src(node: ast.AST) -> str:
    return " ".join(ast.unparse(node).split())[:160]


def _case(node: ast.AST) -> Case:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if name == "param":
            marks = next((k.value for k in node.keywords if k.arg == "marks"), None)
            values = ast.Tuple(elts=list(node.args), ctx=ast.Load())
            marked = marks is not None and bool(_MARKED.search(_src(marks)))
            return Case(ast.dump(values), values, marked, _src(node))
    return Case(ast.dump(node), node, False, _src(node))


def cases(decorator: ast.Call) -> tuple[str, list[Case]] | None:
    """(argnames, cases) of a parametrize decorator whose list is written out."""
    if len(decorator.args) < 2:
        return None
    names, values = decorator.args[0], decorator.args[1]
    if not isinstance(values, ast.List | ast.Tuple):
        return None  # built elsewhere (a variable, a comprehension): not judged here
    return ast.dump(names), [_case(v) for v in values.elts]


def _values(node: ast.AST) -> list[ast.AST]:
    return list(node.elts) if isinstance(node, ast.Tuple | ast.List) else [node]


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _rewritten(old: Case, new: Case, observed: Sequence[Observed]) -> str | None:
    """A case whose values changed only where a run showed the code's output."""
    ov, nv = _values(old.node), _values(new.node)
    if len(ov) != len(nv):
        return None
    for o, n in zip(ov, nv, strict=True):
        if ast.dump(o) == ast.dump(n):
            continue
        ok_o, vo = _literal(o)
        ok_n, vn = _literal(n)
        if ok_o and ok_n:
            seen = showed_rewrite(observed, vo, vn)
            if seen is not None:
                where = f" at seq {seen.run}" if seen.run is not None else ""
                return (
                    f"parametrize case `{old.text}` became `{new.text}`: expected value {vo!r} "
                    f"changed to {vn!r}, what the code returned in the failing run{where}"
                )
    return None


def compare(
    test: str, old: ast.Call, new: ast.Call, observed: Sequence[Observed]
) -> list[str] | None:
    """Why the new parametrize list weakens ``test`` ([] : it does not; None: not comparable)."""
    before, after = cases(old), cases(new)
    if before is None or after is None or before[0] != after[0]:
        return None
    old_cases, new_cases = before[1], after[1]
    new_by_values = {c.values: c for c in new_cases}
    old_values = {c.values for c in old_cases}
    out = []
    gone = [c for c in old_cases if c.values not in new_by_values]
    added = [c for c in new_cases if c.values not in old_values]
    for c in old_cases:
        kept = new_by_values.get(c.values)
        if kept is not None and kept.marked and not c.marked:
            out.append(f"{test}: parametrize case `{c.text}` is now marked: `{kept.text}`")
    # A changed case is a removed one and an added one; pair them in order.
    for k, c in enumerate(gone):
        partner = added[k] if k < len(added) else None
        why = _rewritten(c, partner, observed) if partner is not None else None
        if why:
            out.append(f"{test}: {why}")
        elif partner is None:
            out.append(f"{test}: parametrize case `{c.text}` removed")
    return out
