"""What every CLI command shares: the ``--log`` option, opening the log,
JSON output, and turning errors into one-line messages with exit codes.

Exit codes: 0 ok, 1 failure (or the agent failed), 2 usage error, 3 verify
found a break, 4 terminated by a person.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..errors import OverseerError
from ..log import AuditLog, EventStore, local_log_path, open_store

F = TypeVar("F", bound=Callable[..., Any])


def _remember_log(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        ctx.ensure_object(dict)["log"] = value
    return value


def log_option(f: F) -> F:
    """``--log PATH|URL`` on a command (it is also accepted before the command)."""
    return click.option(
        "--log",
        "log_path",
        metavar="PATH|URL",
        envvar="OVERSEER_LOG",
        callback=_remember_log,
        expose_value=False,
        is_eager=True,
        help="Audit DB to use (default: $OVERSEER_LOG or the user data dir), "
        "or a team store: postgresql://...",
    )(f)


def log_location() -> str | None:
    """What --log / OVERSEER_LOG named (a path or a store URL), if anything."""
    ctx = click.get_current_context()
    root = ctx.find_root()
    location = (root.obj or {}).get("log") or (ctx.obj or {}).get("log")
    return str(location) if location else None


def log_path(what: str = "this command") -> Path | None:
    """The local log file named by --log (None: the default); a store URL is
    a usage error, for what only a local log can do."""
    return local_log_path(log_location(), what)


def open_log(*, create: bool = False) -> EventStore:
    """Open the store chosen by --log / OVERSEER_LOG / the default.

    A log the user named must exist unless ``create``; the default log is
    created on first use, so a new user's `overseer sessions` says "none yet".
    A ``postgresql://`` URL opens the team store.
    """
    return open_store(log_location(), create=create)


def open_local_log(what: str, *, create: bool = False) -> AuditLog:
    """The local log, for what a team store cannot do (import, prune, undo)."""
    path = log_path(what)
    return AuditLog(path, create=create or path is None)


def echo_json(value: Any) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (undecodable bytes in recorded text) has no UTF-8
        # form; as a \u escape it is still valid JSON that reads back the same.
        text = json.dumps(value, indent=2, ensure_ascii=True, default=str)
    click.echo(text)


class OverseerGroup(click.Group):
    """A click group whose errors are one line on stderr with a fixed exit code."""

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        extra.pop("standalone_mode", None)
        try:
            rv = super().main(
                args=args, prog_name=prog_name or "overseer", standalone_mode=False, **extra
            )
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            # `overseer` alone: the help, as a help request, not an error.
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"overseer: error: {exc.format_message()}{where}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("overseer: aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"overseer: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except OverseerError as exc:
            click.echo(f"overseer: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(1)
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting.
        sys.exit(rv if isinstance(rv, int) else 0)
