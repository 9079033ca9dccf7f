"""`overseer run` end to end in a real process, against a local stub model
server: the main path through the CLI, a missing key, and SIGINT / SIGTERM /
SIGHUP while a model call or an action is in flight — the call or action ends
within 2 s, `session_ended` is recorded as terminated with the signal, the log
verifies, the exit code is 128 + the signal's number, and a second signal
never leaves a half-written session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from overseer.log import AuditLog
from tests.helpers.stub_llm import Call, Hang, Reply, StubServer

ROOT = Path(__file__).resolve().parent.parent


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ANTHROPIC_")) and k != "OVERSEER_LOG"
    }
    env.update(OVERSEER_HOME=str(home), PYTHONPATH=str(ROOT), **extra)
    return env


def overseer(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "overseer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=kw.get("cwd"),
    )


@pytest.fixture
def where(tmp_path: Path, make_repo: Any, overseer_home: Path) -> dict[str, Any]:
    repo = make_repo({"README.md": "# demo\n", "app.py": "x = 1\n"})
    return {"repo": repo, "db": tmp_path / "audit.db", "env": _env(overseer_home)}


def run_args(where: dict[str, Any], *extra: str) -> list[str]:
    return [
        "run",
        "look around",
        "--repo",
        str(where["repo"]),
        "--log",
        str(where["db"]),
        "--headless",
        "--approver",
        "deny-all",
        "--sandbox",
        "none",
        *extra,
    ]


def only_session(db: Path) -> tuple[str, list[tuple[str, dict[str, Any]]], bool]:
    with AuditLog(db, create=False) as log:
        [s] = log.sessions()
        events = [(e.kind, e.payload) for e in log.events(s["id"])]
        ok = all(r.ok for r in log.verify(s["id"]))
    return s["id"], events, ok


def ended_after(db: Path, sent: float) -> float:
    """Seconds from ``sent`` (wall clock) to the recorded session_ended: how long
    the interrupted call or action took to end and the session to be closed.
    (The process's own exit, unloading LangChain, is not part of it.)"""
    with AuditLog(db, create=False) as log:
        [s] = log.sessions()
        [ended] = list(log.events(s["id"], kinds=["session_ended"]))
    return ended.ts / 1e9 - sent


def test_overseer_run_against_a_local_openai_server(where):
    script = [
        Reply("Looking.", [Call("list_dir", {"path": "."}, "l1")]),
        Reply("The repository holds README.md and app.py."),
    ]
    with StubServer("openai", script) as stub:
        proc = overseer(
            *run_args(
                where, "--model", "openai:local-model", "--base-url", stub.base_url, "--json"
            ),
            env=where["env"],
        )
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "completed" and "app.py" in result["final"]
    tool_msgs = [m for m in stub.requests[1].body["messages"] if m["role"] == "tool"]
    assert tool_msgs[0]["tool_call_id"] == "l1" and "app.py" in tool_msgs[0]["content"]
    # No key was set: the local server got the placeholder, the run did not ask for one.
    assert stub.requests[0].headers["authorization"] == "Bearer no-key-set"
    _sid, events, ok = only_session(where["db"])
    started = events[0][1]
    assert started["model"] == f"openai:local-model?base_url={stub.base_url}"
    assert ok


def test_a_missing_key_stops_before_any_session(where):
    proc = overseer(*run_args(where, "--model", "anthropic:claude-sonnet-4-5"), env=where["env"])
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "set ANTHROPIC_API_KEY" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not where["db"].exists() or not AuditLog(where["db"]).sessions()


def _wait_for(pred: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]
)
def test_a_signal_during_a_model_call_ends_the_session_cleanly(where, sig, code):
    with StubServer("anthropic", [Hang(60)]) as stub:
        proc = overseer(
            *run_args(where, "--model", "anthropic:claude-x?streaming=true"),
            env={**where["env"], "ANTHROPIC_BASE_URL": stub.base_url},
        )
        _wait_for(stub.entered.is_set)
        sent = time.time()
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert ended_after(where["db"], sent) < 2.0
    assert "Traceback" not in err
    name = signal.Signals(sig).name
    _sid, events, ok = only_session(where["db"])
    assert ok
    kinds = [k for k, _p in events]
    assert kinds[-2:] == ["session_ended", "seal"]
    ended = events[-2][1]
    assert ended["status"] == "terminated" and ended["summary"]["signal"] == name
    assert name in ended["final"]
    turns = [p for k, p in events if k == "model_turn"]
    assert turns[-1]["error"] == f"abandoned: the session was interrupted by {name} mid-call"


def test_a_second_ctrl_c_never_leaves_a_half_written_session(where):
    with StubServer("openai", [Hang(60)]) as stub:
        proc = overseer(
            *run_args(where, "--model", "openai:m", "--base-url", stub.base_url), env=where["env"]
        )
        _wait_for(stub.entered.is_set)
        for _ in range(4):  # an impatient person
            proc.send_signal(signal.SIGINT)
            time.sleep(0.03)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    _sid, events, ok = only_session(where["db"])
    assert ok and [k for k, _p in events][-2:] == ["session_ended", "seal"]


