"""Python test files compared test by test, on their syntax trees.

A test function deleted (a rename keeps its body and is fine),
``skip``/``skipif``/``xfail`` added (decorator, marker or call), an assert
removed or loosened (``==`` dropped or weakened, made always true, swallowed
by ``try/except AssertionError``, an early ``return``), an expected value
rewritten to what a failing run showed the code returning, a tolerance
widened by magnitude (``rewrites``, ``tolerance``), parametrize cases removed
or newly marked (``params``). Adding tests, asserts and cases, and rewording
an assert's message, are not weakening.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ... import textdiff
from . import params, rewrites, tolerance
from .observed import Observed

_SKIP_WORDS = re.compile(r"\b(skip|skipif|skipIf|skipUnless|xfail|expectedFailure|skipTest)\b")
_ONE_ARG = {"assertTrue", "assertFalse", "assertIsNone", "assertIsNotNone"}
_STRICT_METHODS = {
    "assertEqual",
    "assertEquals",
    "assertIs",
    "assertListEqual",
    "assertDictEqual",
    "assertTupleEqual",
    "assertSetEqual",
    "assertSequenceEqual",
    "assertMultiLineEqual",
    "assertCountEqual",
    "assertRaises",
    "assertRaisesRegex",
}
_STRICT_OPS = (ast.Eq, ast.Is)
_LOOSER: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE,),
    ast.Gt: (ast.GtE,),
}
_OP_TEXT = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}


def _src(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - unparse of an odd tree: show its kind
        text = type(node).__name__
    return " ".join(text.split())[:160]


def _tests(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    out: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(
                    item, ast.FunctionDef | ast.AsyncFunctionDef
                ) and item.name.startswith("test"):
                    out[f"{node.name}.{item.name}"] = item
    return out


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def _skip_decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    # A parametrize list may hold marked cases; ``params`` compares it case by case.
    return {
        _src(d)
        for d in node.decorator_list
        if _SKIP_WORDS.search(_src(d)) and not params.is_parametrize(d)
    }


def _call_name(node: ast.Call) -> str:
    f = node.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _skip_calls(node: ast.AST) -> list[str]:
    """``pytest.skip(...)``, ``pytest.xfail(...)``, ``self.skipTest(...)`` calls."""
    return [
        _src(n)
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and _call_name(n) in ("skip", "xfail", "skipTest")
    ]


def _body_skips(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [c for stmt in fn.body for c in _skip_calls(stmt)]


@dataclass
class _Check:
    """One assertion of a test: its identity (without the message) and node."""

    key: str
    node: ast.AST
    text: str


def _checks(fn: ast.AST) -> list[_Check]:
    out: list[_Check] = []
    for n in ast.walk(fn):
        if isinstance(n, ast.Assert):
            out.append(_Check("assert:" + ast.dump(n.test), n, _src(n.test)))
        elif isinstance(n, ast.Call) and _call_name(n).startswith("assert"):
            name = _call_name(n)
            arity = 1 if name in _ONE_ARG else 2
            kws = [k for k in n.keywords if k.arg != "msg"]
            key = (
                f"call:{name}:"
                + "|".join(ast.dump(a) for a in n.args[:arity])
                + "|"
                + "|".join(ast.dump(k) for k in kws)
            )
            out.append(_Check(key, n, _src(n)))
        elif (
            isinstance(n, ast.withitem)
            and isinstance(n.context_expr, ast.Call)
            and _call_name(n.context_expr)
            in ("raises", "warns", "assertRaises", "assertRaisesRegex", "assertWarns")
        ):
            out.append(
                _Check("with:" + ast.dump(n.context_expr), n.context_expr, _src(n.context_expr))
            )
    return out


def _swallowing_tries(fn: ast.AST) -> int:
    """try blocks whose handler catches AssertionError (or everything) around an assert."""
    count = 0
    for n in ast.walk(fn):
        if not isinstance(n, ast.Try):
            continue
        if not any(
            isinstance(b, ast.Assert)
            or (isinstance(b, ast.Call) and _call_name(b).startswith("assert"))
            for stmt in n.body
            for b in ast.walk(stmt)
        ):
            continue
        for h in n.handlers:
            caught = _src(h.type) if h.type is not None else ""
            if h.type is None or re.search(r"\b(AssertionError|Exception|BaseException)\b", caught):
                count += 1
    return count


def _early_return(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A bare ``return`` before the first assertion: the checks never run."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Return):
            return True
        if _checks(stmt):
            return False
    return False


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _skeleton(node: ast.AST) -> str:
    """A statement or expression with its literal values cut out (see ``rewrites``)."""
    stmt = node if isinstance(node, ast.stmt) else ast.Expr(value=node)  # type: ignore[arg-type]
    return rewrites.statement(stmt).skeleton


def _tolerance_change(old: _Check, new: _Check, observed: Sequence[Observed]) -> str | None:
    """A tolerance added or changed where the comparison's shape changed too
    (same-shaped statements are judged by ``rewrites``)."""
    if _skeleton(old.node) == _skeleton(new.node):
        return None
    old_sites, new_sites = tolerance.sites(old.node), tolerance.sites(new.node)
    if not new_sites or len(old_sites) > len(new_sites):
        return None
    found = tolerance.compare(old_sites, new_sites, observed)
    return found[0] if found else None


def _compare_pair(old: _Check, new: _Check, observed: Sequence[Observed]) -> str | None:
    """Why replacing ``old`` by ``new`` loosens the check (None: it does not)."""
    o, n = old.node, new.node
    if isinstance(o, ast.Assert) and isinstance(n, ast.Assert):
        ot, nt = o.test, n.test
        ok, value = _literal(nt)
        if ok and value:
            return f"assert `{old.text}` replaced by an always-true `assert {new.text}`"
        if (
            isinstance(nt, ast.Compare)
            and len(nt.comparators) == 1
            and ast.dump(nt.left) == ast.dump(nt.comparators[0])
        ):
            return f"assert `{old.text}` replaced by the tautology `{new.text}`"
        if isinstance(ot, ast.Compare) and not isinstance(nt, ast.Compare):
            if tolerance.sites(nt):  # `a == b` became `math.isclose(a, b, ...)`
                return _tolerance_change(old, new, observed)
            return f"comparison dropped: `{old.text}` became `{new.text}`"
        if (
            isinstance(ot, ast.Compare)
            and isinstance(nt, ast.Compare)
            and len(ot.ops) == len(nt.ops)
        ):
            if ast.dump(ot.left) != ast.dump(nt.left):
                return None  # checks something else now: a different test, not a looser one
            for oo, no in zip(ot.ops, nt.ops, strict=True):
                if type(oo) is type(no):
                    continue
                if (
                    isinstance(oo, _STRICT_OPS)
                    or isinstance(no, ast.NotEq | ast.IsNot | ast.NotIn)
                    or type(no) in _LOOSER.get(type(oo), ())
                ):
                    return f"comparison loosened: `{_OP_TEXT.get(type(oo), '?')}` became `{_OP_TEXT.get(type(no), '?')}` in `{new.text}`"
        return _tolerance_change(old, new, observed)
    if isinstance(o, ast.Call) and isinstance(n, ast.Call):
        on, nn = _call_name(o), _call_name(n)
        if on != nn:
            if tolerance.sites(n):  # assertEqual became assertAlmostEqual(..., places=)
                return _tolerance_change(old, new, observed)
            if on in _STRICT_METHODS:
                return f"`{on}` replaced by the weaker `{nn}`: `{new.text}`"
            return None
        return _tolerance_change(old, new, observed)
    return None


def _compare_checks(
    name: str,
    before: list[_Check],
    after: list[_Check],
    observed: Sequence[Observed],
    out: list[str],
) -> None:
    keys_before, keys_after = [c.key for c in before], [c.key for c in after]
    for op, i1, i2, j1, j2 in textdiff.opcodes(keys_before, keys_after, autojunk=False):
        if op == "delete":
            for c in before[i1:i2]:
                out.append(f"{name}: assert removed: `{c.text}`")
        elif op == "replace":
            olds, news = before[i1:i2], after[j1:j2]
            for k, old in enumerate(olds):
                if k >= len(news):
                    out.append(f"{name}: assert removed: `{old.text}`")
                    continue
                why = _compare_pair(old, news[k], observed)
                if why:
                    out.append(f"{name}: {why}")


def _parametrize(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
    return [d for d in fn.decorator_list if isinstance(d, ast.Call) and params.is_parametrize(d)]


def _compare_parametrize(
    name: str,
    fn: ast.FunctionDef | ast.AsyncFunctionDef,
    nfn: ast.FunctionDef | ast.AsyncFunctionDef,
    observed: Sequence[Observed],
) -> list[str]:
    out: list[str] = []
    news = _parametrize(nfn)
    for k, old in enumerate(_parametrize(fn)):
        if k < len(news):
            out += params.compare(name, old, news[k], observed) or []
    return out


def _outside_tests(tree: ast.Module) -> list[ast.stmt]:
    return [
        s
        for s in tree.body
        if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]


def value_rewrites(before: str, after: str, observed: Sequence[Observed] = ()) -> list[str] | None:
    """Only the value judgements (expected values, tolerances, parametrize cases):
    what ``weakening`` also asks of a file's earlier versions in the session."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(after)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return _values(old_tree, new_tree, observed)


