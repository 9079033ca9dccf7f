"""A throwaway PostgreSQL cluster for the team-store tests.

One cluster per test process (pytest-xdist workers each get their own, in
their own temp dir, on a Unix socket: no port is shared), a fresh database
per test. PostgreSQL refuses to run as root, and CI runs as root, so the
server runs as the ``postgres`` system user there. A cluster that cannot
start fails the tests that need it: they are never skipped.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _server_bin() -> Path:
    """The newest PostgreSQL server Debian installed (15 on bookworm; whichever
    version the ``postgresql`` package brings elsewhere)."""
    if os.environ.get("OVERSEER_TEST_PG_BIN"):
        return Path(os.environ["OVERSEER_TEST_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _server_bin()


def _as_server_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


class Cluster:
    """initdb + pg_ctl in a temp dir; ``url(db)`` names a database in it."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(
                f"PostgreSQL server binaries not found in {PG_BIN}: install Debian's "
                "postgresql package (`make setup` does as root)"
            )
        server_user = None
        if os.geteuid() == 0:
            try:
                server_user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(
                    "running as root but there is no `postgres` system user to run the "
                    "server as: install Debian's postgresql package (`make setup` does)"
                )
        # As root the cluster lives under /tmp: the server runs as `postgres`,
        # which may not be able to reach into root's own TMPDIR.
        where = os.environ.get("OVERSEER_TEST_PG_DIR") or ("/tmp" if server_user else None)
        self.root = Path(tempfile.mkdtemp(prefix="ovpg-", dir=where))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.logfile = self.root / "server.log"
        self._names = itertools.count(1)
        if server_user is not None:
            os.chown(self.root, server_user.pw_uid, server_user.pw_gid)
        self._run(
            PG_BIN / "initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.start()

    def _run(self, *args: object) -> None:
        cmd = [*_as_server_user(), *map(str, args)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if res.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            pytest.fail(f"{' '.join(cmd)} failed: {res.stderr or res.stdout}\n{log[-2000:]}")

    def start(self) -> None:
        opts = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c max_connections=100"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-o", opts, "-w", "start")

    def stop(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}"

    def new_database(self) -> str:
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            cmd = [*_as_server_user(), str(PG_BIN / "pg_ctl"), "-D", str(self.data)]
            subprocess.run([*cmd, "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
