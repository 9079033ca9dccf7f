"""The ``export --format html|md`` back end of the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli.common import open_log
from ..errors import UsageError
from .html import render_html
from .markdown import render_markdown
from .timeline import load_session


def export_report(session_id: str, fmt: str, output: Path | None) -> None:
    with open_log() as log:
        rec = load_session(log, session_id, verify=True)
    text = render_html(rec) if fmt == "html" else render_markdown(rec)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc
    click.echo(f"wrote {fmt} report of session {rec.id} to {output}", err=True)
