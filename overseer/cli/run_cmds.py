"""Running agents: run, bisect, demo, rerun — and talking to a running
session from another terminal: say, approve, pending, grants, revoke."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

from ..approval import APPROVERS, who
from ..errors import UsageError
from ..session import Agent, RunResult, Session, SessionConfig, run_agent
from .common import echo_json, log_option, log_path, open_log
from .headless import HeadlessPrinter


@dataclass
class RunOptions:
    """The options every agent-running command shares (see ``session_options``)."""

    repo: Path | None
    policy: str | None
    approver: str | None
    sandbox: str
    approval_timeout: float
    tools: tuple[str, ...]
    max_steps: int
    headless: bool
    as_json: bool
    ship: str | None

    def config(
        self, task: str, agent: str, *, model: str | None = None, workspace: Path | None = None
    ) -> SessionConfig:
        return SessionConfig(
            task=task,
            agent=agent,
            workspace=workspace or self.repo or Path.cwd(),
            model=model,
            policy=self.policy,
            approver=_choose_approver(self.approver, self.headless),
            sandbox=self.sandbox,
            approval_timeout=self.approval_timeout,
            tools=list(self.tools),
            max_steps=self.max_steps,
            log_path=log_path("running a session"),
            ship=self.ship or None,
        )

    def execute(self, config: SessionConfig, agent: Agent) -> RunResult:
        return execute(config, agent, headless=self.headless, as_json=self.as_json)


_SHARED = [f.name for f in fields(RunOptions)]


def session_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options to a command; it receives them as ``opts``."""

    @functools.wraps(f)
    def command(**kwargs: Any) -> Any:
        opts = RunOptions(**{name: kwargs.pop(name) for name in _SHARED})
        return f(opts=opts, **kwargs)

    options = [
        click.option(
            "--repo",
            "repo",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Workspace (default: the current directory).",
        ),
        click.option("--policy", help="Policy file, or a shipped name: default, strict."),
        click.option(
            "--approver",
            type=click.Choice(APPROVERS),
            help="Who decides 'ask' actions (default: the UI in a terminal, console with --headless "
            "on a terminal, deny-all without one).",
        ),
        click.option(
            "--sandbox",
            type=click.Choice(["auto", "bwrap", "none"]),
            default="auto",
            show_default=True,
            help="Confine shell commands with bubblewrap.",
        ),
        click.option(
            "--approval-timeout",
            type=click.FloatRange(min=1),
            default=600.0,
            show_default=True,
            help="Seconds to wait for a decision before denying.",
        ),
        click.option(
            "--tool",
            "tools",
            multiple=True,
            metavar="MODULE:ATTR|NAME",
            help="Add a Python or LangChain tool, or the opt-in plugin tool NAME.",
        ),
        click.option(
            "--max-steps",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Bound on the agent's steps.",
        ),
        click.option("--headless", is_flag=True, help="No UI: events as lines on stderr."),
        click.option(
            "--json",
            "as_json",
            is_flag=True,
            help="Print one JSON object with the outcome at the end.",
        ),
        click.option(
            "--ship",
            "ship",
            metavar="URL",
            envvar="OVERSEER_SHIP",
            help="Also ship the session to a team store (postgresql://... or any libpq "
            "connection string) as it runs; the local log stays the record.",
        ),
        log_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _choose_approver(approver: str | None, headless: bool) -> str:
    if approver:
        if approver == "tui" and (headless or not _interactive()):
            raise UsageError("--approver tui needs a terminal and no --headless")
        return approver
    if not headless and _interactive():
        return "tui"
    # Never silently approve: without a person at a terminal, deny.
    return "console" if sys.stdin.isatty() else "deny-all"


def _require_git(repo: Path | None, what: str) -> None:
    """The bisect agent needs history: say so before a session is recorded."""
    where = repo or Path.cwd()
    if not where.is_dir():
        return  # the session's own check names a missing workspace
    probe = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        raise UsageError(
            f"{where} is not a git repository; {what} needs one "
            "(run it inside a repository, or pass --repo PATH)"
        )


def execute(config: SessionConfig, agent: Agent, *, headless: bool, as_json: bool) -> RunResult:
    """Open a session, run the agent in it (UI or headless), print the outcome."""
    result: RunResult | None = None
    if config.approver == "tui":
        try:
            from overseer.tui.live import run_live
        except ImportError as exc:  # the UI is optional at run time: fall back, and say so
            click.echo(
                f"overseer: the terminal UI is unavailable ({exc}); running headless with the console approver",
                err=True,
            )
            config.approver = "console"
        else:
            result = run_live(lambda approver: Session.open(config, approver=approver), agent)
    if result is None:
        session = Session.open(config)
        printer = (
            HeadlessPrinter(prompts=config.approver == "console")
            if headless or not as_json
            else None
        )
        if printer is not None:
            session.log.subscribe(printer)
        if config.approver == "remote":
            click.echo(
                f"overseer: session {session.id} waits for decisions: `overseer attach {session.id}` "
                f"or `overseer pending` / `overseer approve {session.id} CALL_ID`",
                err=True,
            )
        from ..interrupts import session_signals

        # SIGINT, SIGTERM and SIGHUP end the session cleanly, recorded and sealed.
        try:
            with session_signals(session):
                result = run_agent(session, agent)
        finally:
            if printer is not None:
                printer.close()
    if result.shipping and not as_json:
        click.echo(f"overseer: {result.shipping}", err=True)
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False, default=str))
    else:
        click.echo(result.report)
        click.echo(
            f"\nsession {result.session}: {result.status}  (replay: overseer replay {result.session})"
        )
    return result


