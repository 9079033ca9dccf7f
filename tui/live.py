"""The live app: pair with an agent, approve its risky actions, steer it.

``LiveApp`` is a projection of one session's log plus a place to decide.
Where the events come from and where decisions go is its ``Backend``:

- ``LocalRun`` (this module): the session runs in this process. Events
  arrive through ``AuditLog.subscribe`` (posted into the app — never a widget
  touched from another thread), decisions complete the ``TuiApprover``'s
  futures, steering goes through ``Session.say``, and the agent runs in a
  thread worker.
- ``Attached`` (``overseer.tui.attach``): the session runs in another
  process; the app follows the log and writes decisions into its inbox.

``run_live(open_session, agent)`` is what ``overseer run`` calls in a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Collapsible, Footer, Input, ListView

from overseer.approval import ApprovalDecision, ApprovalRequest, Approver, who
from overseer.interrupts import session_signals
from overseer.report import format_evidence
from overseer.session import Agent, AgentOutcome, RunResult, Session, run_agent

from .approval import ApprovalScreen, request_label
from .approver import TuiApprover, request_key
from .header import SessionHeader
from .question import QuestionScreen
from .sidepanel import SidePanel
from .transcript import CallEntry, Transcript
from .viewer import ViewerScreen
from .views import code, evidence_renderable

EventTuple = tuple[int, str, dict[str, Any]]

QUIT_REASON = "the person quit the UI while this request was waiting"


class Backend(Protocol):
    """Where a live app's events come from and where its decisions go."""

    session_id: str
    by: str
    poll_interval: float  # how often the app asks ``fetch`` for missed events
    can_stop_agent: bool  # quitting stops the agent (local) or only detaches

    def start(self, app: LiveApp) -> None: ...

    def fetch(self, after: int) -> list[EventTuple]: ...

    def observe(self, app: LiveApp, seq: int, kind: str, payload: dict[str, Any]) -> None:
        """Called for every event the app applies (attach derives its queue here)."""
        ...

    def decide(self, key: str, req: ApprovalRequest, decision: ApprovalDecision) -> None: ...

    def say(self, text: str) -> None: ...

    def quit(self) -> bool:
        """Prepare to leave; True when the app may exit at once."""
        ...

    def close(self) -> None: ...


