"""An independent verifier written from logs/README.md alone — it imports
nothing from overseer — checks the shipped sample with its verifier key, and
one of overseer's inclusion proofs. If the formats drift from the document,
this fails."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SAMPLE = Path(__file__).resolve().parent.parent / "logs" / "samples" / "demo-bisect.jsonl"
sha = hashlib.sha256


class Broken(Exception):
    pass


def mth(leaf_inputs: list[bytes]) -> bytes:
    if not leaf_inputs:
        return sha(b"").digest()
    if len(leaf_inputs) == 1:
        return sha(b"\x00" + leaf_inputs[0]).digest()
    k = 1 << ((len(leaf_inputs) - 1).bit_length() - 1)
    return sha(b"\x01" + mth(leaf_inputs[:k]) + mth(leaf_inputs[k:])).digest()


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    name, hex_id, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 1 and len(raw) == 33
    key_id = sha(name.encode() + b"\n" + raw).digest()[:4]
    assert key_id.hex() == hex_id
    return name, key_id, raw[1:]


def open_checkpoint(note: str, trusted: tuple[str, bytes, bytes]) -> tuple[str, int, bytes]:
    cut = note.rindex("\n\n")
    text, sig_lines = note[: cut + 1], note[cut + 2 :].splitlines()
    name, key_id, public = trusted
    good = False
    for line in sig_lines:
        assert line.startswith("\u2014 ")
        who, b64 = line[2:].split(" ")
        sig = base64.b64decode(b64)
        if who == name and sig[:4] == key_id:
            try:
                Ed25519PublicKey.from_public_bytes(public).verify(sig[4:], text.encode())
            except InvalidSignature:
                raise Broken("bad_signature") from None
            good = True
    if not good:
        raise Broken("untrusted_key")
    origin, size, root = text.splitlines()[:3]
    return origin, int(size), base64.b64decode(root)


def verify_export(path: Path, vkey: str) -> int:
    trusted = parse_vkey(vkey)
    events, notes, sid = [], [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["type"] == "session":
            sid = rec["id"]
        elif rec["type"] == "event":
            payload = line[line.index(',"payload":') + 11 : line.index(',"payload_hash":')]
            events.append((rec, payload))
        elif rec["type"] == "checkpoint":
            notes.append(rec["note"])
    prev = "0" * 64
    for i, (rec, payload) in enumerate(events, 1):
        if rec["seq"] != i or rec["prev_hash"] != prev:
            raise Broken("chain")
        body = (
            f'{{"kind":{json.dumps(rec["kind"])},"payload":{payload},'
            f'"session_id":{json.dumps(sid)},"ts":{rec["ts"]}}}'
        )
        if sha(body.encode()).hexdigest() != rec["payload_hash"]:
            raise Broken("hash_mismatch")
        if sha(f"{prev}:{i}:{rec['payload_hash']}".encode()).hexdigest() != rec["hash"]:
            raise Broken("hash_mismatch")
        prev = rec["hash"]
    leaves = [bytes.fromhex(rec["hash"]) for rec, _ in events]
    largest = 0
    for note in notes:
        origin, size, root = open_checkpoint(note, trusted)
        if origin != f"overseer/{sid}" or size > len(leaves) or mth(leaves[:size]) != root:
            raise Broken("root_mismatch")
        largest = max(largest, size)
    for rec, payload in events:
        if rec["kind"] == "seal":
            recorded = json.loads(payload)["root"]
            if base64.b64decode(recorded) != mth(leaves[: rec["seq"] - 1]):
                raise Broken("root_mismatch")
    return largest


def test_the_sample_verifies_by_the_document_alone():
    vkey = SAMPLE.with_suffix(".vkey").read_text()
    covered = verify_export(SAMPLE, vkey)
    assert covered == sum(1 for ln in SAMPLE.read_text().splitlines() if '"type":"event"' in ln)


def test_the_independent_verifier_catches_an_edit(tmp_path):
    vkey = SAMPLE.with_suffix(".vkey").read_text()
    edited = tmp_path / "edited.jsonl"
    edited.write_text(SAMPLE.read_text().replace("looks right", "looks wrong", 1))
    try:
        verify_export(edited, vkey)
    except Broken as exc:
        assert str(exc) == "hash_mismatch"
    else:
        raise AssertionError("an edited export verified")


def rfc_root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, as the document says to check an audit path."""
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = sha(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0
    return r


def test_an_inclusion_proof_checks_by_the_document_alone(tmp_path):
    vkey = SAMPLE.with_suffix(".vkey").read_text()
    env_home = tmp_path / "home"
    db = tmp_path / "a.db"

    def overseer(*args: str) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "overseer", *args, "--log", str(db)],
            capture_output=True,
            text=True,
            env={"OVERSEER_HOME": str(env_home), "PATH": "/usr/bin:/bin"},
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    sid = overseer("import", str(SAMPLE)).split()[2].rstrip(":")
    doc = json.loads(overseer("prove", sid, "7"))
    ev = doc["event"]
    body = (
        f'{{"kind":{json.dumps(ev["kind"])},"payload":{ev["payload_json"]},'
        f'"session_id":{json.dumps(sid)},"ts":{ev["ts"]}}}'
    )
    assert sha(body.encode()).hexdigest() == ev["payload_hash"]
    assert sha(f"{ev['prev_hash']}:7:{ev['payload_hash']}".encode()).hexdigest() == ev["hash"]
    leaf = sha(b"\x00" + bytes.fromhex(ev["hash"])).digest()
    path = [base64.b64decode(p) for p in doc["audit_path"]]
    root = rfc_root_from_path(doc["leaf_index"], doc["tree_size"], leaf, path)
    # The import signed its own checkpoint; the sample's (signed by the
    # sample key) at the same size is kept too: prove picked this machine's.
    origin, size, signed_root = open_checkpoint(
        doc["checkpoint"], parse_vkey(doc["verifier_keys"][0])
    )
    assert (origin, size, signed_root) == (f"overseer/{sid}", doc["tree_size"], root)
    sample_notes = [
        json.loads(ln)["note"]
        for ln in SAMPLE.read_text().splitlines()
        if '"type":"checkpoint"' in ln
    ]
    assert any(open_checkpoint(n, parse_vkey(vkey))[2] == root for n in sample_notes)
