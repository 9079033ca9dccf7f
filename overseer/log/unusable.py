"""Why an audit log path cannot be used, said in a few words.

SQLite reports a directory it cannot create a file in, a read-only file
system, a file it may not write and a full disk as "unable to open database
file", "attempt to write a readonly database" or "disk I/O error", with no
errno. The operating system knows the real cause: ``cause`` asks it about
the path (stat, access, statvfs — never opening the DB file itself, since
closing any descriptor of it would drop SQLite's locks in this process) and
names the first problem it finds, so every unusable log is one line saying
which path and why.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

ADVICE = "choose another path with --log or OVERSEER_LOG"

_ERRNO_WORDS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "not a directory",
    errno.EEXIST: "a file of that name is in the way",
    errno.EISDIR: "it is a directory",
}


def _nearest_existing(path: Path) -> tuple[Path, list[Path]]:
    """The closest ancestor of ``path`` known to exist, and the missing ones below it.

    An ancestor whose own directory cannot be searched cannot be stat'ed:
    the walk goes on upwards, so the probe then finds the unsearchable one."""
    missing: list[Path] = []
    here = path.parent
    while True:
        try:
            os.stat(here)
            return here, missing
        except FileNotFoundError:
            missing.append(here)
        except OSError:
            missing = []  # unknown below an unsearchable directory
        if here.parent == here:
            return here, missing
        here = here.parent


def _fs(directory: Path) -> os.statvfs_result | None:
    try:
        return os.statvfs(directory)
    except OSError:
        return None


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def probe(path: Path, *, full_hint: bool = False) -> str | None:
    """The first reason found that ``path`` cannot be opened for writing (None: none found)."""
    if _is_dir(path):
        return "it is a directory, not a file"
    anchor, missing = _nearest_existing(path)
    if not _is_dir(anchor):
        return f"{anchor} is not a directory"
    if not os.access(anchor, os.X_OK):
        return f"permission denied (cannot look inside {anchor})"
    fs = _fs(anchor)
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return f"the file system holding {anchor} is read-only"
    if fs is not None and fs.f_blocks == 0:
        # /proc, /sys and the like report no blocks at all: not "full", just not storage.
        return f"{anchor} is on a virtual file system that cannot hold files"
    if missing:
        if not os.access(anchor, os.W_OK):
            return f"permission denied (cannot create {missing[-1]} in {anchor})"
        return f"its directory {path.parent} does not exist"
    exists = os.path.lexists(path)
    if exists and not os.access(path, os.R_OK | os.W_OK):
        return f"permission denied (cannot read and write {path.name})"
    if not exists and not os.access(anchor, os.W_OK):
        return f"permission denied (cannot create files in {anchor})"
    if fs is not None:
        free = fs.f_bavail * fs.f_frsize
        if free == 0 or (full_hint and free < 1 << 20):
            return f"the disk is full ({free // 1024} KiB free on its file system)"
    return None


def cause(path: Path, exc: BaseException) -> str:
    """Why ``path`` is unusable as an audit log, from ``exc`` and a look at the path."""
    if isinstance(exc, OSError):
        found = probe(path, full_hint=exc.errno in (errno.ENOSPC, errno.EDQUOT))
        if found:
            return found
        words = _ERRNO_WORDS.get(exc.errno or 0) or exc.strerror or str(exc)
        where = Path(exc.filename) if exc.filename else None
        return words + (f" ({where})" if where is not None and where != path else "")
    name = getattr(exc, "sqlite_errorname", "") if isinstance(exc, sqlite3.Error) else ""
    full = name.startswith("SQLITE_FULL") or "disk is full" in str(exc)
    found = probe(path, full_hint=full or name.startswith("SQLITE_IOERR"))
    if found:
        return found
    if full:
        return "the disk is full (database or disk is full)"
    return str(exc) or type(exc).__name__


def unusable(path: Path, exc: BaseException, doing: str = "open") -> str:
    """The one-line message: which log, what we tried, why it failed, what to do."""
    return f"cannot {doing} the audit log {path}: {cause(path, exc)}; {ADVICE}"
