"""Numeric tolerances in tests, judged by magnitude.

Each comparison with a tolerance — ``pytest.approx(e, rel, abs)``,
``math.isclose(a, b, rel_tol, abs_tol)``, ``assertAlmostEqual(a, b, places,
delta=)``, numpy's ``isclose``/``allclose``/``assert_allclose(rtol, atol)``,
``assert_almost_equal``/``assert_array_almost_equal(decimal)``, and
``assert abs(a - b) < tol`` — is reduced to ``Tol(rel, abs)``: the deviation
it lets through is ``max(rel * |expected|, abs)``, with each API's own
defaults. An edit that widens a tolerance weakens the test when the new one
is loose by magnitude (it lets through a tenth of the expected value or
more, or is infinite: the comparison can hardly fail), or when it now
covers a miss a failing run showed that the old one did not (widened just
enough to let the wrong value through). Widening to absorb floating-point
noise, tightening, and an exact comparison turned into one with a default
tolerance are not weakening.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .observed import Observed, is_number, misses

LOOSE = 0.1  # a tolerance of 10% of the expected value or more can hardly fail
NOISE = 1e-6  # a relative miss below this is floating-point noise, not a wrong value
UNKNOWN_SCALE_LOOSE = 1.0  # an absolute tolerance this big, with no expected value to scale it

# Keyword arguments that carry a tolerance (never an expected value).
TOLERANCE_KEYWORDS = frozenset(
    {
        "rel",
        "abs",
        "rel_tol",
        "abs_tol",
        "rtol",
        "atol",
        "places",
        "delta",
        "decimal",
        "significant",
    }
)


@dataclass(frozen=True)
class Tol:
    rel: float
    abs: float

    def allowed(self, expected: float | None) -> float | None:
        """The deviation let through around ``expected`` (None: depends on an unknown value)."""
        if expected is None:
            return self.abs if self.rel == 0 else None
        return max(self.rel * abs(expected), self.abs)

    def describe(self) -> str:
        if math.isinf(self.rel) or math.isinf(self.abs):
            return "infinite"
        parts = [f"rel {self.rel:g}"] if self.rel else []
        parts += [f"abs {self.abs:g}"] if self.abs or not parts else []
        return ", ".join(parts)


EXACT = Tol(0.0, 0.0)


@dataclass(frozen=True)
class Site:
    """One toleranced comparison of a test."""

    api: str
    tol: Tol
    expected: float | None  # the literal it compares against, when the test spells one
    text: str


def _name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    if isinstance(f, ast.Attribute):
        return f.attr
    return f.id if isinstance(f, ast.Name) else ""


def _numpy(node: ast.Call) -> bool:
    f = node.func
    while isinstance(f, ast.Attribute):
        f = f.value
    return isinstance(f, ast.Name) and f.id in ("np", "numpy", "npt", "testing")


def _number(node: ast.AST | None) -> float | None:
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        if isinstance(node, ast.Call) and _name(node) == "float" and node.args:
            try:  # float("inf")
                return float(ast.literal_eval(node.args[0]))
            except (ValueError, TypeError, SyntaxError):
                return None
        if isinstance(node, ast.Attribute) and node.attr in ("inf", "infty"):
            return math.inf  # math.inf, np.inf
        return None
    return float(value) if is_number(value) else None


def _arg(call: ast.Call, pos: int, *names: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg in names:
            return kw.value
    return call.args[pos] if len(call.args) > pos else None


def _given(value: ast.AST | None, default: float) -> float | None:
    """A tolerance argument's value: the default when not given; None when not a number."""
    return default if value is None else _number(value)


def _expected(*candidates: ast.AST | None) -> float | None:
    for c in candidates:
        v = _number(c)
        if v is not None and not math.isinf(v):
            return v
    return None