class LiveApp(App[RunResult | None]):
    """The live session screen: header, transcript, side panel, message line."""

    CSS_PATH = "overseer.tcss"
    TITLE = "overseer"
    # Below 100 columns the side panel narrows so the transcript stays readable.
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-wide"),
    ]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pending", "Approvals"),
        Binding("m", "message", "Message agent"),
        Binding("o", "toggle_output", "Output"),
        Binding("f", "files", "Files"),
        Binding("r", "report", "Report"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("escape", "leave_input", "Back", show=False),
    ]

    class LogEvent(Message):
        """An event appended to the session's log. Handler: ``on_live_app_log_event``."""

        def __init__(self, seq: int, kind: str, payload: dict[str, Any]) -> None:
            super().__init__()
            self.seq, self.kind, self.payload = seq, kind, payload

    class Queued(Message):
        """A request waits for a decision. Handler: ``on_live_app_queued``."""

        def __init__(self, request: ApprovalRequest) -> None:
            super().__init__()
            self.request = request

    class Gone(Message):
        """A request no longer waits (decided, withdrawn). Handler: ``on_live_app_gone``."""

        def __init__(self, request: ApprovalRequest) -> None:
            super().__init__()
            self.request = request

    class Streamed(Message):
        """A chunk of a running command's output. Handler: ``on_live_app_streamed``."""

        def __init__(self, call_id: str, text: str) -> None:
            super().__init__()
            self.call_id, self.text = call_id, text

    class RunFinished(Message):
        """The agent's worker ended. Handler: ``on_live_app_run_finished``."""

        def __init__(self, result: RunResult | None, error: str | None = None) -> None:
            super().__init__()
            self.result, self.error = result, error

    def __init__(self, backend: Backend, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.queue: dict[str, ApprovalRequest] = {}
        self.result: RunResult | None = None
        self.ended: dict[str, Any] | None = None
        self.quitting = False
        self._showing: tuple[str, ApprovalScreen | QuestionScreen] | None = None
        self._deferred = False
        self._next_seq = 1
        self._buffer: dict[int, tuple[str, dict[str, Any]]] = {}
        self._report: Any = None

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield SessionHeader(id="header")
        with Horizontal(id="main"):
            yield Transcript(id="transcript")
            yield SidePanel(id="side")
        yield Input(
            placeholder="Message the agent (m) — read before its next step; enter sends",
            id="message",
        )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SessionHeader).set_session(self.backend.session_id, {})
        self.query_one(SessionHeader).set_status("running")
        self.backend.start(self)
        self._catch_up()
        self.set_interval(self.backend.poll_interval, self._catch_up)
        self.query_one(Transcript).focus()

    def on_unmount(self) -> None:
        self.backend.close()

    # -- events from the log -----------------------------------------------------

    def on_live_app_log_event(self, message: LogEvent) -> None:
        self._accept(message.seq, message.kind, message.payload)

    def _accept(self, seq: int, kind: str, payload: dict[str, Any]) -> None:
        """Apply events in seq order: subscribers run in the appending threads,
        so two events can arrive swapped; a gap waits for the next catch-up."""
        if seq < self._next_seq:
            return
        self._buffer[seq] = (kind, payload)
        while self._next_seq in self._buffer:
            k, p = self._buffer.pop(self._next_seq)
            self._apply(self._next_seq, k, p)
            self._next_seq += 1

    def _catch_up(self) -> None:
        for seq, kind, payload in self.backend.fetch(self._next_seq - 1):
            self._accept(seq, kind, payload)
        shipping = getattr(self.backend, "shipping", None)
        if callable(shipping):
            self.query_one(SessionHeader).set_shipping(shipping())

    def _apply(self, seq: int, kind: str, p: dict[str, Any]) -> None:
        if kind == "seal":
            return
        if kind == "session_started":
            self.query_one(SessionHeader).set_session(self.backend.session_id, p)
            return
        self.query_one(Transcript).apply(seq, kind, p)
        self.query_one(SidePanel).apply(seq, kind, p)
        self.backend.observe(self, seq, kind, p)
        if kind == "session_ended":
            self._ended(p)

    def _ended(self, p: dict[str, Any]) -> None:
        self.ended = p
        status = str(p.get("status") or "completed")
        ev = (p.get("summary") or {}).get("evidence")
        evidence_text = (
            format_evidence(ev) if isinstance(ev, dict) else "(no evidence summary recorded)"
        )
        if p.get("error"):
            evidence_text = f"error: {p['error']}\n\n{evidence_text}"
        self._report = evidence_renderable(str(p.get("final") or ""), evidence_text, status)
        ok = status == "completed"
        self.query_one(Transcript).show_report(self._report, ok)
        self.query_one(SessionHeader).set_status(status)
        message = self.query_one("#message", Input)
        message.placeholder = f"The session has ended ({status}): r shows the report, q quits"
        if message.has_focus:
            self.query_one(Transcript).focus()
        message.disabled = True
        # Nothing can be decided any more: close what is still open.
        for key in list(self.queue):
            self.drop_request(key, "")
        if self.quitting:
            return
        self.push_screen(
            ViewerScreen(
                f"Session {self.backend.session_id} {status}",
                self._report,
                kind="report" if ok else "report-bad",
                hint="esc close (r shows it again)   q quit",
            )
        )

    def on_live_app_streamed(self, message: Streamed) -> None:
        self.query_one(Transcript).stream(message.call_id, message.text)

    def on_live_app_run_finished(self, message: RunFinished) -> None:
        self.result = message.result
        if message.error:
            self.notify(message.error, title="The run failed", severity="error", timeout=30)
        self._catch_up()
        if self.quitting:
            self.exit(self.result)

    # -- the decision queue ----------------------------------------------------

    def on_live_app_queued(self, message: Queued) -> None:
        self.queue_request(message.request)

    def on_live_app_gone(self, message: Gone) -> None:
        self.drop_request(request_key(message.request), "withdrawn: the broker stopped waiting")

    def queue_request(self, req: ApprovalRequest) -> None:
        key = request_key(req)
        if key in self.queue or self.ended is not None:
            return
        self.queue[key] = req
        self._queue_changed()
        if self._deferred:
            self.notify(f"{len(self.queue)} waiting for you — press p", title="Approval needed")
        self._open_next()

    def drop_request(self, key: str, why: str) -> None:
        """A request stopped waiting without this app deciding it."""
        req = self.queue.pop(key, None)
        if req is None:
            return
        if self._showing is not None and self._showing[0] == key:
            screen = self._showing[1]
            self._showing = None
            screen.withdraw()
            if why:
                self.notify(f"{request_label(req)} — {why}", severity="warning")
        self._queue_changed()

    def _labels(self) -> list[tuple[str, str]]:
        return [(k, request_label(r)) for k, r in self.queue.items()]

    def _queue_changed(self) -> None:
        self.query_one(SidePanel).set_waiting(self._labels())
        if self.ended is None and not self.quitting:
            self.query_one(SessionHeader).set_status("waiting for you" if self.queue else "running")
        if self._showing is not None:
            key, screen = self._showing
            screen.set_waiting([label for k, label in self._labels() if k != key])
        if not self.queue:
            self._deferred = False

    def _open_next(self) -> None:
        if self._showing is not None or not self.queue or self._deferred or self.quitting:
            return
        key, req = next(iter(self.queue.items()))
        others = [label for k, label in self._labels() if k != key]
        screen: ApprovalScreen | QuestionScreen
        if req.kind == "question":
            screen = QuestionScreen(req, by=self.backend.by, waiting=others)
        else:
            screen = ApprovalScreen(
                req,
                by=self.backend.by,
                waiting=others,
                clock=self.clock,
                # Quitting a local run denies what waits; leaving an attached one only detaches.
                quit_hint="quit (denies)" if self.backend.can_stop_agent else "detach",
            )
        self._showing = (key, screen)
        self.push_screen(screen, callback=lambda decision: self._decided(key, req, decision))

    def _decided(self, key: str, req: ApprovalRequest, decision: ApprovalDecision | None) -> None:
        if self._showing is not None and self._showing[0] == key:
            self._showing = None
        if key in self.queue:
            if decision is None:
                self._deferred = True
                self.notify("Left waiting — press p to decide", title=request_label(req))
            else:
                del self.queue[key]
                self.backend.decide(key, req, decision)
                self._queue_changed()
        # After the dialog has been popped, not while it is being popped.
        self.call_later(self._open_next)

    # -- actions ---------------------------------------------------------------

    MAIN_SCREEN_ACTIONS = frozenset(
        {"pending", "message", "toggle_output", "files", "report", "leave_input"}
    )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a dialog is open its keys are the only ones besides quit:
        # "m" or "f" must not move focus to widgets hidden under it.
        return not (action in self.MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1)

    def action_pending(self) -> None:
        if not self.queue:
            self.notify("Nothing is waiting for a decision.")
            return
        self._deferred = False
        self._open_next()

    @on(SidePanel.WaitingSelected)
    def _waiting_selected(self, event: SidePanel.WaitingSelected) -> None:
        if event.key in self.queue:
            # Bring the chosen request to the front of the queue.
            self.queue = {event.key: self.queue[event.key], **self.queue}
            self.action_pending()

    @on(SidePanel.FileSelected)
    def _file_selected(self, event: SidePanel.FileSelected) -> None:
        fc = event.change
        diff = "\n".join(fc.diffs).strip()
        body = (
            code(diff, "diff")
            if diff
            else Text(f"{fc.change}; no diff was recorded for this change")
        )
        self.push_screen(ViewerScreen(f"{fc.change}: {fc.path}", body))

    def action_message(self) -> None:
        self.query_one("#message", Input).focus()

    def action_leave_input(self) -> None:
        self.query_one(Transcript).focus()

    @on(Input.Submitted, "#message")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.ended is not None:
            self.notify(
                "The session has ended; the agent no longer reads messages.", severity="warning"
            )
            return
        self.backend.say(text)
        event.input.value = ""
        self.notify("Sent: the agent reads it before its next step.", timeout=3)

    def action_toggle_output(self) -> None:
        entries = list(self.query(CallEntry))
        focused = self.focused
        target = next(
            (e for e in entries if focused is not None and focused in e.walk_children()), None
        )
        if target is None:
            target = next(
                (e for e in reversed(entries) if e.query_one(Collapsible).has_class("has-output")),
                None,
            )
        if target is None:
            self.notify("No output yet.")
            return
        collapsible = target.query_one(Collapsible)
        collapsible.collapsed = not collapsible.collapsed
        target.scroll_visible()

    def action_files(self) -> None:
        files = self.query_one("#files-list", ListView)
        files.focus()
        if files.index is None and len(files):
            files.index = 0  # enter opens the first file's diff straight away

    def action_report(self) -> None:
        if self._report is None:
            self.notify("The run has not finished yet.")
            return
        self.push_screen(
            ViewerScreen(f"Session {self.backend.session_id}", self._report, kind="report")
        )

    async def action_quit(self) -> None:
        if self.quitting or self.ended is not None and self._run_done():
            self.exit(self.result)
            return
        self.quitting = True
        if self._showing is not None:
            key, screen = self._showing
            self._showing = None
            screen.withdraw()
        if self.backend.quit():
            self.exit(self.result)
            return
        self.query_one(SessionHeader).set_status("stopping")
        self.notify(
            "Denied what was waiting; stopping the agent… (q again leaves at once)", timeout=10
        )

    def _run_done(self) -> bool:
        return not self.backend.can_stop_agent or self.result is not None


