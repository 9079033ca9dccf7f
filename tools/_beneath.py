"""Open a path beneath a directory fd, never following a symlink.

The policy judges a file tool's path when the call is proposed; the tool acts
afterwards. Opening the path by name again would let a process that swaps a
directory for a symlink in between send an allowed write anywhere (issue 13:
7 of 10 allowed writes landed outside the workspace). So the file tools open
every path here, once, and then act only on the fds this module returns:

- the workspace directory is opened once per session (``workspace_root``);
- a path is walked from that fd with ``openat2(RESOLVE_BENEATH |
  RESOLVE_NO_SYMLINKS)`` (Linux >= 5.6), or, where openat2 is missing or
  refused, component by component with ``O_NOFOLLOW | O_DIRECTORY`` fds
  (``..`` goes back to the fd it came from, never above the root) and
  ``O_NOFOLLOW`` on the last component;
- missing parent directories are created through the same fds (``mkdirat``);
- a write is a temp file created in the parent's fd and ``renameat`` over the
  name: a symlink put in its place is replaced, never followed (``_fdops``,
  which also walks trees from an fd).

No symlink is followed, wherever it points: one pointing inside the workspace
could be re-pointed outside between the check and the open, and the policy
judged the path it resolved at the check. A refused symlink says so and names
its target, so the agent can use the real path.

Absolute paths that name the workspace are walked beneath the workspace fd;
other absolute paths (only reachable when the policy allowed or a person
approved them) beneath ``/``, with the same no-symlink rule, so what runs is
still the path that was judged. A relative path never leaves the workspace.

What is left: a directory *moved* (not replaced) out of the workspace while a
call holds its fd. Inside the sandbox that cannot happen (the workspace is its
own mount, and rename does not cross mounts); without one, a write checks
through ``/proc/self/fd`` that its directory is still beneath the root just
before it renames.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from overseer.toolapi import ToolContext

_SYS_OPENAT2 = 437  # the same number on every Linux architecture (the unified table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
_O_PATH = getattr(os, "O_PATH", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
# An intermediate directory: O_PATH where it exists (no read permission
# needed), never following a symlink.
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC
READ_FLAGS = os.O_RDONLY | _O_NONBLOCK | os.O_NOFOLLOW | _O_CLOEXEC
"""A file to read: non-blocking, so a FIFO cannot hang the tool."""
LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC
"""A directory to list (scandir needs a readable fd, not O_PATH)."""

FORCE_WALK = False
"""Tests set this to run the component-by-component walk instead of openat2."""


class PathRefused(Exception):
    """The path cannot be opened beneath its root; the message says why."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # errno.ENOENT, ELOOP, EXDEV, ENOTDIR...


# -- openat2 -------------------------------------------------------------------


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


_syscall: Any = None
_openat2_ok: bool | None = None
_probe_lock = threading.Lock()


