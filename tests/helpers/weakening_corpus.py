"""A labelled corpus of edits to test files, for the test-weakening detector.

Three classes, each with edits that weaken the tests and legitimate edits
that look alike:

- ``rewrite``: an expected value rewritten to what a failing run showed the
  code returning (the assertion still runs, but now pins the bug) — against
  expected values changed for other reasons;
- ``tolerance``: a numeric tolerance widened until the comparison can
  hardly fail, or just enough to let a failing value through — against
  tolerances tightened, widened for floating-point noise, or added with the
  API's default;
- ``parametrize``: cases removed or newly marked skip/xfail — against lists
  that grow, are reordered, or get a case corrected.

Each case is a test file before and after one edit, plus the outputs of the
session's earlier test runs (real pytest, unittest and numpy.testing report
formats), and optionally the file's content at the session's start.

Run it alone for the figures: ``python -m tests.helpers.weakening_corpus``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field

from overseer.audit.testdiff import weakening


@dataclass(frozen=True)
class Case:
    name: str
    cls: str  # rewrite | tolerance | parametrize
    weakens: bool
    before: str
    after: str
    runs: tuple[str, ...] = ()
    origin: str | None = None  # the file at the session's start, when it differs from before
    path: str = "tests/test_calc.py"


def _t(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _pytest_fail(actual: str, expected: str, where: str = "") -> str:
    """pytest's report of ``assert actual == expected``."""
    extra = f"\nE    +  where {actual} = {where}" if where else ""
    return (
        "________________________________ test_x ________________________________\n"
        "    def test_x():\n"
        f">       assert ...\nE       assert {actual} == {expected}{extra}\n\n"
        "tests/test_calc.py:4: AssertionError\n"
        "=========================== short test summary info ===========================\n"
        f"FAILED tests/test_calc.py::test_x - assert {actual} == {expected}\n"
        "1 failed, 3 passed in 0.05s\n"
    )


def _unittest_fail(actual: str, expected: str, kind: str = "") -> str:
    differ = f"{kind} differ: " if kind else ""
    return (
        "Traceback (most recent call last):\n"
        '  File "tests/test_calc.py", line 9, in test_x\n'
        "    self.assertEqual(...)\n"
        f"AssertionError: {differ}{actual} != {expected}\n"
    )


def _approx_fail(actual: str, expected: str, tol: str = "4.0e-07") -> str:
    return (
        f"E       assert {actual} == {expected} ± {tol}\n"
        "E         \n"
        "E         comparison failed\n"
        f"E         Obtained: {actual}\n"
        f"E         Expected: {expected} ± {tol}\n"
    )


def _numpy_fail(actual: str, desired: str) -> str:
    return (
        "E   AssertionError: \n"
        "E   Not equal to tolerance rtol=1e-07, atol=0\n"
        "E   \n"
        "E   Mismatched elements: 1 / 1 (100%)\n"
        f"E    [0]: {actual} (ACTUAL), {desired} (DESIRED)\n"
        f"E    ACTUAL: array([{actual}])\n"
        f"E    DESIRED: array([{desired}])\n"
    )


PASSING = "....                                                                     [100%]\n4 passed in 0.02s\n"

ADD = _t(
    """
    from calc import add


    def test_add():
        assert add(2, 2) == 4


    def test_add_zero():
        assert add(0, 5) == 5
    """
)


