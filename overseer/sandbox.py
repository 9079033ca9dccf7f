"""The command sandbox: bubblewrap detection and command wrapping.

Modes (``--sandbox``): ``auto`` uses bubblewrap when it works here and falls
back to no sandbox with a reason the session records once; ``bwrap`` insists
(an ``OverseerError`` when it cannot be used); ``none`` runs commands as they
are.

Inside the sandbox the whole file system is visible read-only
(``--ro-bind / /``), the workspace is bind-mounted writable at its own path,
``/tmp`` is a private tmpfs, ``/dev`` and ``/proc`` are fresh, the process
ids are private (``--unshare-pid``: a command cannot signal or ptrace the
overseer process that records it), and the network is cut
(``--unshare-net``) unless the policy allowed network for that call.
overseer's own files (audit DB, seals, key, config) are masked so not even a
read reaches them (invariant 4; the policy denies them too, this is the
second wall).

How the persistent shell and the sandbox combine (see
``overseer.tools.shell``): the persistent bash itself runs inside bwrap, so
cd, exports and functions persist as usual and each command costs no extra
process. A call the policy allowed network for runs in a second persistent
sandboxed shell started without ``--unshare-net``; before a command switches
shells, the working directory and exported variables are copied over, so the
agent sees one terminal.

Why a probe: bwrap may be installed but unusable (no unprivileged user
namespaces, a seccomp profile in a container); ``bwrap --ro-bind / / true``
with the flags we use tells us for sure, once per process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import OverseerError
from .toolapi import Sandbox

MODES = ("auto", "bwrap", "none")


@dataclass
class BwrapSandbox(Sandbox):
    """A bubblewrap sandbox. ``protect`` lists paths masked inside it."""

    name: str = "bwrap"
    protect: tuple[str, ...] = field(default_factory=tuple)


class SandboxUnavailable(OverseerError):
    """``--sandbox bwrap`` was asked for and bubblewrap cannot be used here."""

    exit_code = 2


_PROBE_FLAGS = ["--unshare-pid", "--unshare-ipc", "--unshare-net", "--die-with-parent"]


@lru_cache(maxsize=1)
def bwrap_status() -> tuple[bool, str]:
    """(usable, why): whether bubblewrap works here, with the reason if not."""
    exe = shutil.which("bwrap")
    if not exe:
        return False, "bubblewrap (bwrap) is not installed"
    argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *_PROBE_FLAGS, "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bwrap could not be started: {exc}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return False, "bwrap is installed but does not work here: " + (
            detail[-1] if detail else f"exit {proc.returncode}"
        )
    return True, f"bubblewrap at {exe}"


def default_protected() -> list[Path]:
    """overseer's own files that no sandboxed command may see."""
    from .paths import protected_paths

    return protected_paths()


def resolve_sandbox(mode: str = "auto", *, protect: Sequence[str | Path] = ()) -> Sandbox:
    """The sandbox a session uses for ``--sandbox MODE``.

    ``protect`` adds paths to mask (e.g. a ``--log`` path outside the default
    locations); the default audit DB, its seals and overseer's config and
    data directories are always masked.
    """
    if mode not in MODES:
        raise OverseerError(f"unknown sandbox mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "none":
        return Sandbox(name="none", reason="sandbox disabled (--sandbox none)")
    ok, why = bwrap_status()
    if not ok:
        if mode == "bwrap":
            raise SandboxUnavailable(
                f"--sandbox bwrap: {why}; install bubblewrap (apt-get install bubblewrap) "
                "or run with --sandbox auto or --sandbox none"
            )
        return Sandbox(name="none", reason=f"{why}; commands run unsandboxed")
    paths = [str(p) for p in default_protected()] + [
        str(Path(p).expanduser().absolute()) for p in protect
    ]
    for p in list(paths):
        if not p.endswith(("-wal", "-shm", ".seals")) and p.endswith(".db"):
            paths += [p + "-wal", p + "-shm", p + ".seals"]
    return BwrapSandbox(
        name="bwrap",
        reason=f"{why}: workspace writable, rest read-only, no network unless allowed",
        protect=tuple(dict.fromkeys(paths)),
    )


def _toolchain_under_tmp() -> list[str]:
    """Interpreter and PATH directories that live under /tmp (a checkout with
    its venv there): the private /tmp would hide them, so they come back
    read-only."""
    candidates = {
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *os.environ.get("PATH", "").split(os.pathsep),
    }
    out = set()
    for c in candidates:
        if c and os.path.isabs(c) and os.path.isdir(c):
            real = Path(c).resolve()
            if real.is_relative_to("/tmp"):
                out.add(str(real))
    return sorted(out)


def bwrap_prefix(
    sandbox: Sandbox,
    workspace: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
) -> list[str]:
    """The bwrap argv prefix for one command (empty when not sandboxed).

    Order matters: bwrap applies mounts in order, so the private ``/tmp`` comes
    before the workspace bind (a workspace under /tmp must stay visible) and
    the masks come last (a DB inside the workspace is still hidden).
    """
    if sandbox.name != "bwrap":
        return []
    exe = shutil.which("bwrap") or "bwrap"
    argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for p in _toolchain_under_tmp():
        argv += ["--ro-bind", p, p]
    for path in [workspace, *writable]:
        p = str(Path(path).resolve())
        argv += ["--bind", p, p]
    for path in readonly:
        p = str(Path(path).resolve())
        argv += ["--ro-bind", p, p]
    keep = [Path(x).resolve() for x in [workspace, *writable, *readonly]]
    for p in getattr(sandbox, "protect", ()):
        path = Path(p)
        if any(k == path.resolve() or k.is_relative_to(path.resolve()) for k in keep):
            continue  # masking a parent would hide the workspace itself
        if path.is_dir():
            argv += ["--tmpfs", str(path.resolve())]
        elif path.exists():
            argv += ["--ro-bind", "/dev/null", str(path.resolve())]
    argv += ["--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if not network:
        argv.append("--unshare-net")
    argv += ["--setenv", "XDG_CACHE_HOME", "/tmp/.cache", "--chdir", str(Path(workspace).resolve())]
    return argv


def wrap_argv(
    argv: Sequence[str],
    sandbox: Sandbox,
    workspace: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
) -> list[str]:
    """``argv`` as it runs under ``sandbox`` (unchanged when not sandboxed)."""
    prefix = bwrap_prefix(sandbox, workspace, network=network, writable=writable, readonly=readonly)
    return [*prefix, "--", *argv] if prefix else list(argv)
