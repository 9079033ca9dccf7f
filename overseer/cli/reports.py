"""``export --format html|md`` on the command line: the log the ``--log``
option names, the report written to stdout or a file, and a warning when the
chain is broken. The report itself is the auditor's (``overseer.audit.report``);
only this I/O is the CLI's, which is why it lives here and not in
``overseer.audit`` (that would make the auditor import the command line, and
the command line imports the auditor)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..audit import report
from ..log.jsonl import atomic_output
from .common import open_log


def export_report(session_id: str, fmt: str, output: Path | None) -> None:
    with open_log() as log:
        text, rec = report(log, session_id, fmt)
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
