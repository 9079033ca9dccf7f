"""What the sandbox must treat specially beyond "workspace writable, rest
read-only": git's internals inside the workspace, and service sockets.

**git internals.** The workspace is writable, and a repository keeps code
that runs later, outside any sandbox, in it: ``.git/hooks/*`` run on the
user's next ``git commit``, ``.git/config`` names programs (``core.fsmonitor``,
``core.pager``, filter and diff drivers), ``info/attributes`` selects them.
So every git dir reachable from the workspace is mounted read-only inside the
sandbox: ``.git`` (directory or ``gitdir:`` file, and what the file points
to when that is writable too), the common dir of a linked worktree, and the
``.git`` of nested repositories and submodules found below the workspace.
Mounted read-only, they cannot be renamed or removed either (a mount point
is busy). For the git tools, which must write objects, refs and the index
while running hooks, ``git_paths(..., commit=True)`` keeps the git dir
writable and protects only what holds code or redirects git: ``config``,
``config.worktree``, ``hooks``, ``info``, ``modules``, ``commondir``.

**overseer's settings in the workspace.** ``overseer.toml`` (policy, plugin
tools, MCP servers) is read by the next session and acted on outside any
sandbox, like a hook: it is read-only inside, and so are the policy file and
the MCP server programs and scripts it names when they lie in the workspace
(``project_files``). A ``[tool.overseer]`` table in ``pyproject.toml``, or
an ``overseer.toml`` created during the session, can still be written by
code run in the sandbox (the policy asks for both through the shell and the
file tools): ``overseer.settings_trust`` makes the next session refuse
settings a session changed until a person runs ``overseer trust``.

**Sockets.** A read-only mount does not stop ``connect(2)`` on a Unix socket
file, and some sockets are a door out: the Docker or containerd socket,
systemd's private socket and user bus (``systemd-run``), tmux and screen
servers (``send-keys`` into the user's terminal), X11, ssh and gpg agents.
Socket files under ``/run``, ``/var/run``, ``/tmp``, ``$XDG_RUNTIME_DIR`` and
the top of ``$HOME`` are found by a bounded walk and covered with
``/dev/null``; the runtime dir itself is hidden.

**Credentials.** The rest of the file system is readable, and code the
agent wrote runs in the sandbox (its tests): what it reads, it can print,
and what it prints goes to the model. So the well-known places where
credentials live in a home directory (ssh and gpg keys, cloud and cluster
credentials, registry tokens, ``.netrc``, shell histories, browser
profiles) are hidden like overseer's own files (``secret_paths``), in
``$HOME`` and in the account's home directory when they differ; more
paths can be named in ``OVERSEER_SANDBOX_HIDE`` (``os.pathsep``-separated).
A command the person approved network for does not get them either: a
``git push`` over ssh from inside the sandbox fails (run it yourself).
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

# Directories not walked for nested repositories: caches and dependency
# trees that are big and hold nothing the user runs git in.
_SKIP_DIRS = frozenset(
    {
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".hypothesis",
        ".cache",
    }
)
MAX_WALK = 20_000  # directories visited looking for nested .git (a huge tree is cut short)
# What a git dir holds that is code, or that sends git elsewhere for it.
CODE_PARTS = ("config", "config.worktree", "hooks", "info", "modules", "commondir")
# git dirs always have these; created when missing so that they can be
# mounted read-only (an empty hooks/ or info/ changes nothing for git).
ENSURE_DIRS = ("hooks", "info")


def _gitfile_target(dotgit: Path) -> Path | None:
    """Where a ``.git`` file (``gitdir: PATH``) points, or None."""
    try:
        with open(dotgit, encoding="utf-8", errors="replace") as f:
            line = f.read(4096).splitlines()[0] if dotgit.stat().st_size else ""
    except (OSError, IndexError):
        return None
    if not line.startswith("gitdir:"):
        return None
    target = Path(line[len("gitdir:") :].strip())
    if not target.is_absolute():
        target = dotgit.parent / target
    return Path(os.path.realpath(target))


def _common_dir(gitdir: Path) -> Path | None:
    """A linked worktree's git dir names the repository's common dir."""
    try:
        text = (gitdir / "commondir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text:
        return None
    p = Path(text)
    return Path(os.path.realpath(p if p.is_absolute() else gitdir / p))


def find_dotgits(workspace: Path, limit: int = MAX_WALK) -> list[Path]:
    """Every ``.git`` (directory, file or symlink) at or below ``workspace``:
    the workspace's own, nested repositories', submodules'. The walk does not
    follow symlinks, does not enter ``.git`` directories or the caches in
    ``_SKIP_DIRS``, and stops after ``limit`` directories."""
    found: list[Path] = []
    todo = [workspace]
    seen = 0
    while todo and seen < limit:
        d = todo.pop()
        seen += 1
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            if e.name == ".git":
                found.append(Path(e.path))
            elif e.name not in _SKIP_DIRS:
                try:
                    if e.is_dir(follow_symlinks=False):
                        todo.append(Path(e.path))
                except OSError:
                    continue
    return sorted(found)


def git_paths(
    workspace: Path, writable: Iterable[Path] = (), *, commit: bool = False
) -> list[Path]:
    """The paths to mount read-only so that no git internals in a writable
    part of the sandbox (``workspace`` and ``writable``) can be changed.

    A git dir outside the writable parts is read-only already and is left
    out. With ``commit`` the git dirs themselves stay writable and only
    their ``CODE_PARTS`` are listed."""
    roots = [Path(os.path.realpath(p)) for p in [workspace, *writable]]

    def in_writable(p: Path) -> bool:
        return any(p == r or p.is_relative_to(r) for r in roots)

    out: list[Path] = []
    gitdirs: list[Path] = []
    for root in roots:
        for dotgit in find_dotgits(root):
            real = Path(os.path.realpath(dotgit))
            if dotgit.is_symlink():
                gitdirs.append(real)  # the link itself cannot be mounted over
            elif dotgit.is_file():
                out.append(dotgit)  # repointing the file would swap the whole repository
                target = _gitfile_target(dotgit)
                if target is not None:
                    gitdirs.append(target)
            else:
                gitdirs.append(real)
    for gd in list(gitdirs):
        common = _common_dir(gd)
        if common is not None:
            gitdirs.append(common)
    for gd in dict.fromkeys(gitdirs):
        if not gd.is_dir() or not in_writable(gd):
            continue
        if not commit:
            out.append(gd)
            continue
        for name in ENSURE_DIRS:
            try:
                (gd / name).mkdir(exist_ok=True)
            except OSError:
                pass
        out += [gd / part for part in CODE_PARTS if os.path.lexists(gd / part)]
        worktrees = gd / "worktrees"
        if worktrees.is_dir():
            for wt in worktrees.iterdir():
                out += [wt / p for p in ("config.worktree", "commondir") if (wt / p).exists()]
    return list(dict.fromkeys(out))


def project_files(workspace: Path) -> list[Path]:
    """overseer's own settings in ``workspace`` that the next session acts on
    outside the sandbox (``overseer.project.project_files``)."""
    from .project import project_files as named

    return named(workspace)


# -- sockets ------------------------------------------------------------------

MAX_SOCKET_SCAN = 5_000  # entries looked at per root


def _sockets_below(root: Path, depth: int) -> Iterator[Path]:
    todo = [(root, 0)]
    looked = 0
    while todo:
        d, level = todo.pop()
        try:
            with os.scandir(d) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            looked += 1
            if looked > MAX_SOCKET_SCAN:
                return
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISSOCK(st.st_mode):
                yield Path(e.path)
            elif stat.S_ISDIR(st.st_mode) and level + 1 < depth:
                todo.append((Path(e.path), level + 1))


def socket_roots() -> list[tuple[Path, int]]:
    """Where service sockets live, with how deep to look."""
    roots: list[tuple[Path, int]] = [(Path("/run"), 4), (Path("/tmp"), 2)]
    if not os.path.islink("/var/run"):
        roots.append((Path("/var/run"), 4))
    home = os.environ.get("HOME")
    if home and os.path.isdir(home):
        roots.append((Path(home), 3))
    return roots


# Where credentials live, relative to a home directory. Hidden whole.
SECRET_HOME_PATHS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".config/gh",
    ".config/hub",
    ".config/rclone",
    ".config/op",
    ".password-store",
    ".local/share/keyrings",
    ".terraform.d",
    ".vault-token",
    ".netrc",
    ".git-credentials",
    ".config/git/credentials",
    ".pypirc",
    ".npmrc",
    ".yarnrc.yml",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".pgpass",
    ".my.cnf",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
)


def _homes() -> list[Path]:
    """``$HOME`` and the account's own home directory (tests and tools
    often point ``HOME`` elsewhere; the real one still holds the keys)."""
    homes = []
    if os.environ.get("HOME"):
        homes.append(os.environ["HOME"])
    try:
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    return [Path(os.path.realpath(h)) for h in dict.fromkeys(homes) if os.path.isdir(h)]


def secret_paths() -> list[Path]:
    """Credential stores that exist here, to be hidden from sandboxed
    commands: ``SECRET_HOME_PATHS`` in each home, plus ``OVERSEER_SANDBOX_HIDE``."""
    candidates = [home / rel for home in _homes() for rel in SECRET_HOME_PATHS]
    extra = os.environ.get("OVERSEER_SANDBOX_HIDE", "")
    candidates += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    out = []
    for path in candidates:
        if os.path.lexists(path):
            out.append(Path(os.path.realpath(path)))
    return list(dict.fromkeys(out))


def hidden_dirs() -> list[Path]:
    """Directories hidden whole: the user's runtime dir (session bus,
    systemd user manager, gpg/ssh agents, Wayland, PipeWire)."""
    out = []
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        out.append(Path(os.path.realpath(xdg)))
    return out


def service_sockets(keep: Iterable[Path] = ()) -> list[Path]:
    """Socket files a sandboxed command could connect to, except those under
    ``keep`` (the workspace's own sockets stay usable) or hidden dirs."""
    skip = [Path(os.path.realpath(p)) for p in [*keep, *hidden_dirs()]]
    out = []
    for root, depth in socket_roots():
        for sock in _sockets_below(root, depth):
            real = Path(os.path.realpath(sock))
            if any(real == k or real.is_relative_to(k) for k in skip):
                continue
            out.append(real)
    return sorted(set(out))