def _script_agent(path: Path) -> tuple[Agent, str]:
    """The script agent for a plan file, and the task it records: the plan's
    own ``"task"`` when it has one, else one that names the plan."""
    from pydantic import ValidationError

    from ..agent.script import Plan, ScriptAgent

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read plan {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: plan is not JSON ({exc.msg})") from exc
    task = data.pop("task", None) if isinstance(data, dict) else None
    if task is not None and (not isinstance(task, str) or not task.strip()):
        raise UsageError(f'{path}: "task" must be a non-empty string')
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(f"{path}: invalid plan at {where}: {first['msg']}") from exc
    steps = len(plan.steps)
    return ScriptAgent(plan, source=str(path)), task or (
        f"play the plan {path.name} ({steps} step{'' if steps == 1 else 's'})"
    )


@click.command()
@click.argument("task", required=False)
@click.option(
    "--model",
    help="PROVIDER:MODEL (e.g. anthropic:claude-sonnet-4-5) or module:attr of a chat model; "
    "options after '?': openai:gpt-4.1?streaming=true&temperature=0 (see docs/agents.md).",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="The model API's base URL: a local or compatible server (default: the provider's, "
    "or $OPENAI_BASE_URL / $ANTHROPIC_BASE_URL). No API key is needed for it.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Token budget for the session (input + output, all turns); the run stops, "
    "recorded, when it is spent.",
)
@click.option(
    "--agent",
    "agent_spec",
    default=None,
    help="llm (default with --model), bisect, or script:PLAN.json.",
)
@click.option("--test", help="Test command (bisect agent).")
@click.option("--good", help="Known good revision (bisect agent).")
@click.option("--bad", default="HEAD", show_default=True, help="Known bad revision (bisect agent).")
@session_options
def run(
    task: str | None,
    model: str | None,
    base_url: str | None,
    max_tokens: int | None,
    agent_spec: str | None,
    test: str | None,
    good: str | None,
    bad: str,
    opts: RunOptions,
) -> None:
    """Run an agent on TASK under policy, approval and the audit log.

    TASK is what an LLM agent is asked to do. The offline agents know their
    job without one: bisect records "find the commit that broke `TEST`", a
    script plan its own "task" (or one naming the plan)."""
    from ..agent import make_agent

    spec = agent_spec or ("llm" if model else None)
    if spec is None:
        raise UsageError(
            "give --model PROVIDER:MODEL for an LLM agent, or --agent bisect / script:PLAN.json"
        )
    if task is not None and not task.strip():
        raise UsageError(
            'TASK is empty; say what the agent should do, e.g. overseer run "fix the failing test" ...'
        )
    if spec.startswith("script:"):
        agent, default_task = _script_agent(Path(spec.removeprefix("script:")))
    else:
        if spec == "llm" and task is None:
            raise UsageError(
                'an LLM agent needs a TASK: overseer run "what to do" --model PROVIDER:MODEL'
            )
        agent = make_agent(
            spec,
            model=model,
            max_steps=opts.max_steps,
            max_tokens=max_tokens,
            base_url=base_url,
            test=test,
            good=good,
            bad=bad,
        )
        default_task = f"find the commit that broke `{test}`"  # bisect: the only other agent
    if spec == "bisect":
        _require_git(opts.repo, "the bisect agent")
    recorded = model
    if model and base_url:
        recorded = f"{model}{'&' if '?' in model else '?'}base_url={base_url}"
    config = opts.config(task or default_task, spec, model=recorded)
    sys.exit(opts.execute(config, agent).exit_code)


@click.command()
@click.option("--test", required=True, help="The failing test command, e.g. 'pytest -x'.")
@click.option("--good", help="A revision where the test passes (default: found by walking back).")
@click.option("--bad", default="HEAD", show_default=True, help="A revision where the test fails.")
@session_options
def bisect(test: str, good: str | None, bad: str, opts: RunOptions) -> None:
    """Find the first bad commit for a failing test command (the bisect agent)."""
    from ..agent.bisect import BisectAgent

    _require_git(opts.repo, "bisect")
    agent = BisectAgent(test=test, good=good, bad=bad)
    config = opts.config(f"find the commit that broke `{test}`", "bisect")
    sys.exit(opts.execute(config, agent).exit_code)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build the demo repository (default: a new temp dir).",
)
@session_options
def demo(directory: Path | None, opts: RunOptions) -> None:
    """Build a demo repository with a planted regression and bisect it."""
    from ..agent.bisect import BisectAgent
    from ..examples.demo_repo import build

    if opts.repo is not None:
        raise UsageError("demo builds its own repository; use --dir to choose where")
    if opts.policy is not None:
        from ..policy import load_policy

        load_policy(opts.policy)  # a broken policy is reported before anything is built
    target = directory or Path(tempfile.mkdtemp(prefix="overseer-demo-")) / "shopcart"
    try:
        facts = build(target)
    except FileExistsError as exc:
        raise UsageError(f"{exc}; choose an empty --dir") from exc
    if not opts.as_json:
        click.echo(f"overseer demo: built {target} (30 commits, tests fail at HEAD)", err=True)
    agent = BisectAgent(test=facts["test"])
    task = f"find the commit that broke `{facts['test']}` in the shopcart demo"
    # execute() prints the report (which names the first bad commit, or says
    # why none was found), the session id and how to replay it: a line of our
    # own after it only said the same thing again.
    result = opts.execute(opts.config(task, "bisect", workspace=target), agent)
    sys.exit(result.exit_code)