def _action_running(db: Path) -> bool:
    if not db.exists():
        return False
    with AuditLog(db, create=False) as log:
        sessions = log.sessions()
        return bool(sessions) and any(
            e.kind == "action_started" for e in log.events(sessions[0]["id"])
        )


def _sigterm_while_acting(where: dict[str, Any], proc: subprocess.Popen[str]) -> list[Any]:
    _wait_for(lambda: _action_running(where["db"]))
    time.sleep(0.3)  # the command is running
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert ended_after(where["db"], sent) < 2.0
    _sid, events, ok = only_session(where["db"])
    assert ok
    ended = [p for k, p in events if k == "session_ended"][0]
    assert ended["status"] == "terminated" and ended["summary"]["signal"] == "SIGTERM"
    return events


def test_sigterm_ends_a_running_action_of_the_script_agent(where, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {"steps": [{"tool": "shell", "args": {"command": "sleep 30"}}], "final": "slept"}
        )
    )
    proc = overseer(*run_args(where, "--agent", f"script:{plan}"), env=where["env"])
    events = _sigterm_while_acting(where, proc)
    [finished] = [p for k, p in events if k == "action_finished"]
    # The command was ended (SIGTERM to its process group) and recorded as it ended.
    assert finished["status"] in ("failed", "terminated") and finished["exit_code"] in (143, None)


def test_sigterm_ends_a_running_action_of_the_bisect_agent(where):
    args = run_args(where, "--agent", "bisect", "--test", "sleep 30", "--good", "HEAD")
    # Workspace code without a sandbox asks: approve it, this test is about the signal.
    args[args.index("--approver") + 1] = "approve-all"
    proc = overseer(*args, env=where["env"])
    events = _sigterm_while_acting(where, proc)
    assert [p for k, p in events if k == "action_finished"]


def test_verify_says_when_a_session_never_ended(where):
    with StubServer("openai", [Hang(60)]) as stub:
        proc = overseer(
            *run_args(where, "--model", "openai:m", "--base-url", stub.base_url), env=where["env"]
        )
        _wait_for(stub.entered.is_set)
        proc.kill()  # SIGKILL: nothing can be recorded
        proc.communicate(timeout=30)
    res = subprocess.run(
        [sys.executable, "-m", "overseer", "verify", "--all", "--log", str(where["db"])],
        capture_output=True,
        text=True,
        env=where["env"],
    )
    assert "NEVER ENDED: no session_ended record" in res.stdout, res.stdout


def test_the_real_model_smoke_script_runs_against_a_local_server(where):
    """The script users run with a real key, pointed at the stub instead."""
    script = [
        Reply("", [Call("read_file", {"path": "calc.py"}, "r1")]),
        Reply("add() subtracts: calc.py returns a - b."),
    ]
    with StubServer("openai", script) as stub:
        res = subprocess.run(
            ["bash", str(ROOT / "examples" / "smoke_real_model.sh"), "openai:smoke-model"],
            capture_output=True,
            text=True,
            env={
                **where["env"],
                "OPENAI_BASE_URL": stub.base_url,
                "OVERSEER": str(Path(sys.executable).parent / "overseer"),
            },
            timeout=120,
        )
    assert res.returncode == 0, res.stderr
    assert "a - b" in res.stdout and " ok " in res.stdout
    assert [t for t in tool_results_openai(stub.requests[1].body) if "return a - b" in t]


def tool_results_openai(body: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in body["messages"] if m.get("role") == "tool"]


def test_sighup_to_the_live_ui_ends_the_session_cleanly(where):
    """The terminal closes under the Textual UI: the app leaves, the session is
    ended (terminated, SIGHUP), sealed, and the process exits 129."""
    import pexpect

    args = [a for a in run_args(where, "--model", "openai:m") if a not in ("--headless",)]
    args[args.index("--approver") + 1] = "tui"
    with StubServer("openai", [Hang(60)]) as stub:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "overseer", *args, "--base-url", stub.base_url],
            env=where["env"],
            dimensions=(40, 120),
            timeout=60,
        )
        try:
            _wait_for(stub.entered.is_set, timeout=60)
            sent = time.time()
            child.kill(signal.SIGHUP)
            child.expect(pexpect.EOF, timeout=30)
        finally:
            child.close(force=True)
    assert child.exitstatus == 129, (child.exitstatus, child.signalstatus)
    assert ended_after(where["db"], sent) < 2.0
    _sid, events, ok = only_session(where["db"])
    assert ok
    ended = [p for k, p in events if k == "session_ended"][0]
    assert ended["status"] == "terminated" and ended["summary"]["signal"] == "SIGHUP"