# -- the local backend ---------------------------------------------------------------


class _StopAware:
    """Wraps the agent so a run the person stopped by quitting ends as
    ``terminated`` (a person ended it) rather than ``completed``; agents that
    notice ``stop_requested`` themselves already say so."""

    def __init__(self, agent: Agent, stopped: threading.Event) -> None:
        self.agent = agent
        self.name = agent.name
        self.model = agent.model
        self.stopped = stopped

    def run(self, session: Session) -> AgentOutcome:
        outcome = self.agent.run(session)
        if self.stopped.is_set() and outcome.status == "completed":
            note = "stopped early: the person quit the UI"
            outcome = outcome.model_copy(
                update={"status": "terminated", "final": f"{note}\n{outcome.final}".strip()}
            )
        return outcome


class LocalRun:
    """A session running in this process, its agent in a thread worker."""

    can_stop_agent = True
    poll_interval = 1.0  # only repairs gaps: events arrive by subscription

    def __init__(self, session: Session, agent: Agent, approver: TuiApprover) -> None:
        self.session = session
        self.agent = agent
        self.approver = approver
        self.session_id = session.id
        self.by = approver.by
        self.result: RunResult | None = None
        self.done = threading.Event()
        self.started = False
        self._stopped_by_ui = threading.Event()
        self._app: LiveApp | None = None
        self._reader = session.log.reader()

    def shipping(self) -> str:
        """The header's shipping status: up to date, or how far behind and why."""
        shipper = self.session.shipper
        return "" if shipper is None else str(shipper.status.headline())

    def start(self, app: LiveApp) -> None:
        self._app = app
        self.started = True
        self.session.log.subscribe(self._on_append)
        self.approver.listen(self._on_request)
        self.session.broker.on_stream = self._on_stream
        app.run_worker(self._run, thread=True, name="agent", group="agent", exit_on_error=False)

    # These three run in other threads: they only post messages.

    def _on_append(self, session_id: str, seq: int, kind: str, payload: dict[str, Any]) -> None:
        if session_id == self.session_id and self._app is not None:
            self._app.post_message(LiveApp.LogEvent(seq, kind, payload))

    def _on_request(self, event: str, req: ApprovalRequest) -> None:
        if self._app is not None:
            self._app.post_message(LiveApp.Queued(req) if event == "queued" else LiveApp.Gone(req))

    def _on_stream(self, call_id: str, text: str) -> None:
        if self._app is not None:
            self._app.post_message(LiveApp.Streamed(call_id, text))

    def _run(self) -> RunResult | None:
        error = None
        try:
            self.result = run_agent(self.session, _StopAware(self.agent, self._stopped_by_ui))
        except Exception as exc:  # noqa: BLE001 - shown in the app, never lost in a thread
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()
        if self._app is not None:
            self._app.post_message(LiveApp.RunFinished(self.result, error))
        return self.result

    def fetch(self, after: int) -> list[EventTuple]:
        return [
            (e.seq, e.kind, e.payload) for e in self._reader.events(self.session_id, after=after)
        ]

    def observe(self, app: LiveApp, seq: int, kind: str, payload: dict[str, Any]) -> None:
        """Nothing to derive: the approver itself says what waits."""

    def decide(self, key: str, req: ApprovalRequest, decision: ApprovalDecision) -> None:
        self.approver.complete(key, decision)

    def say(self, text: str) -> None:
        self.session.say(text, by=self.by)

    def quit(self) -> bool:
        if self.done.is_set():
            return True
        self.stop(QUIT_REASON)
        return False

    def stop(self, reason: str) -> None:
        """Deny what waits, refuse what comes, ask the agent to stop — recorded."""
        if self._stopped_by_ui.is_set():
            return
        self._stopped_by_ui.set()
        denied = self.approver.close(reason)
        if not self.session.ended:
            # The stop matters more than its note: a failing log must not block it.
            with contextlib.suppress(Exception):
                self.session.notice(
                    "ui",
                    f"{self.by} quit the UI; the agent is asked to stop",
                    denied=[r.call_id for r in denied],
                )
        self.session.stop_requested.set()

    def close(self) -> None:
        self.session.log.unsubscribe(self._on_append)
        if self.session.broker.on_stream == self._on_stream:
            self.session.broker.on_stream = None
        if not self.done.is_set():
            self.stop("the UI closed while this request was waiting")
        self._app = None
        self._reader.close()


