"""Path handling for the policy: resolution against the workspace, workspace
confinement and the path globs rules use.

Every path a rule or the confinement check sees is *resolved*: relative paths
are joined to the workspace, ``~`` is expanded, ``..`` is normalised and
symlinks are followed (``os.path.realpath``). A symlink inside the workspace
that points outside it therefore counts as outside, which is the point.

Globs (``paths``, ``reads``, ``writes`` in a rule):

- ``{workspace}`` is the resolved workspace, ``{home}`` and a leading ``~`` the
  user's home directory; a pattern that is not absolute after that is taken
  relative to the workspace (``tests/**`` means ``{workspace}/tests/**``).
- ``*`` matches within one path component, ``?`` one character of it,
  ``[abc]`` / ``[!abc]`` a character class, ``**`` any number of components
  (``a/**`` matches ``a`` itself and everything below it; ``**/x`` matches
  ``x`` at any depth, including directly at the start).
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable
from functools import lru_cache

from ..paths import protected_paths

_GLOB_CHARS = frozenset("*?[")


def home_dir() -> str:
    return os.path.realpath(os.path.expanduser("~"))


def resolve(value: str, workspace: str) -> str:
    """``value`` (as a command or tool would use it) as an absolute, resolved path.

    ``workspace`` must already be resolved. Raises ValueError for values no
    file system accepts (NUL bytes); callers treat that as "cannot check".
    """
    if "\x00" in value:
        raise ValueError("path contains a NUL character")
    if value and value[0] not in "/~" and ".." not in value:
        # Fast path for the common case, a plain path below the workspace:
        # only the components below the (already resolved) workspace can be
        # symlinks, and below the first missing component nothing can be.
        cur = workspace.rstrip("/")
        parts = [p for p in value.split("/") if p and p != "."]
        for i, part in enumerate(parts):
            cur = f"{cur}/{part}"
            try:
                mode = os.lstat(cur).st_mode
            except (FileNotFoundError, NotADirectoryError):
                rest = parts[i + 1 :]
                return cur + ("/" + "/".join(rest) if rest else "")
            if stat.S_ISLNK(mode):
                return os.path.realpath(os.path.join(workspace, value))
        return cur or "/"
    if value.startswith("~"):
        if value[1:2] in ("+", "-") or value[1:2].isdigit():
            # ~+ is $PWD, ~- is $OLDPWD, ~N the directory stack: the shell's
            # state decides, and it may be anywhere.
            raise ValueError("~+, ~- and ~N name a directory only the shell knows")
        p = os.path.expanduser(value)
    else:
        p = value
    if not os.path.isabs(p):
        p = os.path.join(workspace, p)
    if p.startswith(_OWN_PROCESS) or posixpath.normpath(p).startswith(_OWN_PROCESS):
        # /proc/self is whichever process opens it: resolved here it is
        # overseer's cwd and descriptors, not the command's.
        raise ValueError("/proc/self, /dev/fd and /dev/std* name the command's own process")
    return os.path.realpath(p)


_OWN_PROCESS = (
    "/proc/self/",
    "/proc/thread-self/",
    "/dev/fd/",
    "/dev/std",
    "/proc/self",
    "/dev/fd",
)


MAX_LINK_SCAN = 20_000
"""Entries looked at when a program follows symlinks through a directory."""


def links_outside(path: str, root: str) -> str | None:
    """A symlink below directory ``path`` that leads outside ``root`` (a program
    that follows links, like ``grep -R``, reads through it), or None. Raises
    ValueError when the tree is too large to check."""
    if not os.path.isdir(path) or os.path.islink(path):
        return None
    seen = 0
    stack = [path]
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                seen += 1
                if seen > MAX_LINK_SCAN:
                    raise ValueError(f"{path} holds too many files to look for symlinks")
                try:
                    if e.is_symlink():
                        target = os.path.realpath(e.path)
                        if not inside(target, root):
                            return e.path
                    elif e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                except OSError:
                    continue
    return None


def inside(path: str, root: str) -> bool:
    """``path`` is ``root`` or below it (both resolved)."""
    if root == "/":
        return True
    return path == root or path.startswith(root + "/")


def resolve_workspace(workspace: os.PathLike[str] | str) -> str:
    return os.path.realpath(os.fspath(workspace))


def is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def expand_placeholders(pattern: str, workspace: str) -> str:
    """Apply ``{workspace}``, ``{home}`` and ``~`` and make the pattern absolute."""
    p = pattern.replace("{workspace}", workspace).replace("{home}", home_dir())
    if p == "~" or p.startswith("~/"):
        p = home_dir() + p[1:]
    if not p.startswith("/"):
        p = workspace.rstrip("/") + "/" + p
    # Normalise "..", "." and duplicate slashes; normpath keeps glob characters.
    p = posixpath.normpath(p)
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    # Resolve the literal leading directories, so that a pattern under a
    # symlinked directory (e.g. /tmp on macOS) compares with resolved paths.
    parts = p.split("/")
    fixed: list[str] = []
    for part in parts[1:]:
        if is_glob(part) or "{" in part:
            break
        fixed.append(part)
    if fixed:
        head = "/" + "/".join(fixed)
        real = os.path.realpath(head)
        rest = parts[1 + len(fixed) :]
        p = real if not rest else real.rstrip("/") + "/" + "/".join(rest)
    return p


def glob_to_regex(pattern: str) -> str:
    """Translate an absolute glob (already expanded) into a full-match regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                before_sep = i == 0 or pattern[i - 1] == "/"
                after = pattern[i + 2 : i + 3]
                if before_sep and after == "/":
                    # "**/" : zero or more whole components.
                    out.append("(?:[^/]*/)*")
                    i += 3
                    continue
                if before_sep and after == "" and out and out[-1] == "/":
                    # trailing "/**": the directory itself or anything below it.
                    out[-1] = "(?:/.*)?"
                    i += 2
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        elif c == "/":
            out.append("/")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str, workspace: str) -> re.Pattern[str]:
    """A compiled matcher for one rule glob in one workspace."""
    absolute = expand_placeholders(pattern, workspace)
    if absolute != "/":
        absolute = absolute.rstrip("/")
    return re.compile(glob_to_regex(absolute))


