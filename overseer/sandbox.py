"""The command sandbox: bubblewrap detection and command wrapping.

Modes (``--sandbox``): ``auto`` uses bubblewrap when it works here and falls
back to no sandbox with a reason the session records once; ``bwrap`` insists
(an ``OverseerError`` when it cannot be used); ``none`` runs commands as they
are.

Inside the sandbox the whole file system is visible read-only
(``--ro-bind / /``, ``/tmp`` included), the workspace is bind-mounted
writable at its own path, each command gets a writable scratch directory as
``TMPDIR``, ``/dev`` (read-only, but a private writable ``/dev/shm``) and
``/proc`` are fresh, the process ids are private
(``--unshare-pid``: a command cannot signal or ptrace the overseer process
that records it), every capability is dropped (bwrap run as root keeps them
otherwise, and with CAP_SYS_ADMIN a command could remount ``/`` writable),
and the network is cut (``--unshare-net``) unless the policy allowed network
for that call. Five things are walled off on top (``overseer.sandbox_paths``):

- overseer's own files (audit DB, seals, key, config) are masked so not even
  a read reaches them (invariant 4; the policy denies them too, this is the
  second wall); the masks are read-only, so a write to them fails;
- git's internals in the workspace (``.git``, nested repositories'
  ``.git``, what a ``.git`` file points to) are read-only: code the agent
  wrote cannot plant a hook or a ``core.fsmonitor`` that the user's next
  ``git commit`` would run outside the sandbox;
- overseer's settings in the workspace (``overseer.toml``, the policy file
  and MCP server scripts it names) are read-only: the next session acts on
  them outside the sandbox;
- credential stores in the home directory (ssh and gpg keys, cloud tokens,
  ``.netrc``, histories) are hidden like overseer's files: test code the
  agent wrote could read a key and print it to the model;
- service sockets (Docker, systemd, tmux, X11, agents) are covered, and
  ``$XDG_RUNTIME_DIR`` is hidden: a read-only mount does not stop a
  ``connect``.

Because outside paths are the real ones, read-only, a command that removes
or writes one fails with "Read-only file system" instead of succeeding on a
private copy: the record and the model are not told a vacuous success.

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

import itertools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import OverseerError
from .sandbox_paths import git_paths, hidden_dirs, project_files, secret_paths, service_sockets
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


_PROBE_FLAGS = [
    "--cap-drop",
    "ALL",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-net",
    "--die-with-parent",
]


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
        reason=f"{why}: workspace writable (git internals read-only), rest read-only, "
        "no network unless allowed",
        protect=tuple(dict.fromkeys(paths)),
    )


def bwrap_prefix(
    sandbox: Sandbox,
    workspace: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    scratch: Path | None = None,
    git_commit: bool = False,
) -> list[str]:
    """The bwrap argv prefix for one command (empty when not sandboxed).

    ``writable`` are bound writable besides the workspace; ``readonly`` are
    bound read-only (a runtime file the command must not swap); ``scratch``
    is the command's writable temp dir (``TMPDIR``). ``git_commit`` keeps
    the workspace's git dir writable except its code (the git tools).

    Order matters: bwrap applies mounts in order, so the writable binds come
    first, then what must stay read-only inside them (git internals, runtime
    files), then the masks (a DB inside the workspace is still hidden).
    """
    if sandbox.name != "bwrap":
        return []
    exe = shutil.which("bwrap") or "bwrap"
    # / read-only, /tmp included: a path outside the workspace is the real
    # one, so removing or writing it fails instead of "succeeding" on a
    # private empty tmpfs.
    # /dev is the sandbox's own (device nodes only), read-only too: a file
    # written or removed there would vanish with the sandbox. /dev/shm stays
    # writable, private (POSIX semaphores and shared memory of test code).
    argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm"]
    argv += ["--remount-ro", "/dev", "--proc", "/proc"]
    ws = Path(os.path.realpath(workspace))
    binds = [ws, *(Path(os.path.realpath(p)) for p in writable)]
    if scratch is not None:
        binds.append(Path(os.path.realpath(scratch)))
    for p in binds:
        argv += ["--bind", str(p), str(p)]
    ro = [Path(os.path.realpath(p)) for p in readonly]
    ro += git_paths(ws, [Path(os.path.realpath(p)) for p in writable], commit=git_commit)
    ro += project_files(ws)
    for p in dict.fromkeys(ro):
        argv += ["--ro-bind", str(p), str(p)]
    keep = [*binds, *ro]
    hide = [*getattr(sandbox, "protect", ()), *hidden_dirs(), *secret_paths()]
    masks = [Path(os.path.realpath(p)) for p in hide]
    masks = [
        p for p in dict.fromkeys(masks) if not any(k == p or k.is_relative_to(p) for k in keep)
    ]
    hidden = [p for p in masks if p.is_dir()]
    for path in masks:
        if any(path != d and path.is_relative_to(d) for d in hidden):
            continue  # hidden with its directory, placeholder and all
        if path.is_dir():
            argv += _mask_dir(path)
        elif path.exists():
            # /dev/null on a nodev mount: opening it fails, and so does
            # removing it (a mount point).
            argv += ["--ro-bind", "/dev/null", str(path)]
    for sock in service_sockets(keep=binds):
        argv += ["--ro-bind", "/dev/null", str(sock)]
    # As root, bwrap keeps every capability unless told otherwise: with
    # CAP_SYS_ADMIN a command could remount / writable or lift a mask.
    argv += ["--cap-drop", "ALL", "--unshare-pid", "--unshare-ipc", "--die-with-parent"]
    if not network:
        argv.append("--unshare-net")
    tmp = str(Path(os.path.realpath(scratch))) if scratch is not None else None
    if tmp:
        argv += ["--setenv", "TMPDIR", tmp, "--setenv", "XDG_CACHE_HOME", tmp + "/.cache"]
    argv += ["--chdir", str(ws)]
    return argv


MAX_PLACEHOLDERS = 64  # entries of a hidden directory given a stand-in


def _mask_dir(path: Path) -> list[str]:
    """An empty read-only tmpfs over ``path``, with a stand-in for each entry
    the real directory holds (an empty directory, or /dev/null), so that
    removing or writing one fails ("busy", "read-only", "permission denied")
    instead of succeeding on nothing and vanishing with the sandbox."""
    argv = ["--tmpfs", str(path)]
    try:
        with os.scandir(path) as it:
            entries = list(itertools.islice(it, MAX_PLACEHOLDERS))
    except OSError:
        entries = []
    for e in sorted(entries, key=lambda e: e.name):
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            continue
        target = str(path / e.name)
        argv += ["--dir", target] if is_dir else ["--ro-bind", "/dev/null", target]
    return [*argv, "--remount-ro", str(path)]


def wrap_argv(
    argv: Sequence[str],
    sandbox: Sandbox,
    workspace: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    scratch: Path | None = None,
    git_commit: bool = False,
) -> list[str]:
    """``argv`` as it runs under ``sandbox`` (unchanged when not sandboxed)."""
    prefix = bwrap_prefix(
        sandbox,
        workspace,
        network=network,
        writable=writable,
        readonly=readonly,
        scratch=scratch,
        git_commit=git_commit,
    )
    return [*prefix, "--", *argv] if prefix else list(argv)