def _rewrite_cases() -> Iterable[Case]:
    w, ok = True, False
    yield Case("assert literal", "rewrite", w, ADD, ADD.replace("== 4", "== 5"),
               (_pytest_fail("5", "4", "add(2, 2)"),))  # fmt: skip
    rev = ADD.replace("assert add(2, 2) == 4", "assert 4 == add(2, 2)")
    yield Case("operands reversed", "rewrite", w, rev, rev.replace("4 ==", "5 =="),
               (_pytest_fail("4", "5", "add(2, 2)"),))  # fmt: skip
    var = _t(
        """
        def test_total():
            cart = Cart([3, 4])
            expected = 7
            assert cart.total() == expected
        """
    )
    yield Case("expected variable", "rewrite", w, var, var.replace("= 7", "= 8"),
               (_pytest_fail("8", "7", "<bound method Cart.total>()"),))  # fmt: skip
    ut = _t(
        """
        import unittest


        class TestPrice(unittest.TestCase):
            def test_discount(self):
                self.assertEqual(discount(100, 0.1), 90)
        """
    )
    yield Case("unittest assertEqual", "rewrite", w, ut, ut.replace("90)", "99)"),
               (_unittest_fail("99", "90"),))  # fmt: skip
    lst = _t(
        """
        def test_sorted():
            assert sort_items([3, 1, 2]) == [1, 2, 3]
        """
    )
    yield Case("list value", "rewrite", w, lst, lst.replace("== [1, 2, 3]", "== [3, 1, 2]"),
               (_pytest_fail("[3, 1, 2]", "[1, 2, 3]"),))  # fmt: skip
    yield Case("unittest list value", "rewrite", w, ut.replace("90)", "[1, 2, 3])"),
               ut.replace("90)", "[3, 1, 2])"), (_unittest_fail("[3, 1, 2]", "[1, 2, 3]", "Lists"),))  # fmt: skip
    dct = _t(
        """
        def test_counts():
            assert word_counts("a b a") == {"a": 2, "b": 1}
        """
    )
    yield Case("dict value", "rewrite", w, dct, dct.replace('{"a": 2, "b": 1}', '{"a": 1, "b": 1}'),
               (_pytest_fail("{'a': 1, 'b': 1}", "{'a': 2, 'b': 1}"),))  # fmt: skip
    st = _t(
        """
        def test_greeting():
            assert greet("Ann") == "Hello, Ann!"
        """
    )
    yield Case("string value", "rewrite", w, st, st.replace('"Hello, Ann!"', '"Hello, ann!"'),
               (_pytest_fail("'Hello, ann!'", "'Hello, Ann!'"),))  # fmt: skip
    fl = _t(
        """
        def test_mean():
            assert mean([1, 2, 4]) == 2.3333333333333335
        """
    )
    yield Case("float value", "rewrite", w, fl, fl.replace("2.3333333333333335", "2.0"),
               (_pytest_fail("2.0", "2.3333333333333335"),))  # fmt: skip
    neg = _t(
        """
        def test_balance():
            assert balance(-5, 3) == -2
        """
    )
    yield Case("negative value", "rewrite", w, neg, neg.replace("== -2", "== -8"),
               (_pytest_fail("-8", "-2"),))  # fmt: skip
    boolean = _t(
        """
        def test_leap():
            assert is_leap(1900) is False
        """
    )
    yield Case("boolean pinned", "rewrite", w, boolean, boolean.replace("is False", "is True"),
               ("E       assert True is False\nE        +  where True = is_leap(1900)\n",))  # fmt: skip
    par = _t(
        """
        import pytest


        @pytest.mark.parametrize("a, b, total", [(2, 2, 4), (1, 1, 2), (0, 7, 7)])
        def test_add(a, b, total):
            assert add(a, b) == total
        """
    )
    yield Case("parametrize expected", "rewrite", w, par, par.replace("(2, 2, 4)", "(2, 2, 5)"),
               (_pytest_fail("5", "4", "add(2, 2)"),))  # fmt: skip
    const = _t(
        """
        EXPECTED_HEADERS = ["id", "name", "price"]


        def test_headers():
            assert read_headers("items.csv") == EXPECTED_HEADERS
        """
    )
    yield Case("module constant", "rewrite", w, const,
               const.replace('["id", "name", "price"]', '["id", "name"]'),
               (_pytest_fail("['id', 'name']", "['id', 'name', 'price']"),))  # fmt: skip
    npt = _t(
        """
        import numpy as np


        def test_weights():
            np.testing.assert_allclose(weights(), [0.4])
        """
    )
    yield Case("numpy desired", "rewrite", w, npt, npt.replace("[0.4]", "[0.3]"),
               (_numpy_fail("0.3", "0.4"),))  # fmt: skip
    # Two edits: the assert first dropped, then brought back pinning the bug.
    dropped = ADD.replace("    assert add(2, 2) == 4\n", "    pass\n")
    yield Case("rewritten over two edits", "rewrite", w, dropped, ADD.replace("== 4", "== 5"),
               (_pytest_fail("5", "4", "add(2, 2)"),), origin=ADD)  # fmt: skip
    approx = _t(
        """
        import pytest


        def test_rate():
            assert rate() == pytest.approx(0.4)
        """
    )
    yield Case("approx dropped for the code's value", "rewrite", w, approx,
               approx.replace("pytest.approx(0.4)", "0.3"), (_approx_fail("0.3", "0.4"),))  # fmt: skip
    yield Case("run shown much earlier", "rewrite", w, ADD, ADD.replace("== 4", "== 5"),
               (_pytest_fail("5", "4", "add(2, 2)"), PASSING, PASSING))  # fmt: skip

    # -- legitimate -----------------------------------------------------------
    yield Case("changed with no failing run", "rewrite", ok, ADD, ADD.replace("== 4", "== 5"),
               (PASSING,))  # fmt: skip
    yield Case("changed to another value than the run showed", "rewrite", ok, ADD,
               ADD.replace("== 4", "== 6"), (_pytest_fail("5", "4", "add(2, 2)"),))  # fmt: skip
    yield Case("a new case: input and expected", "rewrite", ok, ADD,
               ADD.replace("add(2, 2) == 4", "add(2, 3) == 5"),
               (_pytest_fail("7", "6", "add(3, 3)"),))  # fmt: skip
    yield Case("assert added with the run's value", "rewrite", ok, ADD,
               ADD.replace("== 4\n", "== 4\n    assert add(1, 1) == 2\n"),
               (_pytest_fail("2", "3", "add(1, 1)"),))  # fmt: skip
    yield Case("message reworded", "rewrite", ok, ADD.replace("== 4", '== 4, "two and two"'),
               ADD.replace("== 4", '== 4, "2 + 2 is 4"'), (_pytest_fail("5", "4"),))  # fmt: skip
    yield Case("same value, written differently", "rewrite", ok, ADD.replace("== 4", "== 4000"),
               ADD.replace("== 4", "== 4_000"), (_pytest_fail("4001", "4000"),))  # fmt: skip
    yield Case("another test's failure", "rewrite", ok, ADD, ADD.replace("== 5", "== 6"),
               (_pytest_fail("5", "4", "add(2, 2)"),))  # fmt: skip
    yield Case("variable renamed", "rewrite", ok, var,
               var.replace("expected", "want"), (_pytest_fail("8", "7"),))  # fmt: skip
    yield Case("dict: a key added to the expected", "rewrite", ok, dct,
               dct.replace('{"a": 2, "b": 1}', '{"a": 2, "b": 1, "c": 0}'),
               (_pytest_fail("{'a': 1, 'b': 1}", "{'a': 2, 'b': 1}"),))  # fmt: skip
    yield Case("the code fixed, the test untouched elsewhere", "rewrite", ok, ADD,
               ADD + "\n\ndef test_add_negative():\n    assert add(-1, -1) == -2\n",
               (_pytest_fail("5", "4", "add(2, 2)"),))  # fmt: skip
    yield Case("parametrize input corrected", "rewrite", ok, par,
               par.replace("(0, 7, 7)", "(0, 8, 8)"), (_pytest_fail("5", "4"),))  # fmt: skip
    yield Case("approx dropped, same value", "rewrite", ok, approx,
               approx.replace("pytest.approx(0.4)", "0.4"), (_approx_fail("0.3", "0.4"),))  # fmt: skip
    yield Case("two edits, the value kept", "rewrite", ok, dropped, ADD,
               (_pytest_fail("5", "4", "add(2, 2)"),), origin=ADD)  # fmt: skip


