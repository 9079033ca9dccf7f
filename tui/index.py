"""The replay's view of one recorded session: an index, not a copy.

``EventIndex`` loads ``(seq, ts, kind)`` for every event with one SQL query
and never parses a payload it does not show: the one-line summaries of the
rows on screen are computed a block at a time and cached, and the selected
event's payload is read on its own. Search, the approval/denial/flag marks
and "who approved what" are SQL queries over the same table, so a 100k-event
session opens as fast as a small one.

A JSONL export is replayed through the same code: it is loaded into an
in-memory SQLite database with the log's ``events`` layout.
"""

from __future__ import annotations

import base64
import bisect
import json
import sqlite3
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from overseer.errors import UsageError
from overseer.log.base import EventStore
from overseer.log.memory import session_db
from overseer.log.note import Verifier
from overseer.log.schema import SESSION_COLUMNS
from overseer.log.verify import VerifyResult, verify_rows
from overseer.render import call_summary, describe

SUMMARY_BLOCK = 256
SUMMARY_CACHE = 8_192

# "[" and "]" stop here: where a person said yes or no, where the policy or a
# person refused, and where a watcher raised a flag.
MARK_SQL = (
    "kind IN ('approval_requested','approval_decided','flag_raised','question_asked')"
    " OR (kind='action_finished' AND json_extract(payload,'$.status')='denied')"
)
# A refusal: a person said no (or stopped the session), or a call ended denied.
DENIAL_SQL = (
    "(kind='action_finished' OR (kind='approval_decided'"
    " AND json_extract(payload,'$.decision') IN ('deny','terminate')))"
)
SEARCH_KINDS = (
    "model_turn", "action_proposed", "policy_decided", "approval_requested", "approval_decided",
    "action_started", "action_finished", "file_changed", "question_asked", "question_answered",
    "user_message", "flag_raised", "notice", "grant_added", "grant_revoked", "session_ended",
)  # fmt: skip


