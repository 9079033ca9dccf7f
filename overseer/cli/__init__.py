"""The `overseer` command line. Each command group lives in its own module
and is registered here; `main` is the console-script entry point."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from .. import __version__
from .common import OverseerGroup, log_option
from .log_cmds import COMMANDS as LOG_COMMANDS
from .log_cmds import export_jsonl

# Which module holds each command, so that a command imports only its own
# module (`overseer show` need not load the flag detector, the session and
# the agents: start-up is paid by every call). Every `*_cmds.py` module's
# COMMANDS must be listed here; tests/test_cli_commands.py checks both ways.
COMMAND_MODULES: dict[str, str] = {
    "audit": "audit_cmds",
    "search": "audit_cmds",
    "flags": "audit_cmds",
    "prune": "audit_cmds",
    "key": "ckpt_cmds",
    "checkpoint": "ckpt_cmds",
    "prove": "ckpt_cmds",
    "policy": "policy_cmds",
    "run": "run_cmds",
    "bisect": "run_cmds",
    "demo": "run_cmds",
    "rerun": "run_cmds",
    "pending": "run_cmds",
    "approve": "run_cmds",
    "say": "run_cmds",
    "grants": "run_cmds",
    "revoke": "run_cmds",
    "ship": "ship_cmds",
    "tools": "tools_cmds",
    "trust": "trust_cmds",
    "replay": "ui_cmds",
    "attach": "ui_cmds",
    "undo": "undo_cmds",
}


class _LazyGroup(OverseerGroup):
    """Commands of ``COMMAND_MODULES`` are imported when they are invoked
    (or listed, for ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMAND_MODULES:
            return found
        import importlib

        module = importlib.import_module(f"{__name__}.{COMMAND_MODULES[cmd_name]}")
        for command in getattr(module, "COMMANDS", []):
            if command.name == cmd_name:
                return command  # type: ignore[no-any-return]
        return None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overseer")
@log_option
def cli() -> None:
    """overseer: run a coding agent under policy, human approval and a tamper-evident log."""


for _cmd in LOG_COMMANDS:
    cli.add_command(_cmd)


EXPORT_FORMATS = ["jsonl", "html", "md"]


@cli.command()
@click.argument("session_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="jsonl",
    show_default=True,
    help="jsonl (re-importable), html (one self-contained page) or md (Markdown for a review).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of stdout.",
)
@log_option
def export(session_id: str, fmt: str, output: Path | None) -> None:
    """Export a session: JSONL round-trips through `overseer import`; html and md are for people."""
    if fmt == "jsonl":
        export_jsonl(session_id, output)
        return
    from .reports import export_report

    export_report(session_id, fmt, output)


def _tolerant_output() -> None:
    """Recorded text may hold lone surrogates (undecodable bytes from file
    names, arguments, tool output): printed, they become visible ``\\udcXX``
    escapes instead of a UnicodeEncodeError halfway through a transcript."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _tolerant_output()
    cli.main(prog_name="overseer")
