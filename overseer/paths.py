"""Where overseer keeps its own files: the audit DB, signing keys and config.

All of it lives outside any workspace (platformdirs user dirs), so an agent
working in a repository never has it under its feet. ``OVERSEER_HOME`` moves
everything under one directory (tests and CI use it); ``OVERSEER_LOG`` or
``--log`` moves just the DB.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "overseer"


def _home() -> Path | None:
    home = os.environ.get("OVERSEER_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def default_log_path() -> Path:
    env = os.environ.get("OVERSEER_LOG")
    if env:
        return Path(env).expanduser()
    return data_dir() / "audit.db"


def seal_key_path() -> Path:
    """The HMAC key of sessions sealed before signed checkpoints (and of the prune record)."""
    return config_dir() / "seal.key"


def signing_key_path() -> Path:
    """The Ed25519 key that signs checkpoints (secret, mode 0600)."""
    return config_dir() / "signing.key"


def verifier_key_path() -> Path:
    """Its public half, as a C2SP verifier key line (not secret)."""
    return config_dir() / "signing.vkey"


def seal_path_for(db_path: Path) -> Path:
    """The seal sidecar lives next to the DB file, never inside it."""
    return db_path.with_name(db_path.name + ".seals")


def protected_paths(db_path: Path | None = None) -> list[Path]:
    """Paths no tool may read or write, whatever the policy says."""
    db = (db_path or default_log_path()).expanduser()
    paths = [db, seal_path_for(db), Path(str(db) + "-wal"), Path(str(db) + "-shm")]
    # The keys sit in the config dir (protected as a whole) but are named too,
    # so that moving either directory can never leave the signing key exposed.
    paths += [config_dir(), data_dir(), signing_key_path(), seal_key_path()]
    return [p.resolve() if p.exists() else p.absolute() for p in paths]
