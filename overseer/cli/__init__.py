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


@click.group(cls=OverseerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="overseer")
@log_option
def cli() -> None:
    """overseer: run a coding agent under policy, human approval and a tamper-evident log."""


for _cmd in LOG_COMMANDS:
    cli.add_command(_cmd)


def _register_command_modules() -> None:
    """Every ``overseer/cli/*_cmds.py`` module contributes its ``COMMANDS``."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.endswith("_cmds") and info.name != "log_cmds":
            module = importlib.import_module(f"{__name__}.{info.name}")
            for command in getattr(module, "COMMANDS", []):
                cli.add_command(command)


_register_command_modules()


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
