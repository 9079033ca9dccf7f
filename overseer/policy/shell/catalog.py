"""The program catalogue: every program overseer knows the grammar of.

``lookup(name)`` gives a program's ``Spec`` (see ``grammar``) or None. A
program with no entry can still be allowed by a rule, but only as the rule
writes it (every word named by the rule's command prefix) unless the rule
says ``any_arguments = true``; a program with an entry is allowed only when
every option and operand is one its entry knows.

To teach overseer a program, add a ``spec(...)`` line to the part that fits
(``catalog_text``, ``catalog_search``, ``catalog_git``, ``catalog_run``) and
a line to tests/data/policy_allowed.toml or policy_adversarial.toml.
"""

from __future__ import annotations

from .catalog_git import GIT
from .catalog_run import PYTHON, RUN
from .catalog_search import SEARCH
from .catalog_text import TEXT
from .grammar import Spec
from .programs import PYTHON_RE

_BY_NAME: dict[str, Spec] = {}
for _spec in [*TEXT, *SEARCH, *RUN, GIT]:
    if _spec.name in _BY_NAME:
        raise RuntimeError(f"two catalogue entries for {_spec.name}")
    _BY_NAME[_spec.name] = _spec


def lookup(name: str) -> Spec | None:
    """The entry for a program by its basename (``python3.11`` is python)."""
    spec = _BY_NAME.get(name)
    if spec is None and PYTHON_RE.match(name):
        return PYTHON
    return spec


def known_programs() -> list[str]:
    return sorted(_BY_NAME)