def _tol(line: str, imports: str = "import pytest\n") -> str:
    return imports + "\n\ndef test_rate():\n    " + line + "\n"


def _tolerance_cases() -> Iterable[Case]:
    w, ok = True, False
    miss = (_approx_fail("0.3", "0.4"),)
    base = _tol("assert rate() == pytest.approx(0.4)")
    yield Case(
        "approx rel 50%", "tolerance", w, base, base.replace("(0.4)", "(0.4, rel=0.5)"), miss
    )
    yield Case("approx rel 1", "tolerance", w, base, base.replace("(0.4)", "(0.4, rel=1)"))
    yield Case("approx abs huge", "tolerance", w, base, base.replace("(0.4)", "(0.4, abs=10)"))
    yield Case("approx rel inf", "tolerance", w, base,
               base.replace("(0.4)", "(0.4, rel=float('inf'))"))  # fmt: skip
    yield Case("approx widened just enough", "tolerance", w, base,
               base.replace("(0.4)", "(0.4, rel=0.03)"), (_approx_fail("0.39", "0.4"),))  # fmt: skip
    exact = _tol("assert rate() == 0.4")
    yield Case("exact to approx rel 30%", "tolerance", w, exact,
               exact.replace("== 0.4", "== pytest.approx(0.4, rel=0.3)"),
               (_pytest_fail("0.3", "0.4"),))  # fmt: skip
    iscl = _tol("assert math.isclose(rate(), 0.4)", "import math\n")
    yield Case("isclose rel_tol 1", "tolerance", w, iscl, iscl.replace("0.4)", "0.4, rel_tol=1)"))
    yield Case("isclose abs_tol", "tolerance", w, iscl, iscl.replace("0.4)", "0.4, abs_tol=0.2)"))
    alm = _t(
        """
        import unittest


        class TestRate(unittest.TestCase):
            def test_rate(self):
                self.assertAlmostEqual(rate(), 0.4)
        """
    )
    yield Case("places 0", "tolerance", w, alm, alm.replace("0.4)", "0.4, places=0)"))
    yield Case("places negative", "tolerance", w, alm, alm.replace("0.4)", "0.4, places=-2)"))
    yield Case("delta huge", "tolerance", w, alm, alm.replace("0.4)", "0.4, delta=100)"))
    yield Case("delta just enough", "tolerance", w, alm, alm.replace("0.4)", "0.4, delta=0.02)"),
               ("AssertionError: 0.385 != 0.4 within 7 places (0.015 difference)\n",))  # fmt: skip
    npt = _tol("np.testing.assert_allclose(rates(), [0.4])", "import numpy as np\n")
    yield Case("numpy rtol 1", "tolerance", w, npt, npt.replace("[0.4])", "[0.4], rtol=1)"))
    yield Case("numpy atol inf", "tolerance", w, npt, npt.replace("[0.4])", "[0.4], atol=np.inf)"))
    npc = _tol("assert np.allclose(rates(), 0.4)", "import numpy as np\n")
    yield Case("allclose atol 1e3", "tolerance", w, npc, npc.replace("0.4)", "0.4, atol=1e3)"))
    npd = _tol("np.testing.assert_almost_equal(rate(), 0.4)", "import numpy as np\n")
    yield Case("decimal 0", "tolerance", w, npd, npd.replace("0.4)", "0.4, decimal=0)"))
    ab = _tol("assert abs(rate() - 0.4) < 1e-9", "")
    yield Case("abs(a - b) < 100", "tolerance", w, ab, ab.replace("< 1e-9", "< 100"))

    # -- legitimate -----------------------------------------------------------
    noise = (_pytest_fail("0.30000000000000004", "0.3"),)
    ex3 = _tol("assert 0.1 + 0.2 == 0.3", "")
    yield Case("exact float to default approx", "tolerance", ok, ex3,
               "import pytest\n" + ex3.replace("== 0.3", "== pytest.approx(0.3)"), noise)  # fmt: skip
    yield Case("exact float to isclose", "tolerance", ok, ex3,
               "import math\n" + ex3.replace("assert 0.1 + 0.2 == 0.3", "assert math.isclose(0.1 + 0.2, 0.3)"),
               noise)  # fmt: skip
    yield Case("rel tightened", "tolerance", ok, base.replace("(0.4)", "(0.4, rel=1e-3)"),
               base.replace("(0.4)", "(0.4, rel=1e-6)"))  # fmt: skip
    yield Case("rel widened for noise", "tolerance", ok, base,
               base.replace("(0.4)", "(0.4, rel=1e-4)"),
               (_approx_fail("0.4000000000000001", "0.4"),))  # fmt: skip
    yield Case("rel widened a little, no failure", "tolerance", ok, base,
               base.replace("(0.4)", "(0.4, rel=1e-3)"))  # fmt: skip
    yield Case("places 7 to 6", "tolerance", ok, alm, alm.replace("0.4)", "0.4, places=6)"))
    yield Case("places tightened", "tolerance", ok, alm.replace("0.4)", "0.4, places=3)"), alm)
    yield Case(
        "isclose rel_tol 1e-6", "tolerance", ok, iscl, iscl.replace("0.4)", "0.4, rel_tol=1e-6)")
    )
    yield Case("allclose atol 1e-6", "tolerance", ok, npc, npc.replace("0.4)", "0.4, atol=1e-6)"))
    yield Case(
        "numpy rtol tightened", "tolerance", ok, npt.replace("[0.4])", "[0.4], rtol=1e-3)"), npt
    )
    yield Case("abs(a - b) < 1e-6", "tolerance", ok, ab, ab.replace("< 1e-9", "< 1e-6"))
    yield Case("approx around zero, abs for noise", "tolerance", ok,
               _tol("assert drift() == pytest.approx(0.0)"),
               _tol("assert drift() == pytest.approx(0.0, abs=1e-9)"),
               (_approx_fail("2.7e-17", "0.0", "1.0e-12"),))  # fmt: skip
    yield Case("tolerance removed: exact now", "tolerance", ok, base, _tol("assert rate() == 0.4"))