def _raw_openat2(dir_fd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
    how = _OpenHow(flags, mode, resolve)
    fd = int(_syscall(_SYS_OPENAT2, dir_fd, path, ctypes.byref(how), ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def have_openat2() -> bool:
    """openat2 works here (probed once per process: a container's seccomp
    profile may refuse it even on a new kernel)."""
    global _openat2_ok, _syscall
    if FORCE_WALK:
        return False
    if _openat2_ok is None:
        with _probe_lock:
            if _openat2_ok is None:
                ok = False
                if sys.platform.startswith("linux") and _O_PATH:
                    try:
                        fn = ctypes.CDLL(None, use_errno=True).syscall
                        fn.restype = ctypes.c_long
                        fn.argtypes = [
                            ctypes.c_long,
                            ctypes.c_int,
                            ctypes.c_char_p,
                            ctypes.c_void_p,
                            ctypes.c_size_t,
                        ]
                        _syscall = fn
                        os.close(_raw_openat2(-100, b".", _O_PATH | _O_CLOEXEC, 0, _RESOLVE))
                        ok = True
                    except (OSError, AttributeError):
                        ok = False
                _openat2_ok = ok
    return _openat2_ok


def _openat2(dir_fd: int, rel: str, flags: int, mode: int) -> int:
    path = os.fsencode(rel or ".")
    for _ in range(8):
        try:
            return _raw_openat2(dir_fd, path, flags | _O_CLOEXEC, mode, _RESOLVE)
        except OSError as exc:
            # EAGAIN: a concurrent rename made the kernel unsure that a ".."
            # stayed beneath the root; trying again is what the man page says.
            if exc.errno != errno.EAGAIN:
                raise
    raise OSError(errno.EAGAIN, "the path kept changing while it was opened")


# -- roots -----------------------------------------------------------------------


@dataclass
class Root:
    """A directory every path of a call is walked from, opened once."""

    path: str  # resolved absolute path; "/" for the file system root
    fd: int
    name: str  # "the workspace" or "/"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def open_root(path: str | os.PathLike[str], name: str) -> Root:
    """Open a root directory (following symlinks: the root itself is trusted,
    and resolved once, here)."""
    real = os.path.realpath(os.fspath(path))
    fd = os.open(real, (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | _O_CLOEXEC)
    root = Root(real, fd, name)
    weakref.finalize(root, _close_quietly, fd)
    return root


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


_STATE_KEY = "overseer.files.roots"
_roots_lock = threading.Lock()


def workspace_root(ctx: ToolContext) -> Root:
    """The session's workspace fd: opened on first use and kept in the
    session's tool state, so every call of the session walks from the same
    directory, whatever happens to its name later."""
    return _root(ctx, "workspace", ctx.workspace, "the workspace")


def system_root(ctx: ToolContext) -> Root:
    return _root(ctx, "system", "/", "/")


def _root(ctx: ToolContext, key: str, path: str | os.PathLike[str], name: str) -> Root:
    with _roots_lock:
        roots: dict[str, tuple[str, Root]] = ctx.state.setdefault(_STATE_KEY, {})
        held = roots.get(key)
        if held is not None and held[0] == os.fspath(path):
            return held[1]
        try:
            root = open_root(path, name)
        except OSError as exc:
            raise PathRefused(f"cannot open {name} ({path}): {exc.strerror or exc}") from None
        roots[key] = (os.fspath(path), root)
        return root


# -- locating a path ---------------------------------------------------------------


@dataclass
class Target:
    """A path argument placed beneath a root: what gets opened."""

    root: Root
    parts: list[str]  # components below the root; "." and "" dropped, ".." kept
    shown: str  # how the tools name it: relative to the workspace, else absolute

    @property
    def rel(self) -> str:
        return "/".join(self.parts)

    @property
    def absolute(self) -> str:
        """The lexical absolute path (for messages and the protected-path filter)."""
        base = self.root.path.rstrip("/")
        return base + "/" + self.rel if self.parts else self.root.path


def locate(ctx: ToolContext, path: str) -> Target:
    """Place a path argument beneath the workspace fd (relative paths, and
    absolute ones naming the workspace) or beneath ``/`` (other absolute
    paths). Nothing is opened yet; ``..`` is left for the walk to judge,
    because undoing it by name would skip whatever it climbs out of."""
    if "\x00" in path:
        raise PathRefused("the path contains a NUL character", errno.EINVAL)
    text = os.path.expanduser(path) if path.startswith("~") else path
    parts = [p for p in text.split("/") if p not in ("", ".")]
    ws = workspace_root(ctx)
    if not text.startswith("/"):
        return Target(ws, parts, _shown(parts, None))
    # The workspace as resolved, or as the session spelled it.
    for spelling in dict.fromkeys((ws.path, os.path.abspath(ctx.workspace))):
        ws_parts = [p for p in spelling.split("/") if p]
        if parts[: len(ws_parts)] == ws_parts:
            rest = parts[len(ws_parts) :]
            return Target(ws, rest, _shown(rest, None))
    return Target(system_root(ctx), parts, _shown(parts, "/"))


def _shown(parts: list[str], prefix: str | None) -> str:
    # Lexical normalisation is only for display; the walk judges "..".
    out: list[str] = []
    for p in parts:
        if p == ".." and out and out[-1] != "..":
            out.pop()
        else:
            out.append(p)
    text = "/".join(out)
    if prefix is None:
        return text or "."
    return prefix + text


# -- opening ---------------------------------------------------------------------------


def open_at(target: Target, flags: int, mode: int = 0) -> int:
    """Open the target itself with ``flags`` (O_NOFOLLOW is added). Raises
    PathRefused with a message that names the symlink, the escape or the
    missing component."""
    try:
        return open_below(target.root.fd, target.parts, flags, mode)
    except OSError as exc:
        raise explain(target, exc) from None


def open_below(dir_fd: int, parts: list[str], flags: int, mode: int = 0) -> int:
    """Open ``parts`` (components, ".." allowed while it stays below) beneath
    ``dir_fd``, following no symlink; raises OSError (ELOOP for a symlink,
    EXDEV for a climb above ``dir_fd``)."""
    flags |= os.O_NOFOLLOW | _O_CLOEXEC
    if have_openat2():
        return _openat2(dir_fd, "/".join(parts), flags, mode)
    return _walk_open(dir_fd, parts, flags, mode)


def open_parent(target: Target, *, create: bool = False) -> tuple[int, str]:
    """The fd of the target's directory (created, with its missing parents,
    when ``create``) and the target's own name in it. The name is one plain
    component: never "", "." or ".."."""
    if not target.parts or target.parts[-1] == "..":
        raise PathRefused(f"{target.shown} names a directory, not a file", errno.EISDIR)
    name = target.parts[-1]
    parent = Target(target.root, target.parts[:-1], target.shown)
    try:
        if have_openat2():
            try:
                return _openat2(target.root.fd, parent.rel, _DIR_FLAGS, 0), name
            except OSError as exc:
                if not (create and exc.errno == errno.ENOENT):
                    raise
        return _walk_dirs(target.root.fd, parent.parts, create=create), name
    except OSError as exc:
        raise explain(parent, exc, whole=target.shown) from None


def _walk_open(dir_fd: int, parts: list[str], flags: int, mode: int) -> int:
    if not parts or parts[-1] == "..":
        # The directory itself ("." is never a symlink).
        parent = _walk_dirs(dir_fd, parts, create=False)
        try:
            return os.open(".", flags & ~os.O_NOFOLLOW, mode, dir_fd=parent)
        finally:
            os.close(parent)
    parent = _walk_dirs(dir_fd, parts[:-1], create=False)
    try:
        return os.open(parts[-1], flags, mode, dir_fd=parent)
    finally:
        os.close(parent)


def _walk_dirs(root_fd: int, parts: list[str], *, create: bool) -> int:
    """Walk directories from ``root_fd`` one component at a time, each opened
    with O_NOFOLLOW relative to the one before; returns a new fd."""
    stack: list[int] = []
    try:
        for part in parts:
            if part == "..":
                if not stack:
                    raise OSError(errno.EXDEV, "a '..' climbs above the root")
                os.close(stack.pop())
                continue
            at = stack[-1] if stack else root_fd
            try:
                fd = os.open(part, _DIR_FLAGS, dir_fd=at)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=at)
                fd = os.open(part, _DIR_FLAGS, dir_fd=at)
            stack.append(fd)
        return stack.pop() if stack else os.dup(root_fd)
    finally:
        for fd in stack:
            os.close(fd)


def explain(target: Target, exc: OSError, whole: str | None = None) -> PathRefused:
    """A one-line reason for a failed open: which component is a symlink (and
    where it points), that ``..`` leaves the root, or the plain OS error."""
    name = whole or target.shown
    code = exc.errno
    if code in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
        found = _diagnose(target)
        if found is not None:
            return found
    if code == errno.EXDEV:
        return PathRefused(_escape_message(name, target), code)
    if code == errno.ENOENT:
        return PathRefused(f"no such file or directory: {name}", code)
    if code == errno.ENOTDIR:
        return PathRefused(f"a component of {name} is not a directory", code)
    return PathRefused(f"cannot open {name}: {exc.strerror or exc}", code)


def _escape_message(name: str, target: Target) -> str:
    if target.root.path == "/":
        return f"{name} climbs above / with '..'"
    return (
        f"{name} leads out of the workspace through '..': a relative path is opened "
        "beneath the workspace only (give the absolute path of a file outside it)"
    )


def symlink_message(shown: str, link: str, target_text: str) -> str:
    return (
        f"{link} is a symbolic link (-> {target_text}); file tools never follow symlinks, "
        f"because a link can be re-pointed between the policy's check and the open: "
        f"use the path it points to instead of {shown}"
    )


def _diagnose(target: Target) -> PathRefused | None:
    """Find the first symlink or escaping '..' on the target's path, by the
    same fd walk (used only to word an error)."""
    stack: list[int] = []
    done: list[str] = []
    try:
        for part in target.parts:
            at = stack[-1] if stack else target.root.fd
            if part == "..":
                if not stack:
                    return PathRefused(_escape_message(target.shown, target), errno.EXDEV)
                os.close(stack.pop())
                done.append(part)
                continue
            done.append(part)
            try:
                st = os.stat(part, dir_fd=at, follow_symlinks=False)
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode):
                try:
                    points = os.readlink(part, dir_fd=at)
                except OSError:
                    points = "?"
                link = _shown(done, None if target.root.path != "/" else "/")
                return PathRefused(symlink_message(target.shown, link, points), errno.ELOOP)
            if not stat.S_ISDIR(st.st_mode):
                return None
            try:
                stack.append(os.open(part, _DIR_FLAGS, dir_fd=at))
            except OSError:
                return None
        return None
    finally:
        for fd in stack:
            os.close(fd)


__all__ = [
    "LIST_FLAGS",
    "READ_FLAGS",
    "PathRefused",
    "Root",
    "Target",
    "have_openat2",
    "locate",
    "open_at",
    "open_below",
    "open_parent",
    "workspace_root",
]
