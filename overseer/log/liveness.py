"""Whether a session's owning process still lives: a session left 'running'
by a process that died (killed, crashed, power lost) reads 'interrupted'."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading

from .base import iso


def proc_start(pid: int) -> str | None:
    """The kernel's start time of a process: with the pid it names a process
    uniquely, so a reused pid is not mistaken for the session's owner."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
        return data.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    current = proc_start(pid)
    return current is None or start is None or current == start


def mark_interrupted(conn: sqlite3.Connection, lock: threading.RLock) -> None:
    """Sessions still 'running' whose owning process is gone are 'interrupted'."""
    host = socket.gethostname()
    try:
        rows = conn.execute(
            "SELECT id, owner_pid, owner_host, owner_start FROM sessions WHERE status='running'"
        ).fetchall()
    except sqlite3.Error:
        return
    for sid, pid, owner_host, start in rows:
        if owner_host == host and not alive(pid, start):
            try:
                with lock:
                    conn.execute(
                        "UPDATE sessions SET status='interrupted', ended=? WHERE id=? AND status='running'",
                        (iso(), sid),
                    )
            except sqlite3.Error:
                return  # read-only file: status is still derived on the fly by readers