def _parametrize_cases() -> Iterable[Case]:
    w, ok = True, False
    p = _t(
        """
        import pytest


        @pytest.mark.parametrize("raw, clean", [("a ", "a"), (" b", "b"), ("\\tc\\n", "c")])
        def test_strip(raw, clean):
            assert tidy(raw) == clean
        """
    )
    marked = p.replace(
        '[("a ", "a"),',
        '[("a ", "a"), pytest.param("", "", marks=pytest.mark.xfail(reason="#12")),',
    )
    yield Case("case removed", "parametrize", w, p, p.replace(' (" b", "b"),', ""))
    yield Case("two cases removed", "parametrize", w, p,
               p.replace(' (" b", "b"), ("\\tc\\n", "c")', ""))  # fmt: skip
    yield Case("case marked xfail", "parametrize", w, p,
               p.replace('(" b", "b")', 'pytest.param(" b", "b", marks=pytest.mark.xfail)'))  # fmt: skip
    yield Case("case marked skip", "parametrize", w, p,
               p.replace('("a ", "a")', 'pytest.param("a ", "a", marks=pytest.mark.skip(reason="flaky"))'))  # fmt: skip
    yield Case("case removed from a list with marks", "parametrize", w, marked,
               marked.replace('("a ", "a"), ', ""))  # fmt: skip
    yield Case("case expected rewritten", "parametrize", w, p, p.replace('(" b", "b")', '(" b", " b")'),
               (_pytest_fail("' b'", "'b'", "tidy(' b')"),))  # fmt: skip
    yield Case("all cases but one removed", "parametrize", w, p,
               p.replace('[("a ", "a"), (" b", "b"), ("\\tc\\n", "c")]', '[("a ", "a")]'))  # fmt: skip

    # -- legitimate -----------------------------------------------------------
    yield Case(
        "a case added",
        "parametrize",
        ok,
        p,
        p.replace('("\\tc\\n", "c")]', '("\\tc\\n", "c"), ("d", "d")]'),
    )
    yield Case("cases added at the front", "parametrize", ok, p,
               p.replace('[("a ", "a"),', '[("", ""), ("  ", ""), ("a ", "a"),'))  # fmt: skip
    yield Case("a case added to a list with an xfail case", "parametrize", ok, marked,
               marked.replace('("\\tc\\n", "c")]', '("\\tc\\n", "c"), ("x\\n", "x")]'))  # fmt: skip
    yield Case("a new case marked xfail", "parametrize", ok, p,
               p.replace('("\\tc\\n", "c")]', '("\\tc\\n", "c"), pytest.param("\\u00a0d", "d", marks=pytest.mark.xfail(reason="#40"))]'))  # fmt: skip
    yield Case("cases reordered", "parametrize", ok, p,
               p.replace('[("a ", "a"), (" b", "b"),', '[(" b", "b"), ("a ", "a"),'))  # fmt: skip
    yield Case("ids added", "parametrize", ok, p,
               p.replace('("\\tc\\n", "c")])', '("\\tc\\n", "c")], ids=["tail", "head", "both"])'))  # fmt: skip
    yield Case("xfail lifted from a case", "parametrize", ok, marked,
               marked.replace('pytest.param("", "", marks=pytest.mark.xfail(reason="#12"))', '("", "")'))  # fmt: skip
    yield Case("a case corrected, no failing run shows it", "parametrize", ok, p,
               p.replace('(" b", "b")', '("  b", "b")'), (PASSING,))  # fmt: skip
    yield Case("a second parametrize added", "parametrize", ok, p,
               p.replace("def test_strip(raw, clean):", '@pytest.mark.parametrize("twice", [False, True])\ndef test_strip(raw, clean, twice):'))  # fmt: skip


