"""The project's import graph, read from the source with ``ast`` (nothing is
imported or run), and what is wrong with it: circles, and imports that cross
the layers drawn in docs/architecture.md.

    .venv/bin/python -m tests.helpers.imports     # print circles and layer breaks

Every ``import`` counts, wherever it is — at the top, inside a function, under
``if TYPE_CHECKING:`` — because each is a dependency someone reading or
changing the module has to hold in mind.

Packages are treated the way Python runs them:

- importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so the
  importer depends on those too — unless they are its own parents (a module
  is always loaded inside its own packages; that alone is no circle);
- ``from pkg import name``, where ``pkg/__init__`` re-exports ``name`` from
  one of its modules (``from .store import AuditLog``), depends on that
  module, not on ``pkg/__init__`` — a package's modules importing their
  package's re-exported names is the usual, sound pattern; a name that the
  ``__init__`` defines itself is a dependency on the ``__init__``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where each import name's source lives (tools/ and tui/ are installed as
# overseer.tools and overseer.tui: see [tool.setuptools.package-dir]).
SOURCE_ROOTS = {"overseer": "overseer", "overseer.tools": "tools", "overseer.tui": "tui"}


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    # name -> module it was imported from, for ``from .x import name`` in an __init__
    reexports: dict[str, str] = field(default_factory=dict)


def discover(root: Path = ROOT, roots: Mapping[str, str] = SOURCE_ROOTS) -> dict[str, Module]:
    """Every module under the source roots, by import name."""
    mods: dict[str, Module] = {}
    for prefix, folder in roots.items():
        base = root / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([*prefix.split("."), *parts])
            # A folder named like another root's package (overseer/tools) is not
            # what gets installed under that name: the other root is.
            if any(len(p) > len(prefix) and (name == p or name.startswith(p + ".")) for p in roots):
                continue
            mods[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    for mod in mods.values():
        if mod.is_package:
            for node in mod.tree.body:
                if isinstance(node, ast.ImportFrom):
                    source = _absolute(mod, node)
                    for alias in node.names:
                        mod.reexports[alias.asname or alias.name] = _known(
                            f"{source}.{alias.name}", mods
                        ) or (_known(source, mods) or source)
    return mods


def _absolute(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.name.split(".") if mod.is_package else mod.name.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _known(name: str, mods: Mapping[str, Module]) -> str | None:
    """The longest prefix of ``name`` that is a project module, or None."""
    while name:
        if name in mods:
            return name
        name = name.rpartition(".")[0]
    return None


def _through_reexports(name: str, attr: str, mods: Mapping[str, Module]) -> str:
    """The module that defines ``attr`` as imported ``from name``."""
    seen: set[str] = set()
    while name in mods and mods[name].is_package and attr in mods[name].reexports:
        if name in seen:
            break
        seen.add(name)
        target = mods[name].reexports[attr]
        if target == name or target not in mods:
            break
        name = target
    return name


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def edges(mods: Mapping[str, Module]) -> dict[str, dict[str, int]]:
    """``importer -> {imported module: first line}`` for project modules."""
    return {name: _imports_of(mod, mods) for name, mod in mods.items()}


def _imports_of(mod: Module, mods: Mapping[str, Module]) -> dict[str, int]:
    # A module's own packages are loaded around it: depending on them is no edge.
    own = set(_ancestors(mod.name)) | ({mod.name} if mod.is_package else set())
    out: dict[str, int] = {}

    def add(target: str | None, line: int, *, defined_there: bool = False) -> None:
        if target is None:
            return
        for t in [*_ancestors(target), target]:  # importing a.b.c runs a and a.b first
            if t in mods and t != mod.name and (t not in own or (defined_there and t == target)):
                out.setdefault(t, line)

    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_known(alias.name, mods), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(mod, node)
            target = _known(source, mods)
            if target is None:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in mods:
                    add(sub, node.lineno)
                    continue
                defined = _through_reexports(target, alias.name, mods)
                # A name the package's __init__ defines itself: even a module of
                # that package then needs the __init__ to have run past it.
                add(defined, node.lineno, defined_there=defined == target)
                if target not in own:  # running someone else's __init__ is a dependency
                    add(target, node.lineno)
    return out


def circles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Concrete circles (``a -> b -> ... -> a``): for each group of modules
    that reach each other, enough of them that every member is on one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:  # Tarjan, iterative enough for this graph's depth
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for v in sorted(graph):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    out: list[list[str]] = []
    for group in groups:  # circles through every member, each member on one at least
        covered: set[str] = set()
        for start in group:
            if start not in covered:
                circle = _one_circle(start, group, graph)
                covered.update(circle)
                out.append(circle)
    return out


def _one_circle(start: str, group: list[str], graph: Mapping[str, Mapping[str, int]]) -> list[str]:
    """A shortest path from ``start`` back to itself within its group."""
    members = set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return [*paths[v], start]
                if w in members and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return [start, start]  # unreachable for a real group


def describe_circle(circle: list[str], graph: Mapping[str, Mapping[str, int]]) -> str:
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(circle, circle[1:], strict=False)]
    return "import circle: " + "; ".join(steps)


# -- layers (docs/architecture.md) ----------------------------------------------------

_ROW = re.compile(r"^\|\s*\*\*(?P<layer>[\w-]+)\*\*\s*\|(?P<mods>[^|]*)\|(?P<may>[^|]*)\|")
_CODE = re.compile(r"`([^`]+)`")
_WORD = re.compile(r"\*\*([\w-]+)\*\*|`([^`]+)`")


@dataclass
class Layers:
    """Which modules each layer holds, and what it may import."""

    modules: dict[str, list[str]]  # layer -> module prefixes
    may: dict[str, set[str]]  # layer -> layers (and module prefixes) it may import

    def layer_of(self, module: str) -> str | None:
        """The layer whose longest name covers ``module``. A dotted name covers
        its submodules; a top-level package's name (``overseer``) only its
        ``__init__`` — otherwise every new module would land in its layer
        unseen instead of being placed."""
        best: tuple[int, str] | None = None
        for layer, prefixes in self.modules.items():
            for p in prefixes:
                covers = module == p or ("." in p and module.startswith(p + "."))
                if covers and (best is None or len(p) > best[0]):
                    best = (len(p), layer)
        return best[1] if best else None

    def allows(self, importer: str, imported: str) -> bool:
        a, b = self.layer_of(importer), self.layer_of(imported)
        if a is None or b is None:
            return False
        if a == b:
            return True
        for allowed in self.may[a]:
            if allowed == b:
                return True
            if "." in allowed or allowed == "overseer":  # a module, not a layer
                if imported == allowed or imported.startswith(allowed + "."):
                    return True
                if allowed.startswith(imported + "."):
                    return True  # the package __init__ that importing the module runs
        return False


def read_layers(text: str) -> Layers:
    """The layer table of docs/architecture.md: ``| **layer** | `modules` | may import |``.

    "may import" names layers in bold and single modules in backticks."""
    modules: dict[str, list[str]] = {}
    may: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if not m:
            continue
        layer = m["layer"]
        modules[layer] = _CODE.findall(m["mods"])
        may[layer] = {bold or code for bold, code in _WORD.findall(m["may"])}
    return Layers(modules, may)


def layer_breaks(graph: Mapping[str, Mapping[str, int]], layers: Layers) -> list[str]:
    out = []
    for importer in sorted(graph):
        for imported, line in sorted(graph[importer].items()):
            if not layers.allows(importer, imported):
                out.append(
                    f"{importer} ({layers.layer_of(importer)}) imports {imported} "
                    f"({layers.layer_of(imported)}) at line {line}"
                )
    return out


def unplaced(mods: Iterable[str], layers: Layers) -> list[str]:
    return sorted(m for m in mods if layers.layer_of(m) is None)


def main() -> int:
    mods = discover()
    graph = edges(mods)
    layers = read_layers((ROOT / "docs" / "architecture.md").read_text())
    problems = [describe_circle(c, graph) for c in circles(graph)]
    problems += [f"not in any layer: {m}" for m in unplaced(mods, layers)]
    problems += layer_breaks(graph, layers)
    print("\n".join(problems) or f"{len(mods)} modules: no circles, every import within its layers")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
