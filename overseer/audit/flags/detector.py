"""``FlagDetector``: a session's events, fed in order, turned into flags —
pure bookkeeping over events (plus file contents handed to it), so the
same code runs live (``observer``) and over a recorded session (``detect``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ...report import COUNT_KEYS
from ..testdiff import diff_lines, kind_of, snippet_weakening, weakening
from .claims import BISECT_OUT, judge_claims
from .model import CONTENT_KEYS, NEW_KEYS, OLD_KEYS, PATH_KEYS, WRITE_TOOLS, Flag, first
from .novelty import novel_flags

_RUN_SEQ = re.compile(r"\bat seq (\d+)\b")

_TEST_COMMAND = re.compile(
    r"(^|[\s;&|(/])(pytest|py\.test|tox|nox|unittest|ctest|rspec|jest|vitest|mocha|phpunit)\b|"
    r"\b(make\s+(test|check)|(npm|yarn|pnpm)\s+(run\s+)?test|go\s+test|cargo\s+test|mvn\s+\S*\s*test|"
    r"gradle\w*\s+test|python3?\s+-m\s+(pytest|unittest))\b"
)


class FlagDetector:
    """Turns a session's events, fed in order, into flags.

    ``read(path)`` returns a file's current content (None when absent or
    unknown); ``before(path)`` its content when the session started (from
    the session's git snapshot); ``history()`` the tools and programs seen
    in earlier sessions of the workspace (None: no earlier session).
    """

    def __init__(
        self,
        workspace: str | Path | None = None,
        *,
        read: Callable[[Path], str | None] | None = None,
        before: Callable[[Path], str | None] | None = None,
        history: Callable[[], tuple[set[str], set[str]] | None] | None = None,
    ) -> None:
        self.workspace = Path(workspace) if workspace else None
        self._read = read or (lambda _p: None)
        self._before = before or (lambda _p: None)
        self._history_fn = history
        self._history: tuple[set[str], set[str]] | None = None
        self._history_loaded = False
        self.contents: dict[Path, str | None] = {}  # last known content per file
        self.origins: dict[Path, str | None] = {}  # content at the start (or first seen)
        self.snapshots: dict[
            tuple[str, Path], str | None
        ] = {}  # (call, path) -> content before it ran
        self.analyzed: set[tuple[str | None, Path]] = set()
        self.calls: dict[str, dict[str, Any]] = {}  # call_id -> {tool, args, seqs, decided}
        self.seen_novel: set[str] = set()
        self.test_runs: list[tuple[int, bool, str]] = []  # (seq, passed, output)
        self.test_counts: dict[int, dict[str, int]] = {}  # seq -> passed, failed, skipped...
        self.bisect_found: list[tuple[int, str]] = []
        self.changes: list[int] = []  # seqs of file changes and successful writes
        self.changed: list[str | None] = []  # their paths (None: unknown, e.g. a commit)
        self.finished: list[int] = []
        self.claims_done = False

    # -- paths --------------------------------------------------------------

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        if not p.is_absolute() and self.workspace is not None:
            p = self.workspace / p
        return p

    def rel(self, p: Path) -> str:
        if self.workspace is not None:
            try:
                return p.relative_to(self.workspace).as_posix()
            except ValueError:
                pass
        return p.as_posix()

    def watched(self, tool: str, args: Any) -> Path | None:
        """The test-related file a write/edit action touches (None: not one)."""
        if tool not in WRITE_TOOLS:
            return None
        path = first(args, PATH_KEYS)
        if not isinstance(path, str):
            return None
        p = self.resolve(path)
        return p if kind_of(self.rel(p)) else None

    # -- live content hand-off ----------------------------------------------

    def note_before(self, call_id: str, path: Path, content: str | None) -> None:
        self.snapshots[(call_id, path)] = content

    def note_after(self, call_id: str, path: Path, content: str | None, seq: int) -> list[Flag]:
        return self._analyze(call_id, path, content, seq=seq, known_after=True)

    # -- feeding events ---------------------------------------------------------

    def feed(self, seq: int, kind: str, p: dict[str, Any]) -> list[Flag]:
        cid = p.get("call_id")
        call = self.calls.get(str(cid)) if cid is not None else None
        if kind == "action_proposed":
            self.calls[str(cid)] = {
                "tool": p.get("tool"),
                "args": p.get("args"),
                "seqs": [seq],
                "decided": {},
            }
            return []
        if call is not None and kind in (
            "policy_decided",
            "approval_decided",
            "action_started",
            "action_finished",
        ):
            call["seqs"].append(seq)
        if kind == "policy_decided" and call is not None:
            call["decided"] = p
            return self._novel(str(cid), call)
        if kind == "action_started" and call is not None:
            call["args"] = p.get("args", call["args"])
            return []
        if kind == "action_finished":
            return self._finished(seq, p, str(cid) if call is not None else None)
        if kind == "file_changed":
            return self._file_changed(seq, p)
        return []

    def _finished(self, seq: int, p: dict[str, Any], cid: str | None) -> list[Flag]:
        call = self.calls.get(cid) if cid is not None else None
        status = p.get("status")
        if status in ("denied", "edited", "invalid", "terminated"):
            return []
        self.finished.append(seq)
        tool = str(p.get("tool") or (call or {}).get("tool") or "")
        args = (call or {}).get("args")
        data = p.get("data") or {}
        output = str(p.get("output") or "")
        if tool == "run_tests" or (
            tool == "shell" and _TEST_COMMAND.search(str(first(args, ("command",)) or ""))
        ):
            outcome = str(data.get("outcome") or "").lower()
            passed = outcome in ("passed", "pass", "ok", "success") if outcome else status == "ok"
            if data.get("failed"):
                passed = False
            # The failures' texts (from JUnit XML) hold the assertion reports
            # even when the output was cut to its head and tail.
            failures = [
                str(f.get("text") or "") for f in data.get("failures") or [] if isinstance(f, dict)
            ]
            self.test_runs.append((seq, passed, "\n".join([output, *failures])))
            counts = {k: data[k] for k in COUNT_KEYS if isinstance(data.get(k), int)}
            if counts:
                self.test_counts[seq] = counts
        if (
            tool == "bisect"
            and isinstance(data.get("first_bad"), dict)
            and data["first_bad"].get("sha")
        ):
            self.bisect_found.append((seq, str(data["first_bad"]["sha"])))
        for sha in BISECT_OUT.findall(output):
            self.bisect_found.append((seq, sha))
        if status == "ok" and (tool in WRITE_TOOLS or tool == "git_commit"):
            self.changes.append(seq)
            wrote = first(args, PATH_KEYS) if tool in WRITE_TOOLS else None
            self.changed.append(self.rel(self.resolve(wrote)) if isinstance(wrote, str) else None)
        path = self.watched(tool, args) if status == "ok" else None
        if path is None or cid is None or (cid, path) in self.analyzed:
            return []
        # Offline (or when the file could not be read live): judge from the args.
        if tool == "write_file":
            content = first(args, CONTENT_KEYS)
            return self._analyze(
                cid,
                path,
                content if isinstance(content, str) else None,
                seq=seq,
                known_after=isinstance(content, str),
            )
        old, new = first(args, OLD_KEYS), first(args, NEW_KEYS)
        if isinstance(old, str) and isinstance(new, str):
            before = self.snapshots.get((cid, path), self.contents.get(path))
            if before is not None and old in before:
                return self._analyze(
                    cid, path, before.replace(old, new, 1), seq=seq, known_after=True
                )
            self.analyzed.add((cid, path))
            found = snippet_weakening(self.rel(path), old, new, runs=self._runs())
            return self._reward_flag(cid, path, found.reasons, found.details, [seq])
        return []

    def _file_changed(self, seq: int, p: dict[str, Any]) -> list[Flag]:
        if p.get("change") == "ref":
            return []
        self.changes.append(seq)
        path = p.get("path")
        if not isinstance(path, str):
            self.changed.append(None)
            return []
        full = self.resolve(path)
        self.changed.append(self.rel(full))
        cid = p.get("call_id")
        cid = str(cid) if cid is not None else None
        if cid is not None and cid in self.calls:
            self.calls[cid]["seqs"].append(seq)
        rel = self.rel(full)
        if kind_of(rel) is None and not (
            p.get("dest_path") and kind_of(self.rel(self.resolve(str(p["dest_path"]))))
        ):
            return []
        if (cid, full) in self.analyzed:
            return []
        if p.get("change") == "moved" and p.get("dest_path"):
            self.analyzed.add((cid, full))
            dest = self.rel(self.resolve(str(p["dest_path"])))
            found = weakening(rel, None, None, dest_path=dest)
            self.contents[self.resolve(str(p["dest_path"]))] = self.contents.pop(full, None)
            return self._reward_flag(cid, full, found.reasons, found.details, [seq])
        if p.get("change") == "deleted":
            if full not in self.contents and (cid, full) not in self.snapshots:
                # Offline the content before is unknown, but it existed: a deletion
                # is judged as one (the recorded diff holds what it said).
                removed, _ = diff_lines(str(p.get("diff") or ""))
                self.contents[full] = self._before(full) or "\n".join(removed)
            return self._analyze(cid, full, None, seq=seq, known_after=True, diff=p.get("diff"))
        return self._analyze(
            cid, full, self._read(full), seq=seq, known_after=False, diff=p.get("diff")
        )

    def _analyze(
        self,
        cid: str | None,
        path: Path,
        after: str | None,
        *,
        seq: int,
        known_after: bool,
        diff: str | None = None,
    ) -> list[Flag]:
        self.analyzed.add((cid, path))
        if cid is not None and (cid, path) in self.snapshots:
            before = self.snapshots[(cid, path)]
        elif path in self.contents:
            before = self.contents[path]
        else:
            before = self._before(path)
        # What the file said when the session started (or when it was first
        # seen): an expected value is judged against its history, not only
        # against the edit just before.
        origin = self.origins.setdefault(path, self._before(path) or before)
        if after is None and not known_after:
            # Content unknown (unreadable or gone again): judge the recorded diff alone.
            found = weakening(self.rel(path), None, None, diff=diff, runs=self._runs())
        else:
            found = weakening(
                self.rel(path), before, after, diff=diff, runs=self._runs(), history=[origin]
            )
            self.contents[path] = after
        shown = [int(m) for r in found.reasons for m in _RUN_SEQ.findall(r)]
        return self._reward_flag(cid, path, found.reasons, found.details, [seq, *shown])

    def _reward_flag(
        self,
        cid: str | None,
        path: Path,
        reasons: list[str],
        details: dict[str, Any],
        seqs: list[int],
    ) -> list[Flag]:
        if not reasons:
            return []
        evidence = list(seqs)
        if cid is not None and cid in self.calls:
            evidence += self.calls[cid]["seqs"]
        if self.test_runs:
            last = self.test_runs[-1][0]
            details = {**details, "last_test_run": last}
            if last in self.test_counts:
                details["last_test_counts"] = self.test_counts[last]
        details = {**details, "reasons": reasons}
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        if details.get("kind") in ("ci", "test_config", "maybe_config"):
            # Any edit is flagged, whatever it does: say why, not that it weakens.
            reason = "; ".join(reasons[:3]) + more + ": it decides which tests run and what passes"
        else:
            reason = f"edit weakens tests in {self.rel(path)}: " + "; ".join(reasons[:3]) + more
        return [Flag("reward_hacking", reason, evidence, cid, details)]

    def _runs(self) -> list[tuple[int | None, str]]:
        """The session's test runs so far, (seq, what they printed and reported)."""
        return [(seq, text) for seq, _passed, text in self.test_runs]

    # -- novelty ------------------------------------------------------------------

    def history(self) -> tuple[set[str], set[str]] | None:
        if not self._history_loaded:
            self._history_loaded = True
            self._history = self._history_fn() if self._history_fn else None
        return self._history

    def _novel(self, cid: str, call: dict[str, Any]) -> list[Flag]:
        return novel_flags(self.history(), self.seen_novel, cid, call)

    # -- the final report ---------------------------------------------------------

    def claims(self, final: str, ended_seq: int | None = None) -> list[Flag]:
        """Flags for what the final report claims and the log contradicts."""
        return judge_claims(self, final, ended_seq)


def detect(
    events: Iterable[tuple[int, str, dict[str, Any]]],
    workspace: str | None = None,
    history: tuple[set[str], set[str]] | None = None,
) -> list[Flag]:
    """Run the detectors over a recorded session's ``(seq, kind, payload)``
    events (nothing is read from the workspace: it has moved on since)."""
    det = FlagDetector(workspace, history=(lambda: history) if history else None)
    flags: list[Flag] = []
    for seq, kind, payload in events:
        if kind == "session_ended":
            flags += det.claims(str(payload.get("final") or ""), seq)
        else:
            flags += det.feed(seq, kind, payload)
    return flags