def site_of(node: ast.AST) -> Site | None:
    """The tolerance of one call or comparison (None: not a toleranced comparison,
    or a tolerance that is not a literal number)."""
    text = " ".join(ast.unparse(node).split())[:160]
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(op, ast.Lt | ast.LtE) and isinstance(left, ast.Call) and _name(left) == "abs":
            limit = _number(right)
            if limit is None:
                return None
            inner = left.args[0] if left.args else None
            exp = None
            if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Sub):
                exp = _expected(inner.right, inner.left)
            return Site("abs(a - b) < tol", Tol(0.0, limit), exp, text)
        return None
    if not isinstance(node, ast.Call):
        return None
    name = _name(node)
    rel: float | None
    tol_abs: float | None
    if name == "approx":
        rel_node, abs_node = _arg(node, 1, "rel"), _arg(node, 2, "abs")
        rel = 0.0 if rel_node is None and abs_node is not None else _given(rel_node, 1e-6)
        tol_abs = _given(abs_node, 1e-12)
        exp = _expected(node.args[0] if node.args else None)
    elif name == "isclose" and not _numpy(node):
        rel, tol_abs = _given(_arg(node, 2, "rel_tol"), 1e-9), _given(_arg(node, 3, "abs_tol"), 0.0)
        exp = _expected(*node.args[:2])
    elif name in ("isclose", "allclose", "assert_allclose"):
        default_rel, default_abs = (1e-7, 0.0) if name == "assert_allclose" else (1e-5, 1e-8)
        rel = _given(_arg(node, 2, "rtol"), default_rel)
        tol_abs = _given(_arg(node, 3, "atol"), default_abs)
        exp = _expected(*node.args[:2])
    elif name in ("assertAlmostEqual", "assertAlmostEquals"):
        delta = _arg(node, 99, "delta")
        places = _given(_arg(node, 2, "places"), 7.0)
        rel = 0.0
        tol_abs = (
            _number(delta)
            if delta is not None
            else (None if places is None else 0.5 * 10.0 ** (-places))
        )
        exp = _expected(*node.args[:2])
    elif name in ("assert_almost_equal", "assert_array_almost_equal"):
        decimal = _given(_arg(node, 2, "decimal"), 7.0 if name == "assert_almost_equal" else 6.0)
        rel, tol_abs = 0.0, None if decimal is None else 1.5 * 10.0 ** (-decimal)
        exp = _expected(*node.args[:2])
    elif name == "assert_approx_equal":
        significant = _given(_arg(node, 2, "significant"), 7.0)
        rel, tol_abs = (None if significant is None else 10.0 ** (1 - significant)), 0.0
        exp = _expected(*node.args[:2])
    else:
        return None
    if rel is None or tol_abs is None:
        return None
    return Site(name, Tol(rel, tol_abs), exp, text)


def sites(node: ast.AST) -> list[Site]:
    """The toleranced comparisons inside a statement, in source order."""
    found = [site_of(n) for n in ast.walk(node) if isinstance(n, ast.Call | ast.Compare)]
    return [s for s in found if s is not None]


def _loose(site: Site) -> str | None:
    tol = site.tol
    if math.isinf(tol.rel) or math.isinf(tol.abs) or math.isnan(tol.rel) or math.isnan(tol.abs):
        return "an infinite tolerance: the comparison cannot fail"
    if tol.rel >= LOOSE:
        return f"a relative tolerance of {tol.rel:g} ({tol.rel:.0%} of the expected value)"
    if site.expected:
        share = tol.abs / abs(site.expected)
        if share >= LOOSE:
            return (
                f"an absolute tolerance of {tol.abs:g} around {site.expected:g} "
                f"({share:.0%} of the expected value)"
            )
    elif tol.abs >= UNKNOWN_SCALE_LOOSE:
        return f"an absolute tolerance of {tol.abs:g}"
    return None


def judge(old: Site | None, new: Site, observed: Sequence[Observed]) -> str | None:
    """Why replacing ``old`` (None: an exact comparison) by ``new`` weakens the test."""
    before = old.tol if old is not None else EXACT
    expected = new.expected if new.expected is not None else (old.expected if old else None)
    wider_rel, wider_abs = new.tol.rel > before.rel, new.tol.abs > before.abs
    if not (wider_rel or wider_abs):
        return None
    was = f"{before.describe()}" if old is not None else "an exact comparison"
    loose = _loose(Site(new.api, new.tol, expected, new.text))
    if loose:
        return f"tolerance widened from {was} to {loose}: `{new.text}`"
    for miss, o in misses(observed, expected):
        scale = max(abs(expected or 0.0), 1e-12)
        if miss / scale <= NOISE:
            continue  # floating-point noise: widening for it is a fix
        let_through = new.tol.allowed(expected)
        held = before.allowed(expected)
        if let_through is not None and held is not None and held < miss <= let_through:
            where = f" at seq {o.run}" if o.run is not None else ""
            return (
                f"tolerance widened from {was} to {new.tol.describe()}, just enough to pass "
                f"{o.actual!r} where {expected!r} was expected (the failing run{where}): `{new.text}`"
            )
    return None


def compare(
    old_sites: Sequence[Site], new_sites: Sequence[Site], observed: Sequence[Observed]
) -> list[str]:
    """Reasons the toleranced comparisons of one statement were loosened (paired in order)."""
    out = []
    for k, new in enumerate(new_sites):
        old = old_sites[k] if k < len(old_sites) else None
        why = judge(old, new, observed)
        if why:
            out.append(why)
    return out
