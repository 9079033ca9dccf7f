"""`overseer policy ...`: judge commands and calls with a policy, run a
policy's inline examples, print a shipped policy.

    overseer policy check [--policy P] [--workspace DIR] [--json] -- COMMAND...
    overseer policy check --stdin [--json] < commands.txt
    overseer policy check --tool NAME --args JSON
    overseer policy test FILE
    overseer policy show [NAME|FILE]

``check`` exits 0 whatever the decision (it prints it); 2 on a usage error
or an invalid policy.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from ..policy import Verdict, facts_from_args, load_policy, read_policy_text
from ..policy.base import Policy
from ..toolapi import Facts
from .common import echo_json, log_option


def _reasons(verdict: Verdict) -> list[str]:
    """Why: the reasons of the parts that decided (all parts when allowed)."""
    out: list[str] = []
    parts = verdict.parts
    deciding = [p for p in parts if p.decision == verdict.decision] or parts
    for p in deciding:
        if p.reason and p.reason not in out:
            out.append(p.reason)
    if not out and verdict.reason:
        out.append(verdict.reason)
    return out


def _command_json(command: str, verdict: Verdict) -> dict[str, Any]:
    return {
        "command": command,
        "decision": verdict.decision,
        "rule": verdict.rule,
        "reasons": _reasons(verdict),
        "network": verdict.network,
        "parts": [
            {
                "command": p.command,
                "decision": p.decision,
                "rule": p.rule,
                "reason": p.reason,
                "argv": p.argv,
                "hard": p.hard,
            }
            for p in verdict.parts
        ],
    }


def _print_text(label: str, verdict: Verdict) -> None:
    click.echo(f"{verdict.decision}: {label}")
    if verdict.parts:
        width = min(max(len(_one_line(p.command)) for p in verdict.parts), 50)
        for p in verdict.parts:
            rule = p.rule or "default"
            hard = " (hard)" if p.hard else ""
            click.echo(
                f"  {p.decision:5}  {_one_line(p.command)[:50]:{width}}  [{rule}]{hard} {p.reason}"
            )
    else:
        click.echo(f"  [{verdict.rule or 'default'}] {verdict.reason}")


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text else text


def _judge_command(policy: Policy, command: str, workspace: Path, sandbox: str) -> Verdict:
    # Exactly what the shell tool sends: tool "shell", the command as its fact.
    facts = Facts(commands=[command], sandbox=sandbox)
    return policy.decide("shell", {"command": command}, facts, workspace)


def _sandbox_name(mode: str) -> str:
    """What a session would run commands in: auto is bwrap where it works."""
    if mode != "auto":
        return mode
    from ..sandbox import bwrap_status

    return "bwrap" if bwrap_status()[0] else "none"


@click.group()
def policy() -> None:
    """Judge commands with a policy, and test policy files."""


@policy.command()
@click.option(
    "--policy",
    "policy_name",
    default="default",
    show_default=True,
    help="A shipped policy (default, strict) or a TOML file.",
)
@click.option(
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Workspace to judge paths against (default: the current directory).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per command).")
@click.option(
    "--stdin", "from_stdin", is_flag=True, help="Judge one command per line of standard input."
)
@click.option(
    "--tool", "tool_name", default=None, help="Judge a call of this (non-shell) tool instead."
)
@click.option(
    "--args", "args_json", default=None, help="The tool call's arguments, as a JSON object."
)
@click.option(
    "--sandbox",
    type=click.Choice(["auto", "bwrap", "none"]),
    default="auto",
    show_default=True,
    help="Judge as if commands run in this sandbox (auto: bwrap where it works here); "
    "code from the workspace (pytest, make...) asks without one.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@log_option
def check(
    policy_name: str,
    workspace: Path | None,
    as_json: bool,
    from_stdin: bool,
    tool_name: str | None,
    args_json: str | None,
    sandbox: str,
    command: tuple[str, ...],
) -> None:
    """Judge one shell command (or --stdin lines, or a --tool call) and print the decision.

    Give the command as one quoted argument to keep shell syntax
    (`-- "ls | wc -l"`); several arguments are one simple command, each a word.
    For --tool, facts come from the args: `command` is a shell command; path
    arguments (path, file, file_path, paths, dest...) are writes when the tool
    name says it changes files (write, edit, create, delete, move...), reads
    otherwise.
    """
    modes = sum([bool(command), from_stdin, tool_name is not None])
    if modes == 0:
        raise click.UsageError("give a COMMAND (after --), --stdin, or --tool NAME --args JSON")
    if modes > 1:
        raise click.UsageError("give only one of: a COMMAND, --stdin, --tool")
    if args_json is not None and tool_name is None:
        raise click.UsageError("--args goes with --tool")
    ws = workspace if workspace is not None else Path.cwd()
    pol = load_policy(policy_name)
    box = _sandbox_name(sandbox)

    if tool_name is not None:
        try:
            args = json.loads(args_json) if args_json else {}
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--args is not valid JSON: {exc}") from None
        if not isinstance(args, dict):
            raise click.UsageError("--args must be a JSON object")
        facts = facts_from_args(tool_name, args)
        if facts.commands or "runs_code" in facts.risk:
            facts.sandbox = box
        verdict = pol.decide(tool_name, args, facts, ws)
        if as_json:
            out = _command_json(facts.commands[0], verdict) if facts.commands else {}
            out.update(
                {
                    "tool": tool_name,
                    "args": args,
                    "decision": verdict.decision,
                    "rule": verdict.rule,
                    "reasons": _reasons(verdict),
                    "network": verdict.network,
                    "facts": facts.model_dump(),
                }
            )
            out.setdefault("parts", [])
            echo_json(out)
        else:
            _print_text(f"{tool_name} {json.dumps(args, ensure_ascii=False)}", verdict)
        return

    if from_stdin:
        for line in sys.stdin:
            cmd = line.rstrip("\n").rstrip("\r")
            if not cmd.strip():
                continue
            verdict = _judge_command(pol, cmd, ws, box)
            if as_json:
                click.echo(json.dumps(_command_json(cmd, verdict), ensure_ascii=False))
            else:
                _print_text(cmd, verdict)
        return

    cmd = command[0] if len(command) == 1 else shlex.join(command)
    verdict = _judge_command(pol, cmd, ws, box)
    if as_json:
        echo_json(_command_json(cmd, verdict))
    else:
        _print_text(cmd, verdict)


@policy.command(name="test")
@click.argument("policy_file")
@click.option("--json", "as_json", is_flag=True, help="Print every example's result as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="List passing examples too.")
def test_cmd(policy_file: str, as_json: bool, verbose: bool) -> None:
    """Run a policy's inline match/not_match examples. Exit 1 if one fails.

    POLICY_FILE is a TOML file or a shipped policy name (default, strict).
    """
    pol = load_policy(policy_file, examples=False)
    results = pol.run_examples()
    failed = [r for r in results if not r.ok]
    if as_json:
        echo_json(
            {
                "policy": pol.source,
                "examples": len(results),
                "failed": len(failed),
                "results": [
                    {
                        "rule": r.rule,
                        "kind": r.kind,
                        "example": r.example,
                        "ok": r.ok,
                        "decision": r.decision,
                        "deciding_rule": r.deciding_rule,
                        "reason": r.reason,
                        "line": r.line,
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            if not r.ok:
                click.echo(f"FAIL {r.message(pol.source)}")
            elif verbose:
                click.echo(f"ok   rule {r.rule!r}: {r.kind} {r.example!r} -> {r.decision}")
        click.echo(f"{pol.source}: {len(results)} examples, {len(failed)} failed")
    if failed:
        click.get_current_context().exit(1)


@policy.command()
@click.argument("name", default="default")
def show(name: str) -> None:
    """Print a policy's TOML (a shipped name or a file), e.g. to start your own."""
    click.echo(read_policy_text(name), nl=False)


COMMANDS = [policy]
