"""Credentials in a home directory are hidden from sandboxed commands, with
real bubblewrap: code the agent wrote runs in the sandbox, and what it can
read it can print to the model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from overseer.tools.shell import ShellArgs, ShellTool
from overseer.tools.tests_harness import RunTestsArgs, RunTestsTool

from overseer.sandbox import bwrap_status, resolve_sandbox
from overseer.sandbox_paths import secret_paths
from overseer.toolapi import ToolContext

usable, why = bwrap_status()
pytestmark = pytest.mark.skipif(not usable, reason=f"bubblewrap unusable here: {why}")

KEY = "-----BEGIN OPENSSH PRIVATE KEY----- not-a-real-key"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overseer_home: Path) -> Path:
    """A home directory with the usual credential stores, and a plain file."""
    home = tmp_path / "home"
    for rel, text in {
        ".ssh/id_ed25519": KEY,
        ".ssh/config": "Host *\n",
        ".aws/credentials": "aws_secret_access_key = SECRET-AWS\n",
        ".netrc": "machine example.com password SECRET-NETRC\n",
        ".config/gh/hosts.yml": "oauth_token: SECRET-GH\n",
        ".bash_history": "export TOKEN=SECRET-HISTORY\n",
        "notes/plain.txt": "just notes\n",
        "extra/vault.txt": "SECRET-EXTRA\n",
    }.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OVERSEER_SANDBOX_HIDE", str(home / "extra" / "vault.txt"))
    return home


def test_the_credential_stores_are_listed(home: Path) -> None:
    found = set(secret_paths())
    for rel in (".ssh", ".aws", ".netrc", ".config/gh", ".bash_history", "extra/vault.txt"):
        assert home / rel in found, rel
    assert home / "notes" not in found and home / "notes/plain.txt" not in found


def test_the_shell_cannot_read_them_but_reads_the_rest(home: Path, make_repo) -> None:
    repo = make_repo({"README.md": "x\n"})
    ctx = ToolContext(workspace=repo, session_id="s", sandbox=resolve_sandbox("bwrap"))
    tool = ShellTool()
    try:
        for path in (
            ".ssh/id_ed25519",
            ".aws/credentials",
            ".netrc",
            ".config/gh/hosts.yml",
            ".bash_history",
            "extra/vault.txt",
        ):
            r = tool.run(ShellArgs(command=f"cat {home / path}"), ctx)
            assert r.exit_code != 0 and "SECRET" not in r.output and KEY not in r.output, path
        # Removing one fails honestly, and the real one is untouched.
        r = tool.run(ShellArgs(command=f"rm -rf {home / '.ssh'}"), ctx)
        assert r.exit_code != 0
        r = tool.run(ShellArgs(command=f"cat {home / 'notes/plain.txt'}"), ctx)
        assert r.status == "ok" and "just notes" in r.output
    finally:
        tool.close()
    assert (home / ".ssh" / "id_ed25519").read_text() == KEY


def test_test_code_cannot_read_them(home: Path, make_repo) -> None:
    probe = (
        "import pathlib, pytest\n"
        f"HOME = pathlib.Path({str(home)!r})\n"
        "def test_keys_are_hidden():\n"
        "    for rel in ('.ssh/id_ed25519', '.aws/credentials', '.netrc'):\n"
        "        with pytest.raises(OSError):\n"
        "            (HOME / rel).read_bytes()\n"
        "    assert (HOME / 'notes/plain.txt').read_text() == 'just notes\\n'\n"
    )
    repo = make_repo({"tests/test_probe.py": probe})
    ctx = ToolContext(workspace=repo, session_id="s", sandbox=resolve_sandbox("bwrap"))
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/test_probe.py"
    r = RunTestsTool().run(RunTestsArgs(command=command), ctx)
    assert r.data["outcome"] == "passed", r.output
    assert os.path.exists(home / ".ssh" / "id_ed25519")
