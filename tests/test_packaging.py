"""Packaging: every package directory is installed under the one `overseer`
namespace, and the built-in tools are found through their entry points."""

from __future__ import annotations

import importlib.metadata as md
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOTS = {
    "overseer": "overseer",
    "tools": "overseer.tools",
    "tui": "overseer.tui",
    "examples": "overseer.examples",
}


def test_every_package_directory_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top, name in ROOTS.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            if "custom_tool" in rel.parts:  # a separate installable example project
                continue
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert config["package-dir"]["overseer.tools"] == "tools"


def test_builtin_tools_come_through_the_entry_point_group():
    eps = {ep.name: ep for ep in md.entry_points(group="overseer.tools")}
    assert {
        "shell",
        "read_file",
        "write_file",
        "edit_file",
        "run_tests",
        "bisect",
        "ask_human",
    } <= set(eps)
    assert eps["shell"].dist is not None and eps["shell"].dist.name == "overseer"


def test_core_never_imports_tools_or_tui():
    for path in (ROOT / "overseer").rglob("*.py"):
        if "cli" in path.parts:
            continue  # the CLI may open the UI lazily
        text = path.read_text()
        for banned in (
            "from overseer.tools",
            "import overseer.tools",
            "from overseer.tui",
            "import overseer.tui",
            "from ..tools",
            "from ..tui",
        ):
            assert banned not in text, f"{path.relative_to(ROOT)} imports {banned.split()[-1]}"


def test_a_wheel_builds_without_setuptools_warnings_and_ships_the_policies(tmp_path: Path):
    """A data-only directory (overseer/policies) left out of `packages` made
    every install print setuptools' "Package would be ignored" warning; the
    shipped policies must still be in the wheel once it is a package."""
    import subprocess
    import sys
    import zipfile

    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    log = res.stdout + res.stderr
    assert "would be ignored" not in log, log[log.find("would be ignored") - 400 :][:1200]
    (wheel,) = tmp_path.glob("overseer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"overseer/policies/default.toml", "overseer/policies/strict.toml"} <= names
    assert "overseer/tui/overseer.tcss" in names
