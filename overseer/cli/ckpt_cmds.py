"""Signed checkpoints on the command line: the key, the notes, proofs, and
`overseer verify` of exported files and proof files (no DB needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import OverseerError, UsageError
from ..log import keys
from ..log.checkpoints import Checkpoint
from ..log.jsonl import atomic_output
from ..log.note import NoteError, Verifier
from ..log.verify import VerifyResult, sealing_text
from .common import echo_json, log_option, open_local_log, open_log


@click.group()
def key() -> None:
    """The Ed25519 key that signs this machine's checkpoints."""


@key.command("show")
@click.option(
    "--pem", is_flag=True, help="Also print the public key as PEM (SubjectPublicKeyInfo)."
)
@click.option(
    "--name",
    help="The key's name when it is created (default overseer-USER@HOST); "
    "an existing key keeps its own.",
)
def key_show(pem: bool, name: str | None) -> None:
    """Print the verifier key (C2SP NAME+KEYID+KEY) auditors need; creates the key on first use."""
    signer = keys.load_signer(create=True, name=name)
    assert signer is not None
    click.echo(signer.verifier.vkey)
    if pem:
        click.echo(signer.public_pem(), nl=False)


def _notes(session_id: str) -> tuple[str, list[str]]:
    with open_log() as log:
        sid = log.resolve(session_id)
        notes = log.checkpoint_notes(sid)
    if not notes:
        raise OverseerError(
            f"session {sid} has no signed checkpoint (sealed with HMAC before checkpoints, "
            "or its process died before its first one)"
        )
    return sid, notes


@click.command()
@click.argument("session_id")
@click.option(
    "--all", "all_", is_flag=True, help="Every checkpoint in order, a blank line between notes."
)
@log_option
def checkpoint(session_id: str, all_: bool) -> None:
    """Print a session's latest signed checkpoint note exactly as signed."""
    _sid, notes = _notes(session_id)
    if all_:
        click.echo("\n".join(notes), nl=False)
        return
    sizes = []
    for i, note in enumerate(notes):
        try:
            sizes.append((Checkpoint.parse(note).size, i))
        except NoteError:
            continue
    latest = notes[max(sizes)[1]] if sizes else notes[-1]
    click.echo(latest, nl=False)


@click.command()
@click.argument("session_id")
@click.argument("seq", type=int, required=False)
@click.option(
    "--consistency",
    "old_size",
    type=int,
    help="Prove instead that the latest checkpoint extends the tree of OLD_SIZE events.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@log_option
def prove(session_id: str, seq: int | None, old_size: int | None, output: Path | None) -> None:
    """Write an inclusion proof for event SEQ (or a consistency proof) as JSON."""
    from ..log.proofs import prove_consistency, prove_inclusion

    if (seq is None) == (old_size is None):
        raise click.UsageError("give a SEQ or --consistency OLD_SIZE (not both)")
    with open_local_log("prove") as log:
        if seq is not None:
            doc = prove_inclusion(log, session_id, seq)
        else:
            assert old_size is not None
            doc = prove_consistency(log, session_id, old_size)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_output(output) as fh:
        fh.write(text)
    what = f"event {seq}" if seq is not None else f"growth from {old_size} events"
    click.echo(f"wrote a proof of {what} of session {doc['session_id']} to {output}", err=True)


# -- verify of files (called by `overseer verify`) ------------------------------


def trusted_keys(specs: tuple[str, ...]) -> list[Verifier]:
    return keys.parse_trusted(specs)


def _not_trusted_line(named: list[str]) -> str:
    who = ", ".join(named) if named else "none"
    return (
        "signatures NOT checked against a trusted key: only against the key(s) the file names "
        f"itself ({who}); pass --key VKEY to check who signed"
    )


def verify_file(path: Path, specs: tuple[str, ...], as_json: bool) -> bool:
    from ..log.portable import verify_export

    trusted = trusted_keys(specs) if specs else None
    verdict = verify_export(path, trusted)
    r = verdict.result
    if as_json:
        echo_json(
            {
                "ok": r.ok,
                "file": str(path),
                "trusted_keys_given": bool(specs),
                "named_keys": verdict.named_keys,
                "hmac_sealed": verdict.hmac_sealed,
                "session": r.model_dump(),
            }
        )
        return r.ok
    click.echo(f"{path}: session {r.session_id}, {r.events} events")
    if not r.ok:
        click.echo(f"{r.session_id}  BROKEN at seq {r.first_broken_seq}: {r.kind} — {r.detail}")
    else:
        click.echo(f"{r.session_id}  ok  {describe(r)}")
    if verdict.hmac_sealed:
        click.echo(
            "  sealed with HMAC (before signed checkpoints): its seals can be checked only "
            "where its key is (import the file there and run `overseer verify ID`)"
        )
    if not specs:
        click.echo("  " + _not_trusted_line(verdict.named_keys))
    return r.ok


def verify_proof_file(path: Path, specs: tuple[str, ...], as_json: bool) -> bool:
    from ..log.proofs import load_proof, proof_keys, verify_proof

    trusted = trusted_keys(specs) if specs else None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    doc = load_proof(data, str(path))
    named = proof_keys(doc)
    res = verify_proof(doc, trusted if trusted is not None else named)
    if as_json:
        out: dict[str, Any] = {"file": str(path), "trusted_keys_given": bool(specs), **vars(res)}
        echo_json(out)
        return res.ok
    what = "inclusion" if res.format.startswith("overseer-inclusion") else "consistency"
    if res.ok:
        click.echo(f"{path}: {what} proof ok")
        for fact in res.facts:
            click.echo(f"  {fact}")
    else:
        click.echo(f"{path}: {what} proof BROKEN: {res.kind} — {res.detail}")
    if not specs:
        click.echo("  " + _not_trusted_line([k.vkey for k in named]))
    return res.ok


def describe(r: VerifyResult) -> str:
    """One line for a verified session: what sealed it and what is left over."""
    text = f"{r.events} events, {sealing_text(r)}"
    if r.untrusted:
        text += f"; also signed by keys not trusted here: {', '.join(r.untrusted)}"
    return text


def exit_on(ok: bool) -> None:
    if not ok:
        sys.exit(3)


COMMANDS = [key, checkpoint, prove]