@click.command()
@click.argument("session_id")
@session_options
def rerun(session_id: str, opts: RunOptions) -> None:
    """Re-execute a recorded session's actions, each through the broker again."""
    from ..agent.script import Plan, ScriptAgent, Step

    with open_log() as log:
        sid = log.resolve(session_id)
        started = next(log.events(sid, kinds=["session_started"]), None)
        steps = [
            Step(tool=e.payload["tool"], args=e.payload["args"])
            for e in log.events(sid, kinds=["action_started"])
        ]
    if started is None:
        raise UsageError(f"session {sid} has no session_started event")
    workspace = opts.repo or Path(started.payload.get("workspace") or ".")
    agent = ScriptAgent(
        Plan(steps=steps, final=f"re-ran {len(steps)} actions of session {sid}"), source=sid
    )
    task = f"rerun of {sid}: {started.payload.get('task', '')}"
    config = opts.config(task, f"script:rerun:{sid}", workspace=workspace)
    sys.exit(opts.execute(config, agent).exit_code)


# -- talking to a running session ------------------------------------------


def _pending(log: Any, sid: str) -> list[dict[str, Any]]:
    asked: dict[str, dict[str, Any]] = {}
    for e in log.events(
        sid,
        kinds=[
            "approval_requested",
            "approval_decided",
            "question_asked",
            "question_answered",
            "session_ended",
        ],
    ):
        cid = str(e.payload.get("call_id"))
        if e.kind == "approval_requested":
            asked[cid] = {
                "session": sid,
                "call_id": cid,
                "kind": "approval",
                "tool": e.payload.get("tool"),
                "args": e.payload.get("args"),
                "args_hash": e.payload.get("args_hash"),
                "rule": e.payload.get("rule"),
                "reason": e.payload.get("reason"),
                "seq": e.seq,
                "ts": e.ts,
            }
        elif e.kind == "question_asked":
            asked[cid] = {
                "session": sid,
                "call_id": cid,
                "kind": "question",
                "tool": "ask_human",
                "question": e.payload.get("question"),
                "choices": e.payload.get("choices", []),
                "seq": e.seq,
                "ts": e.ts,
            }
        elif e.kind == "session_ended":
            asked.clear()
        else:
            asked.pop(cid, None)
    return list(asked.values())


