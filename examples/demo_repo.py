"""Build the demo repository: a small but real Python project ("shopcart")
with a pytest suite of 20+ tests and ~30 commits of plausible history, one
of which quietly breaks discount rounding. `overseer demo` runs the bisect
agent on it; the tests use it as a realistic workspace.

    python -m overseer.examples.demo_repo /tmp/shopcart
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REGRESSION_SUBJECT = "Speed up discount computation"
TEST_COMMAND = "python -m pytest -q -x"

PYPROJECT = """[project]
name = "shopcart"
version = "0.3.0"
requires-python = ">=3.9"

[tool.pytest.ini_options]
testpaths = ["tests"]
# The demo runs under overseer's own environment, whose packages register
# pytest plugins this project never uses; loading them cost seconds on each
# of the bisect's test runs.
addopts = [
    "-p", "no:langsmith_plugin", "-p", "no:hypothesispytest", "-p", "no:textual-snapshot",
    "-p", "no:syrupy", "-p", "no:anyio", "-p", "no:asyncio",
]
"""

FORMATTING_V1 = '''"""Money formatting."""


def format_money(cents: int, currency: str = "EUR") -> str:
    """Format an amount in cents, e.g. 1234 -> 'EUR 12.34'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{currency} {cents // 100}.{cents % 100:02d}"
'''

FORMATTING_V2 = (
    FORMATTING_V1
    + '''

def format_thousands(cents: int, currency: str = "EUR") -> str:
    """Like format_money, with thousands separators: 123456789 -> 'EUR 1,234,567.89'."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{currency} {cents // 100:,}.{cents % 100:02d}"
'''
)

PRICING_V1 = '''"""Prices: units, quantities, tax."""

TAX_RATE = 0.2


def line_total(unit_cents: int, quantity: int) -> int:
    if quantity < 0:
        raise ValueError("quantity cannot be negative")
    return unit_cents * quantity


def with_tax(cents: int, rate: float = TAX_RATE) -> int:
    return round(cents * (1 + rate))
'''

DISCOUNT_GOOD = '''

def apply_discount(cents: int, percent: float) -> int:
    """Take `percent` off, rounding to the nearest cent."""
    if not 0 <= percent <= 100:
        raise ValueError("discount must be between 0 and 100 percent")
    return round(cents * (100 - percent) / 100)
'''

DISCOUNT_BAD = '''

def apply_discount(cents: int, percent: float) -> int:
    """Take `percent` off, rounding to the nearest cent."""
    if not 0 <= percent <= 100:
        raise ValueError("discount must be between 0 and 100 percent")
    # integer arithmetic is faster than float rounding
    return cents * int(100 - percent) // 100
'''

CART_V1 = '''"""A shopping cart."""

from dataclasses import dataclass, field

from .pricing import line_total


@dataclass
class Cart:
    lines: dict = field(default_factory=dict)  # sku -> (unit_cents, quantity)

    def add(self, sku: str, unit_cents: int, quantity: int = 1) -> None:
        price, qty = self.lines.get(sku, (unit_cents, 0))
        self.lines[sku] = (unit_cents, qty + quantity)

    def subtotal(self) -> int:
        return sum(line_total(u, q) for u, q in self.lines.values())
'''

CART_V2 = (
    CART_V1
    + """
    def remove(self, sku: str, quantity: int = 1) -> None:
        unit, qty = self.lines[sku]
        if quantity >= qty:
            del self.lines[sku]
        else:
            self.lines[sku] = (unit, qty - quantity)

    def clear(self) -> None:
        self.lines.clear()

    def count(self) -> int:
        return sum(q for _, q in self.lines.values())
"""
)

COUPONS_V1 = '''"""Coupons: codes that give a percentage off."""

from .pricing import apply_discount

COUPONS = {"WELCOME10": 10, "SPRING25": 25}


def redeem(code: str, cents: int) -> int:
    try:
        percent = COUPONS[code.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown coupon {code!r}") from None
    return apply_discount(cents, percent)
'''

COUPONS_V2 = COUPONS_V1.replace(
    '{"WELCOME10": 10, "SPRING25": 25}',
    '{"WELCOME10": 10, "SPRING25": 25, "HALF": 50, "VIP12.5": 12.5}',
)

TEST_FORMATTING = """from shopcart.formatting import format_money


def test_whole_amount():
    assert format_money(1200) == "EUR 12.00"


def test_cents_are_padded():
    assert format_money(1205) == "EUR 12.05"


def test_negative_amount():
    assert format_money(-250) == "-EUR 2.50"


def test_other_currency():
    assert format_money(99, "USD") == "USD 0.99"


def test_zero():
    assert format_money(0) == "EUR 0.00"
"""

TEST_FORMATTING_V2 = (
    TEST_FORMATTING.replace(
        "from shopcart.formatting import format_money",
        "from shopcart.formatting import format_money, format_thousands",
    )
    + """

def test_thousands_separator():
    assert format_thousands(123456789) == "EUR 1,234,567.89"


def test_thousands_small_amount():
    assert format_thousands(5) == "EUR 0.05"
"""
)

TEST_PRICING = """import pytest

from shopcart.pricing import line_total, with_tax


def test_line_total():
    assert line_total(250, 4) == 1000


def test_line_total_zero_quantity():
    assert line_total(250, 0) == 0


def test_negative_quantity_rejected():
    with pytest.raises(ValueError):
        line_total(250, -1)


def test_tax_default_rate():
    assert with_tax(1000) == 1200


def test_tax_custom_rate():
    assert with_tax(1000, 0.07) == 1070
"""

TEST_DISCOUNT = """import pytest

from shopcart.pricing import apply_discount


def test_ten_percent_off():
    assert apply_discount(1000, 10) == 900


def test_no_discount():
    assert apply_discount(1234, 0) == 1234


def test_discount_rounds_to_nearest_cent():
    assert apply_discount(999, 15) == 849  # 849.15


def test_fractional_percent_rounds():
    assert apply_discount(1000, 12.5) == 875


def test_discount_out_of_range():
    with pytest.raises(ValueError):
        apply_discount(1000, 120)
"""

TEST_CART = """from shopcart.cart import Cart


def test_empty_cart():
    assert Cart().subtotal() == 0


def test_add_lines():
    cart = Cart()
    cart.add("apple", 50, 3)
    cart.add("pear", 80)
    assert cart.subtotal() == 230


def test_add_same_sku_twice():
    cart = Cart()
    cart.add("apple", 50)
    cart.add("apple", 50, 2)
    assert cart.lines["apple"] == (50, 3)
"""

TEST_CART_V2 = (
    TEST_CART
    + """

def test_remove_some():
    cart = Cart()
    cart.add("apple", 50, 3)
    cart.remove("apple")
    assert cart.count() == 2


def test_remove_all():
    cart = Cart()
    cart.add("apple", 50, 3)
    cart.remove("apple", 5)
    assert cart.count() == 0


def test_clear():
    cart = Cart()
    cart.add("apple", 50)
    cart.clear()
    assert cart.subtotal() == 0
"""
)

TEST_COUPONS = """import pytest

from shopcart.coupons import redeem


def test_welcome_coupon():
    assert redeem("WELCOME10", 2000) == 1800


def test_coupon_code_is_case_insensitive():
    assert redeem(" spring25 ", 1000) == 750


def test_unknown_coupon():
    with pytest.raises(ValueError):
        redeem("NOPE", 1000)
"""

TEST_COUPONS_V2 = (
    TEST_COUPONS
    + """

def test_half_price():
    assert redeem("HALF", 999) == 500  # 499.5 rounds half to even -> 500


def test_vip_coupon():
    assert redeem("VIP12.5", 1000) == 875
"""
)


def _readme(extra: str = "") -> str:
    return (
        "# shopcart\n\nA tiny shopping-cart library used to demonstrate overseer.\n\nRun the tests with `python -m pytest`.\n"
        + extra
    )


HISTORY: list[tuple[str, dict[str, str]]] = [
    (
        "Initial project skeleton",
        {
            "README.md": _readme(),
            "pyproject.toml": PYPROJECT,
            "shopcart/__init__.py": '"""shopcart."""\n',
            ".gitignore": "__pycache__/\n.pytest_cache/\n",
        },
    ),
    ("Add money formatting helper", {"shopcart/formatting.py": FORMATTING_V1}),
    ("Test money formatting", {"tests/test_formatting.py": TEST_FORMATTING}),
    ("Add line totals and tax", {"shopcart/pricing.py": PRICING_V1}),
    ("Test pricing", {"tests/test_pricing.py": TEST_PRICING}),
    ("Add percentage discounts", {"shopcart/pricing.py": PRICING_V1 + DISCOUNT_GOOD}),
    ("Test discounts, including rounding", {"tests/test_discount.py": TEST_DISCOUNT}),
    ("Add a shopping cart", {"shopcart/cart.py": CART_V1}),
    ("Test the cart", {"tests/test_cart.py": TEST_CART}),
    ("Add coupons", {"shopcart/coupons.py": COUPONS_V1}),
    ("Test coupons", {"tests/test_coupons.py": TEST_COUPONS}),
    (
        "Document the public API",
        {
            "README.md": _readme(
                "\n## API\n\n- `Cart.add`, `Cart.subtotal`\n- `apply_discount`, `with_tax`\n- `redeem`\n"
            )
        },
    ),
    ("Cart: remove, clear and count", {"shopcart/cart.py": CART_V2}),
    ("Test cart removal", {"tests/test_cart.py": TEST_CART_V2}),
    ("Add a changelog", {"CHANGELOG.md": "# Changelog\n\n## 0.2.0\n- cart removal\n"}),
    ("Format amounts with thousands separators", {"shopcart/formatting.py": FORMATTING_V2}),
    ("Test thousands separators", {"tests/test_formatting.py": TEST_FORMATTING_V2}),
    ("More coupons: HALF and VIP12.5", {"shopcart/coupons.py": COUPONS_V2}),
    ("Test the new coupons", {"tests/test_coupons.py": TEST_COUPONS_V2}),
    (
        "Changelog for 0.3.0",
        {
            "CHANGELOG.md": "# Changelog\n\n## 0.3.0\n- thousands separators\n- new coupons\n\n## 0.2.0\n- cart removal\n"
        },
    ),
    (REGRESSION_SUBJECT, {"shopcart/pricing.py": PRICING_V1 + DISCOUNT_BAD}),
    (
        "Mention coupons in the README",
        {
            "README.md": _readme(
                "\n## API\n\n- `Cart.add`, `Cart.subtotal`, `Cart.remove`\n- `apply_discount`, `with_tax`\n- `redeem` (WELCOME10, SPRING25, HALF, VIP12.5)\n"
            )
        },
    ),
    ("Bump version to 0.3.1", {"pyproject.toml": PYPROJECT.replace("0.3.0", "0.3.1")}),
    (
        "Export the main names from the package",
        {
            "shopcart/__init__.py": '"""shopcart."""\n\nfrom .cart import Cart\nfrom .coupons import redeem\nfrom .pricing import apply_discount, with_tax\n\n__all__ = ["Cart", "apply_discount", "redeem", "with_tax"]\n'
        },
    ),
    (
        "Add a contributing guide",
        {"CONTRIBUTING.md": "# Contributing\n\nRun `python -m pytest` before sending a change.\n"},
    ),
    (
        "Typo in the README",
        {
            "README.md": _readme(
                "\n## API\n\n- `Cart.add`, `Cart.subtotal`, `Cart.remove`\n- `apply_discount`, `with_tax`\n- `redeem` (WELCOME10, SPRING25, HALF, VIP12.5).\n"
            )
        },
    ),
    (
        "Cart docstring",
        {
            "shopcart/cart.py": CART_V2.replace(
                '"""A shopping cart."""',
                '"""A shopping cart: lines of (unit price in cents, quantity) by SKU."""',
            )
        },
    ),
    (
        "Changelog for 0.3.1",
        {
            "CHANGELOG.md": "# Changelog\n\n## 0.3.1\n- faster discounts\n\n## 0.3.0\n- thousands separators\n- new coupons\n\n## 0.2.0\n- cart removal\n"
        },
    ),
    ("Ignore editor files", {".gitignore": "__pycache__/\n.pytest_cache/\n*.swp\n.idea/\n"}),
    ("Bump version to 0.3.2", {"pyproject.toml": PYPROJECT.replace("0.3.0", "0.3.2")}),
]


def _git(repo: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def build(dest: Path) -> dict[str, str]:
    """Create the repository at ``dest`` (must not exist or be empty).

    Returns facts about it: ``regression`` (sha of the planted bad commit),
    ``good`` (a sha known to pass), ``head``, ``test`` (the test command).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    base = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    _git(dest, "init", "-q", "-b", "main", env=base)
    _git(dest, "config", "user.name", "Demo Developer", env=base)
    _git(dest, "config", "user.email", "dev@shopcart.example", env=base)
    _git(dest, "config", "commit.gpgsign", "false", env=base)
    facts: dict[str, str] = {"test": TEST_COMMAND}
    t0 = 1_767_225_600  # 2026-01-01: fixed dates make the shas reproducible
    for i, (subject, files) in enumerate(HISTORY):
        for rel, text in files.items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        when = f"{t0 + i * 86_400} +0000"
        env = {**base, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
        _git(dest, "add", "-A", env=env)
        _git(dest, "commit", "-q", "-m", subject, env=env)
        sha = _git(dest, "rev-parse", "HEAD", env=env)
        if subject == REGRESSION_SUBJECT:
            facts["regression"] = sha
        if subject == "Test the new coupons":
            facts["good"] = sha
    facts["head"] = _git(dest, "rev-parse", "HEAD", env=base)
    return facts


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "shopcart-demo")
    info = build(target)
    print(f"built {target}: regression at {info['regression']}")
