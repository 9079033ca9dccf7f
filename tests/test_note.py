"""C2SP signed notes and verifier keys: the Go reference vector, decoded by
hand here (base64, key id, Ed25519 over the note text), and the parser's
refusals."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from overseer.log.checkpoints import Checkpoint, checkpoint_text
from overseer.log.note import NoteError, Signer, Verifier, open_note, parse_note

# golang.org/x/mod/sumdb/note's published example key and note.
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
NOTE = TEXT + "\n\u2014 PeterNeumann " + SIG + "\n"


def test_the_reference_note_decoded_by_hand():
    name, hex_id, b64key = VKEY.split("+")
    raw = base64.b64decode(b64key)
    assert raw[0] == 0x01 and len(raw) == 33
    kid = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert kid.hex() == hex_id
    sig = base64.b64decode(SIG)
    assert sig[:4] == kid
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(sig[4:], TEXT.encode())  # raises if wrong


def test_our_signer_reproduces_the_reference_note_byte_for_byte():
    signer = Signer.parse(SKEY)
    assert signer.verifier.vkey == VKEY
    assert signer.sign(TEXT) == NOTE  # Ed25519 is deterministic
    assert Signer.parse(signer.skey).verifier == signer.verifier
    opened = open_note(NOTE, [Verifier.parse(VKEY)])
    assert opened.ok and opened.text == TEXT


def test_a_changed_text_or_signature_fails_and_unknown_keys_are_ignored():
    v = Verifier.parse(VKEY)
    bad = open_note(NOTE.replace("cryptography", "cryptographY"), [v])
    assert not bad.ok and bad.failed == [v]
    other = Signer.generate("PeterNeumann")  # same name, other key: an unknown key
    opened = open_note(NOTE, [other.verifier])
    assert not opened.ok and not opened.failed and opened.unknown[0].name == "PeterNeumann"
    both = NOTE + "\u2014 " + other.sign(TEXT).rsplit("\u2014 ", 1)[1]
    assert open_note(both, [v]).ok and open_note(both, [other.verifier]).ok


@pytest.mark.parametrize(
    "vkey",
    [
        VKEY[:-4],  # short key
        VKEY.replace("c74f20a3", "c74f20a4"),  # wrong id
        VKEY.replace("c74f20a3", "C74F20A3"),
        VKEY.replace("+AR", "+Ah"),  # wrong algorithm byte
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
        "",
        VKEY + "A",
    ],
)
def test_mangled_verifier_keys_are_refused(vkey):
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


@pytest.mark.parametrize(
    "note",
    [
        TEXT,  # no signatures
        TEXT + "\n",
        TEXT + "\n\u2014 PeterNeumann\n",
        TEXT + "\n-- PeterNeumann " + SIG + "\n",
        TEXT + "\n\u2014 PeterNeumann " + SIG,  # no final newline
        TEXT + "\n\u2014 PeterNeumann !!notbase64\n",
        TEXT + "\n\u2014 PeterNeumann AAAA\n",  # shorter than a key id
        "a\x07b\n\n\u2014 PeterNeumann " + SIG + "\n",
    ],
)
def test_malformed_notes_are_refused(note):
    with pytest.raises(NoteError):
        parse_note(note)


def test_checkpoint_text_is_the_c2sp_form():
    root = hashlib.sha256(b"x").digest()
    text = checkpoint_text("abc123", 42, root)
    assert text == f"overseer/abc123\n42\n{base64.b64encode(root).decode()}\n"
    signer = Signer.generate("overseer-test@host")
    cp = Checkpoint.parse(signer.sign(text))
    assert (cp.session_id, cp.size, cp.root) == ("abc123", 42, root)
    assert cp.open([signer.verifier]).ok
    for bad in (
        text.replace("\n42\n", "\n042\n"),
        text.replace("\n42\n", "\n-1\n"),
        text.replace(base64.b64encode(root).decode(), "AAAA"),
        "overseer/abc123\n42\n",
    ):
        with pytest.raises(NoteError):
            Checkpoint.parse(signer.sign(bad))