@click.command()
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@log_option
def pending(session_id: str | None, as_json: bool) -> None:
    """List approvals and questions waiting for a decision."""
    with open_log() as log:
        sids = (
            [log.resolve(session_id)]
            if session_id
            else [s["id"] for s in log.sessions() if s["status"] == "running"]
        )
        rows = [p for sid in sids for p in _pending(log, sid)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("nothing is waiting")
    for p in rows:
        what = (
            p.get("question")
            if p["kind"] == "question"
            else json.dumps(p.get("args"), sort_keys=True)
        )
        click.echo(f"{p['session']}  {p['call_id']}  {p['kind']:8}  {p['tool']}: {what}")


@click.command()
@click.argument("session_id")
@click.argument("call_id")
@click.option("--deny", is_flag=True, help="Deny instead of approving.")
@click.option("--reason", default="", help="Why (sent to the agent on a deny).")
@click.option("--answer", help="Answer to an ask_human question.")
@log_option
def approve(session_id: str, call_id: str, deny: bool, reason: str, answer: str | None) -> None:
    """Decide a pending approval (or answer a question) of a running session."""
    with open_log() as log:
        sid = log.resolve(session_id)
        waiting = {p["call_id"]: p for p in _pending(log, sid)}
        req = waiting.get(call_id)
        if req is None:
            raise UsageError(
                f"nothing in session {sid} waits on call {call_id!r}; see `overseer pending {sid}`"
            )
        payload: dict[str, Any] = {
            "call_id": call_id,
            "decision": "deny" if deny else "approve",
            "reason": reason,
        }
        if req["kind"] == "question":
            if answer is None and not deny:
                raise UsageError("this is a question: give --answer TEXT")
            payload["answer"] = answer
        else:
            payload["args_hash"] = req[
                "args_hash"
            ]  # binds the decision to the args that were shown
        log.post(sid, "decision", payload, by=who())
    click.echo(f"{payload['decision']} sent for {call_id} in session {sid}")


@click.command()
@click.argument("session_id")
@click.argument("text")
@log_option
def say(session_id: str, text: str) -> None:
    """Send a steering message to a running agent (read before its next turn)."""
    with open_log() as log:
        sid = log.resolve(session_id)
        if log.session(sid)["status"] != "running":
            raise UsageError(f"session {sid} is not running")
        log.post(sid, "message", {"text": text}, by=who())
    click.echo(f"message queued for session {sid}")


def _grants(log: Any, sid: str) -> list[dict[str, Any]]:
    live: dict[str, dict[str, Any]] = {}
    for e in log.events(sid, kinds=["grant_added", "grant_revoked"]):
        if e.kind == "grant_added":
            live[e.payload["grant_id"]] = {**e.payload, "seq": e.seq}
        else:
            live.pop(e.payload["grant_id"], None)
    return list(live.values())


@click.command()
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@log_option
def grants(session_id: str, as_json: bool) -> None:
    """List a session's live "always allow" grants."""
    with open_log() as log:
        rows = _grants(log, log.resolve(session_id))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no grants")
    for g in rows:
        click.echo(f"{g['grant_id']}  {g.get('description')}  (by {g.get('by')}, seq {g['seq']})")


@click.command()
@click.argument("session_id")
@click.argument("grant_id")
@click.option("--reason", default="", help="Why, for the record.")
@log_option
def revoke(session_id: str, grant_id: str, reason: str) -> None:
    """Revoke a grant; a running session stops using it before its next decision."""
    with open_log() as log:
        sid = log.resolve(session_id)
        if grant_id not in {g["grant_id"] for g in _grants(log, sid)}:
            raise UsageError(
                f"session {sid} has no live grant {grant_id!r}; see `overseer grants {sid}`"
            )
        if log.session(sid)["status"] == "running":
            log.post(sid, "revoke", {"grant_id": grant_id, "reason": reason}, by=who())
            click.echo(f"revocation of {grant_id} sent to session {sid}")
        else:
            log.append(sid, "grant_revoked", {"grant_id": grant_id, "by": who(), "reason": reason})
            click.echo(f"grant {grant_id} revoked (session {sid} is not running)")


COMMANDS = [run, bisect, demo, rerun, pending, approve, say, grants, revoke]
