"""One session, wired: log + policy + tools + approver + broker + watcher.

``Session.open`` does everything that can fail *before* the first record (an
invalid policy or project config stops here, and no session is started);
then it snapshots the workspace, records ``session_started`` and starts the
watcher. ``run_session`` drives an agent inside a session and always ends it
with a status, whatever the agent does.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from . import settings_trust
from .approval import ApproveAll, Approver, ConsoleApprover, DenyAll, RemoteApprover
from .broker import Broker
from .errors import UsageError
from .events import SessionStartedPayload, SessionStatus
from .log import AuditLog
from .policy.base import Policy
from .project import ProjectConfig, load_project_config
from .registry import SESSION_OBSERVERS, Registry
from .report import evidence, format_evidence
from .toolapi import Sandbox


@dataclass
class SessionConfig:
    task: str
    agent: str
    workspace: Path = field(default_factory=Path.cwd)
    model: str | None = None
    policy: str | None = None
    approver: str = "deny-all"
    sandbox: str = "auto"
    approval_timeout: float = 600.0
    tools: list[str] = field(default_factory=list)
    max_steps: int = 100
    log_path: Path | None = None
    watch: bool = True
    snapshot: bool = True
    ship: str | None = None  # a team store to ship the session to (postgresql://...)


class AgentOutcome(BaseModel):
    """What an agent hands back when it stops."""

    status: SessionStatus = "completed"
    final: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Agent(Protocol):
    name: str
    model: str | None

    def run(self, session: Session) -> AgentOutcome: ...


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("overseer", "langchain", "langgraph", "textual", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _git_head(workspace: Path) -> str | None:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def make_approver(name: str, log: AuditLog, session_id: str) -> Approver:
    if name == "approve-all":
        return ApproveAll()
    if name == "deny-all":
        return DenyAll()
    if name == "console":
        return ConsoleApprover()
    if name == "remote":
        return RemoteApprover(log, session_id)
    raise UsageError(
        f"unknown approver {name!r}; choose console, approve-all, deny-all, remote or tui"
    )


class Session:
    """A running session. Create with ``Session.open(config)``."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.id = ""
        self.workspace = Path(config.workspace).expanduser().resolve()
        self.log: AuditLog
        self.broker: Broker
        self.policy: Policy
        self.registry = Registry()
        self.project = ProjectConfig()
        self.sandbox = Sandbox()
        self.watcher: Any = None
        self.shipper: Any = None
        self.ship_status: Any = None
        self.observers: list[Any] = []
        self._messages: list[str] = []
        self._msg_lock = threading.Lock()
        self.stop_requested = threading.Event()
        # The signal that interrupted the session ("SIGTERM"...), set by
        # ``interrupt``; ``ending`` is set once ``end`` starts, so a second
        # signal cannot cut the closing records short.
        self.interrupted: str | None = None
        self.ending = False
        self.ended = False
        self._settings: settings_trust.Settings | None = None

    # -- opening ----------------------------------------------------------

    @classmethod
    def open(
        cls, config: SessionConfig, *, approver: Approver | None = None, log: AuditLog | None = None
    ) -> Session:
        from .policy import load_policy

        s = cls(config)
        if not s.workspace.is_dir():
            raise UsageError(f"workspace {s.workspace} is not a directory")
        # Settings an agent's session may have written are refused before
        # anything in them is used (the policy they name, tools, MCP servers).
        settings_trust.check(s.workspace)
        s.project = load_project_config(s.workspace)
        policy_ref = config.policy or s.project.policy_path(s.workspace) or "default"
        s.policy = load_policy(policy_ref)  # a broken policy stops here: no session starts
        s.log = log or AuditLog(config.log_path)
        if s.log.path.resolve().is_relative_to(s.workspace):
            raise UsageError(
                f"the audit log {s.log.path} is inside the workspace {s.workspace}; the agent could reach "
                "it. Choose another --log path."
            )
        s.sandbox = s._resolve_sandbox(config.sandbox, protect=[s.log.path])
        # Tools, tool adapters (LangChain) and tool sources (MCP servers) are
        # all entry points: the session imports none of them.
        s.registry.load_entry_points()
        for spec in [*s.project.tools, *config.tools]:
            s.registry.add_spec(spec)
        s.id = uuid.uuid4().hex[:12]
        s._settings = settings_trust.session_started(s.workspace, s.id)
        snapshot_ref = None
        if config.snapshot:
            snapshot_ref = s._snapshot()
        try:
            s.log.start_session(
                SessionStartedPayload(
                    task=config.task,
                    agent=config.agent,
                    model=config.model,
                    policy_name=s.policy.name,
                    policy_text=s.policy.text,
                    policy_hash=s.policy.hash or hashlib.sha256(s.policy.text.encode()).hexdigest(),
                    workspace=str(s.workspace),
                    git_head=_git_head(s.workspace),
                    snapshot_ref=snapshot_ref,
                    sandbox=s.sandbox.name,
                    approver=approver.name if approver else config.approver,
                    versions=_versions(),
                ),
                session_id=s.id,
            )
        except BaseException:
            # The log refused the session (a full disk at its first commit...):
            # nothing runs, and no snapshot is left for a session never recorded.
            if snapshot_ref:
                from .snapshot import drop_snapshot

                drop_snapshot(s.workspace, snapshot_ref)
            raise
        if config.ship:
            s._start_shipper(config.ship)
        if s.sandbox.reason:
            s.notice("sandbox", s.sandbox.reason)
        # A source that fails is one of the registry's problems: the session goes on.
        s.registry.load_sources(
            s.project, s.workspace, notice=s.notice, keep=s.observers.append, withdraw=s.withdraw
        )
        for problem in s.registry.problems:
            s.notice("tools", problem)
        s.broker = Broker(
            s.log,
            s.id,
            s.registry.tools(),
            s.policy,
            approver or make_approver(config.approver, s.log, s.id),
            s.workspace,
            sandbox=s.sandbox,
            approval_timeout=config.approval_timeout,
        )
        if config.watch:
            s._start_watcher()
        for make in SESSION_OBSERVERS:
            try:
                s.observers.append(make(s))
            except Exception as exc:  # noqa: BLE001
                s.notice("observers", f"observer failed to start: {exc}")
        return s

    def _resolve_sandbox(self, mode: str, protect: list[Path] | None = None) -> Sandbox:
        from .sandbox import resolve_sandbox

        # The sandbox masks overseer's own files; a --log outside the default
        # location must be masked too.
        return resolve_sandbox(mode, protect=protect or [])

    def _snapshot(self) -> str | None:
        from .snapshot import take_snapshot

        try:
            _head, ref = take_snapshot(self.workspace, self.id)
        except Exception:  # noqa: BLE001 - not a git repo, or git missing: no undo, said at start
            return None
        return ref

    def _start_shipper(self, url: str) -> None:
        """Ship the session to a team store in the background. The local log
        stays the record: a store that cannot be reached only costs a notice."""
        from .log.shipper import start_shipper

        self.shipper = start_shipper(
            self.log, self.id, url, notice=lambda text: self.notice("ship", text)
        )

    def _start_watcher(self) -> None:
        from .watch import Watcher

        self.watcher = Watcher(self.log, self.id, self.workspace)
        self.watcher.start()

    # -- during the run ---------------------------------------------------

    def notice(self, topic: str, message: str, **data: Any) -> None:
        self.log.append(self.id, "notice", {"topic": topic, "message": message, "data": data})

    def withdraw(self, tool: str) -> None:
        """A tool went away mid-session (its MCP server died): offer it no more."""
        self.registry.remove(tool)
        broker = getattr(self, "broker", None)
        if broker is not None:
            broker.tools.pop(tool, None)

    def say(self, text: str, by: str = "") -> None:
        """A steering message from the developer: recorded now, read by the agent before its next turn."""
        self.log.append(self.id, "user_message", {"text": text, "by": by or "developer"})
        with self._msg_lock:
            self._messages.append(text)

    def take_messages(self) -> list[str]:
        """Steering messages waiting for the agent (local, and from `overseer say`)."""
        for row in self.log.take(self.id, "message"):
            text = str(row["payload"].get("text", ""))
            self.log.append(self.id, "user_message", {"text": text, "by": row["by"]})
            with self._msg_lock:
                self._messages.append(text)
        with self._msg_lock:
            out, self._messages = self._messages, []
        return out

    def interrupt(self, reason: str) -> None:
        """Stop the session because of ``reason`` (a signal's name): no further
        action runs, the agent stops at its next step, a model call in flight is
        abandoned. Safe in a signal handler: it writes nothing to the log (the
        interrupted code may be in the middle of a write); ``end`` records it."""
        if self.interrupted is None:
            self.interrupted = reason
        self.stop_requested.set()
        broker = getattr(self, "broker", None)
        if broker is not None:
            broker.terminated = True

    def evidence(self) -> dict[str, Any]:
        return evidence((e.seq, e.kind, e.payload) for e in self.log.events(self.id))

    # -- closing ----------------------------------------------------------

    def end(
        self,
        status: SessionStatus,
        final: str = "",
        error: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Stop the watcher and tools, record session_ended (sealed). Idempotent."""
        if self.ended or self.ending:
            return self.evidence()
        self.ending = True
        if self.interrupted:
            with contextlib.suppress(Exception):
                self.notice(
                    "signal",
                    f"the session was interrupted by {self.interrupted}",
                    signal=self.interrupted,
                )
        if self.watcher is not None:
            try:
                self.watcher.stop()
            except Exception:  # noqa: BLE001, S110
                pass
        for obs in self.observers:
            # An observer may record events of its own before session_ended
            # (the flag detector judges the final report's claims here).
            ending = getattr(obs, "session_ending", None)
            if callable(ending):
                with contextlib.suppress(Exception):
                    ending(status, final)
            stop = getattr(obs, "stop", None)
            if callable(stop):
                try:
                    stop()
                except Exception:  # noqa: BLE001, S110
                    pass
        self._note_settings()
        ev = self.evidence()
        summary = {"evidence": ev, **(data or {})}
        if self.interrupted:
            summary["signal"] = self.interrupted
        self.log.end_session(self.id, status, final, summary, error)
        self.ended = True
        self.broker.close()
        if self.shipper is not None:
            self.ship_status = self.shipper.close()
        return ev

    def _note_settings(self) -> None:
        """Note how the session leaves overseer's settings. Should this fail,
        the record still says "running" from the start: the next session
        refuses settings that changed, which is the safe side."""
        if self._settings is None:
            return
        try:
            changed = settings_trust.session_ended(self._settings, self.id)
        except Exception:  # noqa: BLE001 - fail closed, see above
            return
        if changed:
            self.notice(
                "settings",
                "overseer's settings in the workspace changed during this session; "
                "the next session refuses them until you read them and run `overseer trust`",
            )


@dataclass
class RunResult:
    session: str
    status: SessionStatus
    final: str
    report: str
    evidence: dict[str, Any]
    data: dict[str, Any]
    shipping: str | None = None  # how shipping to a team store ended, if the run shipped

    @property
    def exit_code(self) -> int:
        """0 completed, 1 failed, 4 terminated by a person; 128 + N when signal N
        interrupted the run (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), as a shell would."""
        sig = self.data.get("signal")
        if sig:
            import signal as _signal

            with contextlib.suppress(KeyError, AttributeError):
                return 128 + int(_signal.Signals[str(sig)])
        return {"completed": 0, "terminated": 4}.get(self.status, 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "status": self.status,
            "final": self.final,
            "evidence": self.evidence,
            **({"shipping": self.shipping} if self.shipping else {}),
            **self.data,
        }


def _run_guarded(session: Session, agent: Agent) -> AgentOutcome:
    """``agent.run`` with every way out turned into an outcome. A signal
    handler may raise ``KeyboardInterrupt`` only while this frame is calling
    the agent (``overseer.interrupts`` checks), never once it has returned."""
    try:
        return agent.run(session)
    except KeyboardInterrupt:
        why = session.interrupted or "the person at the terminal (Ctrl-C)"
        return AgentOutcome(status="terminated", final=f"interrupted by {why}")
    except Exception as exc:  # noqa: BLE001 - the session must end with a status, not vanish
        return AgentOutcome(status="failed", final=f"the agent failed: {type(exc).__name__}: {exc}")


def run_agent(session: Session, agent: Agent) -> RunResult:
    """Run an agent in an open session and end the session, whatever happens."""
    outcome = _run_guarded(session, agent)
    if (session.broker.terminated or session.interrupted) and outcome.status != "terminated":
        outcome.status = "terminated"
    if session.interrupted and session.interrupted not in outcome.final:
        outcome.final = f"interrupted by {session.interrupted}\n{outcome.final}".strip()
    ev = session.end(outcome.status, outcome.final, data=outcome.data)
    report = (outcome.final.rstrip() + "\n\n" + format_evidence(ev)).strip()
    data = dict(outcome.data)
    if session.interrupted:
        data["signal"] = session.interrupted
    result = RunResult(session.id, outcome.status, outcome.final, report, ev, data)
    st = session.ship_status
    if st is not None:
        result.shipping = (
            f"shipped to {st.store}: the store has all {st.shipped_seq} events"
            if st.lag == 0
            else f"NOT fully shipped to {st.store} ({st.lag} event(s) left: {st.error}); "
            f"`overseer ship {session.id} --to URL` sends them"
        )
    return result
