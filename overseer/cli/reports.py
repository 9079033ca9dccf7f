"""The ``export --format html|md`` back end of the CLI (the pages
themselves are the auditor's: ``overseer.audit.html`` / ``markdown``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..audit.html import render_html
from ..audit.markdown import render_markdown
from ..audit.timeline import load_session
from ..log.jsonl import atomic_output
from .common import open_log


def export_report(session_id: str, fmt: str, output: Path | None) -> None:
    with open_log() as log:
        rec = load_session(log, session_id, verify=True)
    text = render_html(rec) if fmt == "html" else render_markdown(rec)
    v = rec.verify
    if output is None:
        sys.stdout.write(text)
    else:
        with atomic_output(output) as fh:
            fh.write(text)
        click.echo(f"wrote {fmt} report of session {rec.id} to {output}", err=True)
    if v is not None and not v.ok:
        # The report says so too; whoever exports it should not miss it.
        click.echo(
            f"overseer: warning: the chain of session {rec.id} is BROKEN at seq "
            f"{v.first_broken_seq} ({v.kind}); the report says so",
            err=True,
        )
