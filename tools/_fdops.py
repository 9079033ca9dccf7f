"""Acting on fds that ``_beneath`` opened: replacing a file atomically in a
directory fd, walking a tree from an fd, and the small checks around them.

Nothing here resolves a path by name: every name is one component looked up
in a directory fd with no symlink followed (``O_NOFOLLOW``, ``renameat``
within one directory, ``fstatat(AT_SYMLINK_NOFOLLOW)``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator

from ._beneath import _O_CLOEXEC, LIST_FLAGS, PathRefused, Root


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """The entry's own stat (a symlink is reported as one), or None if absent."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def fd_path(fd: int) -> str | None:
    """Where the kernel says an fd's file is now (Linux), or None."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def still_beneath(dir_fd: int, root: Root) -> bool:
    """The directory has not been moved out from under the root (best effort:
    True where /proc is missing)."""
    where = fd_path(dir_fd)
    if where is None:
        return not os.path.isdir("/proc/self/fd")
    if root.path == "/":
        return True
    return where == root.path or where.startswith(root.path.rstrip("/") + "/")


def replace_at(
    dir_fd: int,
    name: str,
    data: bytes,
    *,
    root: Root,
    shown: str,
    keep_mode: int | None = None,
    expect: tuple[int, int] | None = None,
) -> None:
    """Write ``data`` as ``name`` in ``dir_fd`` atomically: a temp file in the
    same directory fd, then renameat over the name. ``keep_mode``: the
    permission bits of the file being replaced (new files get 0o666 less the
    umask). ``expect``: (st_dev, st_ino) the name must still be, so a file
    swapped during an edit is not overwritten."""
    fd = -1
    tmp = ""
    for _ in range(16):
        tmp = f".{name[:64]}.{secrets.token_hex(6)}.overseer-tmp"
        try:
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC,
                0o600 if keep_mode is not None else 0o666,
                dir_fd=dir_fd,
            )
            break
        except FileExistsError:
            continue
    if fd < 0:
        raise PathRefused(f"cannot create a temporary file next to {shown}", errno.EEXIST)
    renamed = False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if keep_mode is not None:
                os.fchmod(fd, keep_mode & 0o777)
        finally:
            os.close(fd)
        st = lstat_at(dir_fd, name)
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise PathRefused(
                    f"{shown} became a symbolic link while it was written; nothing was written",
                    errno.ELOOP,
                )
            if stat.S_ISDIR(st.st_mode):
                raise PathRefused(f"{shown} is a directory", errno.EISDIR)
        if expect is not None and (st is None or (st.st_dev, st.st_ino) != expect):
            raise PathRefused(
                f"{shown} was replaced by another process while it was edited; nothing was "
                "written (read it again)",
                errno.ESTALE,
            )
        if not still_beneath(dir_fd, root):
            raise PathRefused(
                f"the directory of {shown} was moved out of {root.name} while it was written; "
                "nothing was written",
                errno.EXDEV,
            )
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        renamed = True
    finally:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)


MAX_DEPTH = 64
"""Directory levels ``walk`` descends at most."""


def walk(
    dir_fd: int, skip_dir: Callable[[str], bool] = lambda _name: False
) -> Iterator[tuple[str, int, list[str]]]:
    """Every directory below ``dir_fd`` (itself first, then depth first in
    name order): (path relative to it, an fd valid until the next step, the
    names of its regular files). Each directory is opened from its parent's
    fd with O_NOFOLLOW; symlinks are skipped, never followed. At most
    MAX_DEPTH levels, and as many fds open as levels."""
    top = os.open(".", LIST_FLAGS, dir_fd=dir_fd)
    try:
        yield from _visit("", top, skip_dir, 0)
    finally:
        os.close(top)


def _visit(
    rel: str, fd: int, skip_dir: Callable[[str], bool], depth: int
) -> Iterator[tuple[str, int, list[str]]]:
    try:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    files: list[str] = []
    subdirs: list[str] = []
    for e in entries:
        try:
            if e.is_symlink():
                continue
            if e.is_dir(follow_symlinks=False):
                if not skip_dir(e.name):
                    subdirs.append(e.name)
            elif e.is_file(follow_symlinks=False):
                files.append(e.name)
        except OSError:
            continue
    yield rel, fd, files
    if depth >= MAX_DEPTH:
        return
    for name in subdirs:
        try:
            sub = os.open(name, LIST_FLAGS, dir_fd=fd)
        except OSError:
            continue  # became a symlink, vanished, unreadable: not followed
        try:
            yield from _visit(f"{rel}/{name}" if rel else name, sub, skip_dir, depth + 1)
        finally:
            os.close(sub)


@contextlib.contextmanager
def opened(fd: int) -> Iterator[int]:
    """Close an fd when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"