class EventIndex:
    """Index of one session's events over a SQLite connection."""

    def __init__(self, conn: sqlite3.Connection, session_id: str, *, source: str = "") -> None:
        self.conn = conn
        self.session_id = session_id
        self.source = source
        self.seqs: array[int] = array("q")
        self.ts: array[int] = array("q")
        self.kinds: list[str] = []
        self._summaries: OrderedDict[int, str] = OrderedDict()
        self._marks: list[int] | None = None
        self.denials: set[int] = set()
        self._rows_for_verify: list[tuple[int, int, str, str, str, str, str]] | None = None
        self._reopen: Callable[[], EventStore] | None = None
        self.session: dict[str, Any] = {}
        self._load()

    # -- opening ----------------------------------------------------------------

    @classmethod
    def from_db(cls, path: Path, session_id: str) -> EventIndex:
        """A session (id or unique prefix) of an audit DB file."""
        if not Path(path).exists():
            raise UsageError(f"no audit log at {path}; pass --log PATH or set OVERSEER_LOG")
        from overseer.log import open_store

        with open_store(str(path)) as store:
            return cls.from_store(store, session_id)

    @classmethod
    def from_store(cls, store: EventStore, session_id: str) -> EventIndex:
        """A session (id or unique prefix) of any event store: its own
        connection to a local file, or an in-memory copy of a remote one."""
        sid = store.resolve(session_id)
        index = cls(store.replay_db(sid), sid, source=store.location)
        index._reopen = store.reader  # the location shown has no password in it
        return index

    @classmethod
    def from_jsonl(cls, path: Path) -> EventIndex:
        """An ``overseer export --format jsonl`` file, loaded into memory."""
        from overseer.log.jsonl import read_export

        session, rows, extras = read_export(path)
        blobs = [
            (str(rec["hash"]), base64.b64decode(rec["data"]))
            for rec in extras
            if rec.get("type") == "blob"
        ]
        index = cls(session_db(session, rows, blobs), str(session["id"]), source=str(path))
        index._rows_for_verify = rows
        return index

    def _load(self) -> None:
        row = self.conn.execute(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE id=?",
            (self.session_id,),
        ).fetchone()
        if row is not None:
            self.session = dict(zip(SESSION_COLUMNS, row, strict=True))
        cur = self.conn.execute(
            "SELECT seq, ts, kind FROM events WHERE session_id=? ORDER BY seq", (self.session_id,)
        )
        intern: dict[str, str] = {}
        seqs, ts, kinds = self.seqs, self.ts, self.kinds
        for seq, t, kind in cur:
            seqs.append(seq)
            ts.append(t)
            kinds.append(intern.setdefault(kind, kind))

    def close(self) -> None:
        self.conn.close()

    # -- reading ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.seqs)

    def position(self, seq: int) -> int:
        """The index of ``seq`` (or of the first event after it)."""
        return bisect.bisect_left(self.seqs, seq)

    def payload(self, seq: int) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT payload FROM events WHERE session_id=? AND seq=?", (self.session_id, seq)
        ).fetchone()
        return json.loads(row[0]) if row else {}

    def event(self, seq: int) -> tuple[int, int, str, dict[str, Any]]:
        i = self.position(seq)
        return seq, self.ts[i], self.kinds[i], self.payload(seq)

    def summaries(self, seqs: Iterable[int]) -> dict[int, str]:
        """One-line summaries; misses are fetched in blocks and cached."""
        wanted = list(seqs)
        missing = [s for s in wanted if s not in self._summaries]
        if missing:
            lo, hi = min(missing), max(missing)
            if hi - lo < SUMMARY_BLOCK * 4:
                cur = self.conn.execute(
                    "SELECT seq, kind, payload FROM events WHERE session_id=? AND seq BETWEEN ? AND ?",
                    (self.session_id, lo, hi),
                )
            else:  # scattered rows (a filter is on): fetch exactly those
                marks = ",".join("?" * len(missing))
                cur = self.conn.execute(
                    f"SELECT seq, kind, payload FROM events WHERE session_id=? AND seq IN ({marks})",
                    (self.session_id, *missing),
                )
            for seq, kind, payload in cur:
                try:
                    text = describe(kind, json.loads(payload))
                except (ValueError, TypeError) as exc:
                    text = f"(unreadable payload: {exc})"
                self._summaries[seq] = text.replace("\n", " ")
            while len(self._summaries) > SUMMARY_CACHE:
                self._summaries.popitem(last=False)
        return {s: self._summaries.get(s, "") for s in wanted}

    def usage(self) -> dict[str, int]:
        """Token usage summed over the session's model turns ({} when none reported)."""
        if "model_turn" not in self.kind_counts():
            return {}
        row = self.conn.execute(
            "SELECT sum(json_extract(payload, '$.usage.input_tokens')),"
            " sum(json_extract(payload, '$.usage.output_tokens')),"
            " sum(json_extract(payload, '$.usage.total_tokens'))"
            " FROM events WHERE session_id=? AND kind='model_turn'",
            (self.session_id,),
        ).fetchone()
        keys = ("input_tokens", "output_tokens", "total_tokens")
        return {k: int(v) for k, v in zip(keys, row or (), strict=False) if v is not None}

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for kind in self.kinds:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    def marks(self) -> list[int]:
        """Seqs of approvals, denials, questions and flags (computed once)."""
        if self._marks is None:
            marks: list[int] = []
            for seq, denial in self.conn.execute(
                f"SELECT seq, {DENIAL_SQL} FROM events WHERE session_id=? AND ({MARK_SQL}) ORDER BY seq",
                (self.session_id,),
            ):
                marks.append(seq)
                if denial:
                    self.denials.add(seq)
            self._marks = marks
        return self._marks

    @property
    def marks_loaded(self) -> bool:
        return self._marks is not None

    def search(self, text: str) -> list[int]:
        """Seqs whose command, args, output or text contain ``text`` (any case)."""
        needle = text.strip().lower()
        if not needle:
            return []
        marks = ",".join("?" * len(SEARCH_KINDS))
        return [
            r[0]
            for r in self.conn.execute(
                f"SELECT seq FROM events WHERE session_id=? AND kind IN ({marks})"
                " AND instr(lower(payload), ?) > 0 ORDER BY seq",
                (self.session_id, *SEARCH_KINDS, needle),
            )
        ]

    def related(
        self, call_id: str, around: int, window: int = 5_000
    ) -> list[tuple[int, int, str, dict[str, Any]]]:
        """The events of one call near ``around`` (a call's events are close
        together; the window keeps this one indexed range scan)."""
        out = []
        for seq, ts, kind, payload in self.conn.execute(
            "SELECT seq, ts, kind, payload FROM events WHERE session_id=? AND seq BETWEEN ? AND ?"
            " AND json_extract(payload, '$.call_id') = ? ORDER BY seq",
            (self.session_id, around - window, around + window, call_id),
        ):
            out.append((seq, ts, kind, json.loads(payload)))
        return out

    def approvals(self) -> list[dict[str, Any]]:
        """Who approved what, when, why: every decision with its request."""
        requests: dict[str, dict[str, Any]] = {}
        out: list[dict[str, Any]] = []
        for seq, ts, kind, payload in self.conn.execute(
            "SELECT seq, ts, kind, payload FROM events WHERE session_id=?"
            " AND kind IN ('approval_requested','approval_decided','question_asked','question_answered')"
            " ORDER BY seq",
            (self.session_id,),
        ):
            p = json.loads(payload)
            call_id = str(p.get("call_id"))
            if kind in ("approval_requested", "question_asked"):
                requests[call_id] = {"kind": kind, **p}
                continue
            req = requests.get(call_id, {})
            if kind == "question_answered":
                what = f"ask_human: {req.get('question', '')}"
                decision, reason = "answered", str(p.get("answer", ""))
            else:
                tool = str(req.get("tool", "?"))
                what = f"{tool}: {call_summary(tool, req.get('args'), 400)}"
                decision, reason = str(p.get("decision")), str(p.get("reason") or "")
            out.append({
                "seq": seq, "ts": ts, "call_id": call_id, "what": what, "decision": decision,
                "by": str(p.get("by") or ""), "reason": reason, "latency_ms": p.get("latency_ms"),
            })  # fmt: skip
        return out

    def blob(self, h: str) -> bytes | None:
        try:
            row = self.conn.execute("SELECT data FROM blobs WHERE hash=?", (h,)).fetchone()
        except sqlite3.Error:
            return None
        return bytes(row[0]) if row else None

    # -- integrity ----------------------------------------------------------------

    def verify(self, trusted: list[Verifier] | None = None) -> VerifyResult:
        """Verify the chain (and, for a store, its checkpoints against this
        machine's key and ``trusted``). Safe to call from a worker thread: it
        opens its own handle on the store."""
        if self._rows_for_verify is not None:
            return verify_rows(self.session_id, self._rows_for_verify)
        if self._reopen is None:  # a bare connection: its chain is all there is to check
            rows = self.conn.execute(
                "SELECT seq, ts, kind, payload, payload_hash, prev_hash, hash FROM events"
                " WHERE session_id=? ORDER BY seq",
                (self.session_id,),
            ).fetchall()
            return verify_rows(self.session_id, rows)
        with self._reopen() as store:
            return store.verify(self.session_id, trusted=trusted)[0]
