"""The sandbox as the wall for code the agent wrote (invariant 12), with real
bubblewrap: git internals read-only, overseer's files invisible, outside
paths read-only (a removal fails honestly), no capabilities, no sockets out.

The attacks come from a test file the agent wrote and ran with run_tests,
from the persistent shell, and from bisect steps.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from overseer.tools.bisect import BisectArgs, BisectTool
from overseer.tools.shell import ShellArgs, ShellTool
from overseer.tools.tests_harness import RunTestsArgs, RunTestsTool

from overseer.sandbox import bwrap_status, resolve_sandbox, wrap_argv
from overseer.sandbox_paths import git_paths
from overseer.toolapi import Sandbox, ToolContext

usable, why = bwrap_status()
pytestmark = pytest.mark.skipif(not usable, reason=f"bubblewrap unusable here: {why}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def walled(make_repo, overseer_home: Path, tmp_path: Path):
    """A repo, overseer's own files under OVERSEER_HOME, a file outside the
    workspace, and a bwrap sandbox resolved with them."""
    repo = make_repo({"src/app.py": "X = 1\n", "tests/test_ok.py": "def test_ok():\n    pass\n"})
    data, config = overseer_home / "data", overseer_home / "config"
    data.mkdir(parents=True)
    config.mkdir(parents=True)
    (data / "audit.db").write_text("the log")
    (config / "seal.key").write_text("the key")
    (config / "config.toml").write_text("the config")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep me\n")
    ctx = ToolContext(workspace=repo, session_id="s", sandbox=resolve_sandbox("bwrap"))
    hooks_before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    config_before = (repo / ".git" / "config").read_text()
    yield ctx, repo, overseer_home, outside
    # Whatever ran, the real files are as they were.
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == hooks_before
    assert (repo / ".git" / "config").read_text() == config_before
    assert (data / "audit.db").read_text() == "the log"
    assert (config / "seal.key").read_text() == "the key"
    assert (outside / "keep.txt").read_text() == "keep me\n"


ATTACKS = """
import os, pathlib, subprocess, pytest

HOME = pathlib.Path({home!r})
OUTSIDE = pathlib.Path({outside!r})
GIT = pathlib.Path(".git")

def fails(fn):
    with pytest.raises(OSError):
        fn()

def test_cannot_plant_a_hook():
    fails(lambda: (GIT / "hooks" / "pre-commit").write_text("#!/bin/sh\\ntouch /tmp/pwned\\n"))
    fails(lambda: os.chmod(GIT / "hooks", 0o777))

def test_cannot_rewrite_git_config():
    fails(lambda: open(GIT / "config", "a").write("[core]\\n\\tfsmonitor = touch /tmp/pwned\\n"))
    fails(lambda: (GIT / "info" / "attributes").write_text("* filter=evil\\n"))
    fails(lambda: (GIT / "commondir").write_text("/tmp/evil\\n"))
    fails(lambda: os.rename(GIT, "moved-git"))
    r = subprocess.run(["git", "config", "core.fsmonitor", "touch /tmp/pwned"], capture_output=True)
    assert r.returncode != 0

def test_cannot_read_overseer_files():
    for rel in ("data/audit.db", "config/seal.key", "config/config.toml"):
        p = HOME / rel
        fails(p.read_bytes)
        fails(lambda: p.write_text("x"))
        # Removing it fails too, instead of "succeeding" on an empty mask.
        r = subprocess.run(["rm", "-f", str(p)], capture_output=True, text=True)
        assert r.returncode != 0, r.stderr
    fails(lambda: (HOME / "data" / "audit.db-new").write_text("x"))

def test_outside_is_read_only_and_real():
    assert (OUTSIDE / "keep.txt").read_text() == "keep me\\n"  # the real file, visible
    r = subprocess.run(["rm", "-rf", str(OUTSIDE)], capture_output=True, text=True)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    fails(lambda: (OUTSIDE / "new.txt").write_text("x"))

def test_dev_is_read_only_but_devices_and_shm_work():
    fails(lambda: pathlib.Path("/dev/planted").write_text("x"))
    fails(lambda: os.unlink("/dev/null"))
    pathlib.Path("/dev/null").write_text("discarded")
    import multiprocessing
    multiprocessing.Lock()  # a POSIX semaphore in the sandbox's own /dev/shm