def _values(old_tree: ast.Module, new_tree: ast.Module, observed: Sequence[Observed]) -> list[str]:
    out: list[str] = []
    old_tests, new_tests = _tests(old_tree), _tests(new_tree)
    for name, fn in old_tests.items():
        nfn = new_tests.get(name)
        if nfn is None:
            continue
        out += rewrites.compare(
            name, rewrites.statements(fn.body), rewrites.statements(nfn.body), observed
        )
        out += _compare_parametrize(name, fn, nfn, observed)
    out += rewrites.compare(
        "module",
        rewrites.statements(_outside_tests(old_tree)),
        rewrites.statements(_outside_tests(new_tree)),
        observed,
    )
    return out


def python_weakening(
    before: str, after: str, observed: Sequence[Observed] = ()
) -> list[str] | None:
    """Reasons a Python test file's edit weakens it; None when either side does not parse.
    ``observed``: the failed comparisons the session's test runs showed."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(after)
    except (SyntaxError, ValueError, RecursionError):
        return None
    reasons: list[str] = []
    old_tests, new_tests = _tests(old_tree), _tests(new_tree)
    new_bodies = {
        ast.dump(ast.Module(body=fn.body, type_ignores=[]))
        for n, fn in new_tests.items()
        if n not in old_tests
    }
    for name, fn in old_tests.items():
        if name not in new_tests:
            if (
                ast.dump(ast.Module(body=fn.body, type_ignores=[])) not in new_bodies
            ):  # renamed: same body
                reasons.append(f"test `{name}` deleted")
            continue
        nfn = new_tests[name]
        for dec in sorted(_skip_decorators(nfn) - _skip_decorators(fn)):
            reasons.append(f"{name}: `@{dec}` added")
        old_skips, new_skips = _body_skips(fn), _body_skips(nfn)
        if len(new_skips) > len(old_skips):
            reasons.append(f"{name}: `{new_skips[-1]}` added")
        if _early_return(nfn) and not _early_return(fn):
            reasons.append(f"{name}: a `return` now comes before its asserts, so they never run")
        if _swallowing_tries(nfn) > _swallowing_tries(fn):
            reasons.append(
                f"{name}: an assert is now inside `try/except` that swallows its failure"
            )
        _compare_checks(name, _checks(fn), _checks(nfn), observed, reasons)
    reasons += _values(old_tree, new_tree, observed)
    old_classes, new_classes = _classes(old_tree), _classes(new_tree)
    for cname, cls in old_classes.items():
        if cname in new_classes:
            for dec in sorted(_skip_decorators(new_classes[cname]) - _skip_decorators(cls)):
                reasons.append(f"class {cname}: `@{dec}` added")
    old_marks = {_src(s) for s in _outside_tests(old_tree)}
    for stmt in _outside_tests(new_tree):
        text = _src(stmt)
        if text in old_marks:
            continue
        if re.match(r"(pytestmark|collect_ignore\w*)\s*[+]?=", text) and (
            _SKIP_WORDS.search(text) or text.startswith("collect_ignore")
        ):
            reasons.append(f"module: `{text}` added")
        elif _skip_calls(stmt):
            reasons.append(f"module: `{text}` added (skips the whole file)")
    return reasons
