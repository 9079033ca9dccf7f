"""Running one-off subprocesses (git, test commands) with a time limit and
bounded output.

The process runs in its own process group so a timeout kills everything it
started (a test runner's workers too), output is read in chunks into a
``BoundedOutput`` and streamed as it arrives, and the call returns within
the time limit plus a short grace whatever the child does.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._output import BoundedOutput


@dataclass
class ProcResult:
    exit_code: int | None
    out: BoundedOutput
    duration_ms: int
    timed_out: bool = False
    not_found: str | None = None  # the program that could not be started
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.out.text()


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def run_bounded(
    argv: Sequence[str],
    cwd: Path,
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    stream: Callable[[str], None] | None = None,
    out: BoundedOutput | None = None,
    stdin_data: bytes | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcResult:
    """Run ``argv`` with stdout and stderr combined; never raises for a bad program.
    ``pass_fds``: open fds the child inherits (the search hands ripgrep files
    it opened itself)."""
    out = out if out is not None else BoundedOutput()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        out.feed(f"cannot run {argv[0]}: {exc.strerror or exc}\n".encode())
        return ProcResult(127, out, int((time.monotonic() - start) * 1000), not_found=argv[0])
    if stdin_data is not None and proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin_data)
        proc.stdin.close()
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = start + timeout if timeout else None
    timed_out = False
    drain_until: float | None = None  # set once the child exited: grandchildren may hold the pipe
    decoder = _StreamDecoder(stream) if stream else None
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                if timed_out:
                    _kill_group(proc, signal.SIGKILL)
                    break
                timed_out = True
                _kill_group(proc, signal.SIGTERM)
                # The group gets a moment to exit cleanly, then it is killed.
                deadline = now + 1.0
                continue
            if drain_until is None and proc.poll() is not None:
                drain_until = now + 0.5
            if drain_until is not None and now >= drain_until:
                break
            limits = [t for t in (deadline, drain_until) if t is not None]
            wait = min(0.2, *(t - now for t in limits)) if limits else 0.2
            if not sel.select(timeout=max(0.0, wait)):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            out.feed(chunk)
            if decoder:
                decoder.feed(chunk)
    finally:
        sel.close()
        proc.stdout.close()
    try:
        rc = proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        _kill_group(proc, signal.SIGKILL)
        rc = proc.wait()
    if timed_out:
        # Whatever the child left behind in its group goes too.
        _kill_group(proc, signal.SIGKILL)
    if decoder:
        decoder.flush()
    return ProcResult(rc, out, int((time.monotonic() - start) * 1000), timed_out=timed_out)


class _StreamDecoder:
    """Turns byte chunks into text for ``ctx.stream`` without splitting a
    multi-byte character, and stops streaming after a cap (the UI does not
    need 100 MB; the bounded output keeps head and tail anyway)."""

    CAP = 2 * 1024 * 1024

    def __init__(self, stream: Callable[[str], None]) -> None:
        import codecs

        self.stream = stream
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.sent = 0
        self.stopped = False

    def feed(self, chunk: bytes) -> None:
        if self.stopped:
            return
        self.sent += len(chunk)
        text = self.decoder.decode(chunk)
        if self.sent > self.CAP:
            self.stopped = True
            text += (
                "\n[... streaming stopped; the output continues and is kept as head and tail ...]\n"
            )
        if text:
            with contextlib.suppress(Exception):  # a broken viewer must not break the tool
                self.stream(text)

    def flush(self) -> None:
        if not self.stopped:
            text = self.decoder.decode(b"", final=True)
            if text:
                with contextlib.suppress(Exception):
                    self.stream(text)


StreamDecoder = _StreamDecoder