def test_no_capabilities():
    status = pathlib.Path("/proc/self/status").read_text()
    assert "CapEff:\\t0000000000000000" in status
    r = subprocess.run(["mount", "-o", "remount,rw,bind", "/", "/"], capture_output=True)
    assert r.returncode != 0

def test_scratch_is_writable():
    import tempfile
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"ok")
    assert os.environ["TMPDIR"] != "/tmp"
"""


def test_test_code_run_by_run_tests_stays_behind_the_wall(walled) -> None:
    ctx, repo, home, outside = walled
    (repo / "tests" / "test_attack.py").write_text(
        ATTACKS.format(home=str(home), outside=str(outside))
    )
    tool = RunTestsTool()
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/test_attack.py"
    facts = tool.facts(RunTestsArgs(command=command), ctx)
    assert facts.sandbox == "bwrap" and "runs_code" in facts.risk
    r = tool.run(RunTestsArgs(command=command), ctx)
    assert r.data["outcome"] == "passed", r.output
    assert r.data["passed"] == 7


def test_run_tests_at_a_revision_keeps_the_worktree_git_file_read_only(walled) -> None:
    ctx, repo, _home, _outside = walled
    cmd = "sh -c 'echo gitdir: /tmp/evil > .git'; test \"$(head -c 7 .git)\" = gitdir: && ! grep -q evil .git"
    r = RunTestsTool().run(RunTestsArgs(command=cmd, rev="HEAD"), ctx)
    assert r.data["outcome"] == "passed", r.output


def test_the_shell_cannot_touch_git_internals_or_outside(walled) -> None:
    ctx, repo, home, outside = walled
    tool = ShellTool()
    try:
        assert tool.facts(ShellArgs(command="true"), ctx).sandbox == "bwrap"
        for cmd in (
            "echo 'touch /tmp/pwned' > .git/hooks/post-checkout",
            "git config core.fsmonitor 'touch /tmp/pwned'",
            "rm -rf .git/hooks",
            "mv .git .git-old",
            f"cat {home}/config/seal.key | grep key",
            f"rm -rf {outside}",
            f"touch {home}/data/new.db",
        ):
            r = tool.run(ShellArgs(command=cmd), ctx)
            assert r.status == "failed" and r.exit_code != 0, (cmd, r.output)
        # The removal outside failed honestly: said so, and nothing was removed.
        r = tool.run(ShellArgs(command=f"rm -rf {outside}/keep.txt"), ctx)
        assert r.exit_code == 1 and "Read-only file system" in r.output
        # Ordinary work still works: the workspace, git reads, a temp file.
        r = tool.run(ShellArgs(command="echo y > src/new.py && git status --short && mktemp"), ctx)
        assert r.status == "ok", r.output
        assert "?? src/new.py" in r.output
    finally:
        tool.close()


def test_nested_repositories_and_git_files_are_protected(walled) -> None:
    ctx, repo, _home, _outside = walled
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    # A submodule-style .git file pointing at a git dir inside the workspace.
    (repo / "mods" / "sub").mkdir(parents=True)
    gitdir = repo / "mods" / "sub.gitdir"
    git(repo / "mods", "init", "-q", "--separate-git-dir", str(gitdir), "sub")
    paths = git_paths(repo)
    assert repo / ".git" in paths and nested / ".git" in paths
    assert repo / "mods" / "sub" / ".git" in paths and gitdir in paths
    tool = ShellTool()
    try:
        for cmd in (
            "echo x > vendor/lib/.git/hooks/pre-commit",
            "echo 'gitdir: /tmp/evil' > mods/sub/.git",
            "echo x > mods/sub.gitdir/hooks/pre-commit",
        ):
            r = tool.run(ShellArgs(command=cmd), ctx)
            assert r.exit_code != 0 and "Read-only file system" in r.output, (cmd, r.output)
    finally:
        tool.close()
    assert "gitdir:" in (repo / "mods" / "sub" / ".git").read_text()
    assert "evil" not in (repo / "mods" / "sub" / ".git").read_text()


def test_git_tools_may_commit_but_not_rewrite_hooks_or_config(walled) -> None:
    ctx, repo, _home, _outside = walled
    paths = git_paths(repo, commit=True)
    assert repo / ".git" not in paths
    assert {repo / ".git" / "config", repo / ".git" / "hooks", repo / ".git" / "info"} <= set(paths)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(
        "#!/bin/sh\necho hacked >> .git/config; echo x > .git/hooks/post-commit; exit 0\n"
    )
    hook.chmod(0o755)
    from overseer.tools.git import GitCommitArgs, GitCommitTool

    (repo / "src" / "app.py").write_text("X = 2\n")
    r = GitCommitTool().run(GitCommitArgs(message="with a hook", all=True), ctx)
    assert r.status == "ok", r.output
    assert git(repo, "log", "-1", "--format=%s").strip() == "with a hook"
    assert "hacked" not in (repo / ".git" / "config").read_text()
    assert not (repo / ".git" / "hooks" / "post-commit").exists()
    hook.unlink()


def test_bisect_steps_run_behind_the_wall(walled) -> None:
    ctx, repo, _home, _outside = walled
    (repo / "src" / "app.py").write_text("X = 2\n")
    git(repo, "commit", "-qam", "bad")
    test = (
        "echo evil > $(git rev-parse --git-common-dir)/hooks/pre-commit 2>/dev/null; "
        f'{sys.executable} -c \'import sys; sys.path.insert(0, "src"); import app; '
        "sys.exit(app.X != 1)'"
    )
    tool = BisectTool()
    args = BisectArgs(test=test, good="HEAD~1", bad="HEAD")
    facts = tool.facts(args, ctx)
    assert facts.sandbox == "bwrap" and "runs_code" in facts.risk
    r = tool.run(args, ctx)
    assert r.status == "ok", r.output
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_overseer_settings_in_the_workspace_are_read_only(make_repo, overseer_home: Path) -> None:
    """overseer.toml, the policy it names and an MCP server script: the next
    session loads and runs them outside any sandbox."""
    repo = make_repo(
        {
            "overseer.toml": 'policy = "policies/team.toml"\n'
            '[mcp.servers.local]\ncommand = "python"\nargs = ["tools/mcp_server.py", "-v"]\n',
            "policies/team.toml": "# the team's policy\n",
            "tools/mcp_server.py": "print('server')\n",
            "src/app.py": "X = 1\n",
        }
    )
    ctx = ToolContext(workspace=repo, session_id="s", sandbox=resolve_sandbox("bwrap"))
    tool = ShellTool()
    try:
        for cmd in (
            "echo 'policy = \"/tmp/open.toml\"' > overseer.toml",
            "rm -f overseer.toml",
            "echo '[[rules]]' >> policies/team.toml",
            "mv policies/team.toml policies/old.toml",
            "echo 'import os' > tools/mcp_server.py",
        ):
            r = tool.run(ShellArgs(command=cmd), ctx)
            assert r.exit_code != 0, (cmd, r.output)
        r = tool.run(ShellArgs(command="echo 'X = 2' > src/app.py && cat overseer.toml"), ctx)
        assert r.status == "ok" and "team.toml" in r.output
    finally:
        tool.close()
    assert (repo / "policies" / "team.toml").read_text() == "# the team's policy\n"
    assert (repo / "tools" / "mcp_server.py").read_text() == "print('server')\n"
    assert "team.toml" in (repo / "overseer.toml").read_text()


def test_service_sockets_outside_are_covered(tmp_path: Path) -> None:
    """A read-only mount does not stop connect(2): sockets are masked (here
    one where service sockets live: a directory at the top of /tmp)."""
    outside = Path(tempfile.mkdtemp(prefix="overseer-test-svc-", dir="/tmp"))
    ws = tmp_path / "ws"
    ws.mkdir()
    server = socket.socket(socket.AF_UNIX)
    path = str(outside / "door.sock")
    server.bind(path)
    server.listen()
    mine = socket.socket(socket.AF_UNIX)
    mine.bind(str(ws / "mine.sock"))
    mine.listen()
    probe = textwrap.dedent(
        """
        import socket, sys
        for p in sys.argv[1:]:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(p); print(p, "connected")
            except OSError as e:
                print(p, "refused", e.errno)
        """
    )
    try:
        argv = wrap_argv(
            ["python3", "-c", probe, path, str(ws / "mine.sock")],
            resolve_sandbox("bwrap"),
            ws,
            network=False,
        )
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    finally:
        server.close()
        mine.close()
        shutil.rmtree(outside, ignore_errors=True)
    assert f"{path} refused" in out
    assert f"{ws / 'mine.sock'} connected" in out


def test_no_sandbox_changes_nothing(tmp_path: Path) -> None:
    assert wrap_argv(["true"], Sandbox(name="none"), tmp_path, network=False) == ["true"]
    assert os.path.exists(tmp_path)