def check_glob(pattern: str) -> None:
    """Raise ValueError when a rule glob cannot be used (checked at load)."""
    if not pattern:
        raise ValueError("empty path glob")
    if "\x00" in pattern:
        raise ValueError("path glob contains a NUL character")
    re.compile(glob_to_regex(expand_placeholders(pattern, "/workspace")))


def any_match(globs: Iterable[re.Pattern[str]], path: str) -> bool:
    return any(g.fullmatch(path) for g in globs)


_PROTECTED_CACHE: tuple[tuple[str | None, str | None], tuple[str, ...]] | None = None


def protected() -> tuple[str, ...]:
    """overseer's own files (audit DB, seals, keys, config), resolved.

    Cached on the environment variables that move them, so a test (or a
    session) that sets OVERSEER_HOME sees its own paths.
    """
    global _PROTECTED_CACHE
    key = (os.environ.get("OVERSEER_HOME"), os.environ.get("OVERSEER_LOG"))
    cached = _PROTECTED_CACHE
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        paths = tuple(os.path.realpath(p) for p in protected_paths())
    except Exception:  # a broken environment must not break decisions
        paths = ()
    _PROTECTED_CACHE = (key, paths)
    return paths


_SETS_CACHE: tuple[tuple[str, ...], frozenset[str], tuple[str, ...]] | None = None


def protected_sets() -> tuple[frozenset[str], tuple[str, ...]]:
    """(exact paths, directory prefixes ending in "/") for fast checks."""
    global _SETS_CACHE
    paths = protected()
    cached = _SETS_CACHE
    if cached is None or cached[0] is not paths:
        cached = (paths, frozenset(paths), tuple(p.rstrip("/") + "/" for p in paths))
        _SETS_CACHE = cached
    return cached[1], cached[2]


def is_protected(path: str) -> bool:
    exact, dirs = protected_sets()
    return path in exact or path.startswith(dirs)


_PATH_DIRS_CACHE: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def workspace_path_dirs(env_path: str, workspace: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the directories of ``env_path`` inside ``workspace``, resolved — an
    activated ``.venv/bin``; its relative entries — ``.``, an empty one)."""
    key = (env_path, workspace)
    hit = _PATH_DIRS_CACHE.get(key)
    if hit is None:
        found: list[str] = []
        relative: list[str] = []
        for d in env_path.split(":"):
            if not d.startswith("/"):
                relative.append(d or ".")
                continue
            real = os.path.realpath(d)
            if inside(real, workspace) and real not in found:
                found.append(real)
        hit = (tuple(found), tuple(relative))
        if len(_PATH_DIRS_CACHE) > 64:
            _PATH_DIRS_CACHE.clear()
        _PATH_DIRS_CACHE[key] = hit
    return hit


def path_shadow(
    name: str, dirs: tuple[tuple[str, ...], tuple[str, ...]], bases: Iterable[str] = ()
) -> str | None:
    """The file a bare program name runs when a ``PATH`` directory inside the
    workspace holds one by that name (the agent may have put it there), or
    None. ``dirs`` is ``workspace_path_dirs``; a relative ``PATH`` entry is
    looked up from each of ``bases`` (the directories the shell may be in)."""
    inside_dirs, relative = dirs
    candidates = [f"{d}/{name}" for d in inside_dirs]
    candidates += [os.path.join(b, d, name) for d in relative for b in bases]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.realpath(candidate)
    return None


def enclosing_repository(path: str) -> str | None:
    """The directory holding the ``.git`` git finds from ``path`` (searching
    upwards, as git does), or None."""
    cur = path
    for _ in range(64):
        if os.path.lexists(cur + "/.git"):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent
    return None