def run_live(open_session: Callable[[Approver], Session], agent: Agent) -> RunResult:
    """Run ``agent`` in a new session under the live app; returns when the person quits.

    ``open_session(approver)`` opens the session with the app's approver. It is
    called before the app starts, so an ``OverseerError`` (a broken policy,
    a bad workspace) reaches the command line as a one-line message with the
    terminal untouched.
    """
    approver = TuiApprover(by=who())
    session = open_session(approver)
    backend = LocalRun(session, agent, approver)
    app = LiveApp(backend)

    def leave() -> None:
        # A signal (SIGTERM, SIGHUP: the terminal closed) interrupted the session:
        # the app leaves; the agent thread ends the session, recorded and sealed.
        asyncio.get_running_loop().call_soon_threadsafe(app.exit)

    with session_signals(session, on_signal=leave):
        try:
            app.run()
        finally:
            # Whatever ended the app (quit, crash), nothing waits on it and the
            # agent is told to stop; the session always ends with a status.
            backend.close()
        if not backend.started:  # the app failed before it could start the agent
            ev = session.end("failed", error="the terminal UI could not start")
            return RunResult(session.id, "failed", "", format_evidence(ev), ev, {})
        backend.done.wait()
    if backend.result is None:
        ev = session.end("failed", error="the run did not produce a result")
        return RunResult(session.id, "failed", "", format_evidence(ev), ev, {})
    return backend.result