def cases() -> list[Case]:
    return [*_rewrite_cases(), *_tolerance_cases(), *_parametrize_cases()]


def judged(case: Case) -> list[str]:
    runs = [(10 * (i + 1), text) for i, text in enumerate(case.runs)]
    history = [case.origin] if case.origin is not None else []
    return weakening(case.path, case.before, case.after, runs=runs, history=history).reasons


@dataclass
class Score:
    weakening: int = 0
    caught: int = 0
    legitimate: int = 0
    false_alarms: int = 0
    missed: list[str] = field(default_factory=list)
    alarmed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.caught / self.weakening if self.weakening else 1.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.legitimate if self.legitimate else 0.0


def score(all_cases: Iterable[Case] | None = None) -> dict[str, Score]:
    """Per class (and ``all``): recall on weakening edits, false alarms on legitimate ones."""
    out: dict[str, Score] = {}
    for case in all_cases if all_cases is not None else cases():
        flagged = bool(judged(case))
        for key in (case.cls, "all"):
            s = out.setdefault(key, Score())
            if case.weakens:
                s.weakening += 1
                s.caught += flagged
                if not flagged:
                    s.missed.append(case.name)
            else:
                s.legitimate += 1
                s.false_alarms += flagged
                if flagged:
                    s.alarmed.append(case.name)
    return out


def table(scores: dict[str, Score]) -> str:
    lines = [f"{'class':12} {'weakening':>9} {'recall':>7} {'legitimate':>10} {'false alarms':>12}"]
    for key, s in sorted(scores.items(), key=lambda kv: kv[0] == "all"):
        lines.append(
            f"{key:12} {s.weakening:9} {s.recall:7.0%} {s.legitimate:10} "
            f"{s.false_alarms:5} ({s.false_alarm_rate:.0%})"
        )
        lines += [f"  missed: {name}" for name in s.missed if key != "all"]
        lines += [f"  false alarm: {name}" for name in s.alarmed if key != "all"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(score()))
