"""Values rewritten inside statements that otherwise stayed the same.

Each simple statement of a test (an assert, an assignment such as
``expected = 4``, a call such as ``self.assertEqual(f(2), 4)``) is reduced
to its skeleton — the statement with every literal value cut out — and the
literals it holds. The statements of the old and the new version are
aligned by skeleton; where a skeleton is unchanged, only values changed, and
each changed value is judged: an expected value rewritten to what a failing
run showed the code returning pins the bug instead of catching it; a
changed tolerance is judged by ``tolerance``.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import textdiff
from . import tolerance
from .observed import Observed, showed_rewrite

_SIMPLE = (ast.Assert, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)
_LITERAL_NODES = (ast.Constant, ast.UnaryOp, ast.Tuple, ast.List, ast.Dict, ast.Set)
_HOLE = "\x00literal"
# Keyword values that are not expected values (tolerances are judged apart).
_NOT_EXPECTED = tolerance.TOLERANCE_KEYWORDS | {"msg", "reason", "match"}


def _literal(node: ast.AST) -> tuple[bool, Any]:
    if not isinstance(node, _LITERAL_NODES):
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


@dataclass
class Statement:
    skeleton: str
    values: list[tuple[bool, Any]]  # (an expected-value slot?, value), in source order
    node: ast.stmt
    text: str


class _Cut(ast.NodeTransformer):
    """Replace each outermost literal by a hole, remembering its value."""

    def __init__(self) -> None:
        self.values: list[tuple[bool, Any]] = []
        self._slot = True

    def visit_keyword(self, node: ast.keyword) -> ast.AST:
        outer, self._slot = self._slot, node.arg not in _NOT_EXPECTED
        try:
            return self.generic_visit(node)
        finally:
            self._slot = outer

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        node.test = self.visit(node.test)
        if node.msg is not None:
            outer, self._slot = self._slot, False
            node.msg = self.visit(node.msg)
            self._slot = outer
        return node

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.expr) and not isinstance(node, ast.JoinedStr):
            ok, value = _literal(node)
            if ok:
                self.values.append((self._slot, value))
                return ast.Constant(value=_HOLE)
        return super().generic_visit(node)


def statement(node: ast.stmt) -> Statement:
    cut = _Cut()
    skeleton = cut.visit(copy.deepcopy(node))
    text = " ".join(ast.unparse(node).split())[:160]
    return Statement(ast.dump(skeleton), cut.values, node, text)


def statements(body: Sequence[ast.stmt]) -> list[Statement]:
    """The simple statements under ``body`` (nested ones too), docstrings left out."""
    out = []
    for top in body:
        for n in ast.walk(top):
            if isinstance(n, _SIMPLE):
                if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant):
                    continue  # a docstring or a bare string
                out.append(statement(n))
    return out


def _changes(old: Statement, new: Statement) -> list[tuple[Any, Any]]:
    return [
        (vo, vn)
        for (slot, vo), (_s, vn) in zip(old.values, new.values, strict=True)
        if slot and (type(vo) is not type(vn) or vo != vn)
    ]


def _expected_of(node: ast.AST) -> tuple[bool, Any]:
    """The value an operand expects: a literal, or the literal inside ``approx(...)``."""
    if isinstance(node, ast.Call) and node.args and tolerance.site_of(node) is not None:
        node = node.args[0]
    return _literal(node)


def _operands(stmt: ast.stmt) -> tuple[str, list[ast.AST]] | None:
    """What a check compares: (what is checked, the operands it is checked against)."""
    if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare):
        return ast.dump(stmt.test.left), list(stmt.test.comparators)
    if (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and len(stmt.value.args) >= 2
    ):
        call = stmt.value
        name = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        if name.startswith("assert"):
            return name + ast.dump(call.args[0]), [call.args[1]]
    return None


def _reshaped(a: Statement, b: Statement, observed: Sequence[Observed]) -> str | None:
    """A check rewritten in another shape (``approx(0.4)`` became ``0.3``) whose
    expected value now is what a failing run showed the code returning."""
    ops_a, ops_b = _operands(a.node), _operands(b.node)
    if ops_a is None or ops_b is None or ops_a[0] != ops_b[0] or len(ops_a[1]) != len(ops_b[1]):
        return None
    for oa, ob in zip(ops_a[1], ops_b[1], strict=True):
        (ok_a, va), (ok_b, vb) = _expected_of(oa), _expected_of(ob)
        if ok_a and ok_b:
            seen = showed_rewrite(observed, va, vb)
            if seen is not None:
                at = f" at seq {seen.run}" if seen.run is not None else ""
                return (
                    f"expected value changed from {va!r} to {vb!r}, what the code returned in "
                    f"the failing test run{at}: `{a.text}` became `{b.text}`"
                )
    return None


def compare(
    where: str, old: Sequence[Statement], new: Sequence[Statement], observed: Sequence[Observed]
) -> list[str]:
    """Reasons the values changed in ``new``'s unchanged skeletons weaken the test."""
    out: list[str] = []
    keys_old, keys_new = [s.skeleton for s in old], [s.skeleton for s in new]
    for op, i1, i2, j1, j2 in textdiff.opcodes(keys_old, keys_new, autojunk=False):
        if op == "replace":
            for a, b in zip(old[i1:i2], new[j1:j2], strict=False):
                why = _reshaped(a, b, observed)
                if why:
                    out.append(f"{where}: {why}")
        if op != "equal":
            continue
        for a, b in zip(old[i1:i2], new[j1:j2], strict=True):
            if a.values == b.values:
                continue
            for vo, vn in _changes(a, b):
                seen = showed_rewrite(observed, vo, vn)
                if seen is not None:
                    at = f" at seq {seen.run}" if seen.run is not None else ""
                    out.append(
                        f"{where}: expected value changed from {vo!r} to {vn!r}, what the code "
                        f"returned in the failing test run{at}: `{a.text}` became `{b.text}`"
                    )
                    break
            old_sites, new_sites = tolerance.sites(a.node), tolerance.sites(b.node)
            if len(old_sites) == len(new_sites):
                out += [
                    f"{where}: {why}" for why in tolerance.compare(old_sites, new_sites, observed)
                ]
    return out
