"""overseer's signing key and the verifier keys a verification trusts.

The Ed25519 signing key is created on first use in the config directory
(``signing.key``, mode 0600, O_EXCL so two processes never both create one),
with the public verifier key written beside it (``signing.vkey``). Its name
defaults to ``overseer-<user>@<host>``. The agent can never reach either:
both are among overseer's protected paths.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from pathlib import Path

from ..errors import LogError, UsageError
from ..paths import signing_key_path, verifier_key_path
from .note import NoteError, Signer, Verifier


def default_name() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry: still a usable name
        user = str(os.getuid())
    # C2SP key names may not contain spaces or '+'.
    return re.sub(r"[\s+]", "-", f"overseer-{user}@{socket.gethostname()}")


def load_signer(
    *, create: bool = True, name: str | None = None, path: Path | None = None
) -> Signer | None:
    """The local signing key; created (named ``name`` or the default) if
    missing and ``create``. A key that exists under another name than a
    ``name`` asked for is an error, not a silent rename."""
    path = path or signing_key_path()
    try:
        signer = _read(path)
    except FileNotFoundError:
        if not create:
            return None
        signer = _create(path, name or default_name())
    if name is not None and signer.name != name:
        raise UsageError(
            f"the signing key {path} is named {signer.name!r}, not {name!r}; "
            "a key keeps its name (move the file aside to start a new key — "
            "keep its verifier key to check what it signed)"
        )
    return signer


def _read(path: Path) -> Signer:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise LogError(f"cannot read the signing key {path}: {exc.strerror or exc}") from exc
    try:
        return Signer.parse(text)
    except NoteError as exc:
        raise LogError(f"signing key {path} is corrupt ({exc}); restore it from a backup") from exc


def _create(path: Path, name: str) -> Signer:
    try:
        signer = Signer.generate(name)
    except NoteError as exc:
        raise UsageError(f"cannot name a key {name!r}: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)  # another process made it first: use theirs
    except OSError as exc:
        raise LogError(f"cannot create the signing key {path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(signer.skey + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    vkey = verifier_key_path() if path == signing_key_path() else path.with_suffix(".vkey")
    try:
        vkey.write_text(signer.verifier.vkey + "\n")
    except OSError:
        pass  # the public key can always be derived again from the private one
    return signer


def local_verifier() -> Verifier | None:
    """This machine's own verifier key, if it has a signing key."""
    try:
        return Verifier.parse(verifier_key_path().read_text(encoding="utf-8").strip())
    except (OSError, NoteError, UnicodeDecodeError):
        pass
    signer = load_signer(create=False)
    return signer.verifier if signer else None


def parse_trusted(specs: tuple[str, ...] | list[str]) -> list[Verifier]:
    """``--key`` values: each a verifier key string, or a file of such lines
    (blank lines and ``#`` comments skipped). A bad key is a usage error."""
    out: list[Verifier] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if "+" not in spec and not path.is_file():
            raise UsageError(f"--key {spec!r} is neither a verifier key (NAME+ID+KEY) nor a file")
        if "+" in spec and not path.is_file():
            out.append(_parse_one(spec, "--key"))
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read key file {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise UsageError(f"key file {path} is not UTF-8 text") from exc
        lines = [ln.strip() for ln in text.splitlines()]
        keys = [
            _parse_one(ln, f"{path}:{i}")
            for i, ln in enumerate(lines, 1)
            if ln and not ln.startswith("#")
        ]
        if not keys:
            raise UsageError(f"key file {path} holds no verifier key")
        out += keys
    return out


def _parse_one(text: str, where: str) -> Verifier:
    try:
        return Verifier.parse(text)
    except NoteError as exc:
        raise UsageError(f"{where}: not a usable verifier key: {exc}") from exc


def trusted_here(given: list[Verifier]) -> tuple[list[Verifier], str]:
    """The keys a verification of this machine's log trusts: its own verifier
    key and any given with ``--key``; and a word for where they came from."""
    own = local_verifier()
    verifiers = ([own] if own else []) + list(given)
    if given:
        return verifiers, "given"
    return verifiers, "local" if own else "none"
