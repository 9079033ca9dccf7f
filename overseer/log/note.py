"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(4-byte key id || signature)>``. The signature covers
the text including its final newline. A verifier key is the text
``<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>`` with key id =
the first four bytes (big-endian) of SHA-256(name || 0x0A || 0x01 || public
key). A signer key (what overseer keeps, mode 0600) is written the way the
Go reference does: ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>``.

`open_note` follows the spec's rules: signatures from unknown keys are
ignored (but counted, so a caller can say who signed), a known key whose
signature fails rejects the note, and a note with no verified signature from
a known key is rejected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 20
_BAD_NAME = re.compile(r"[\s+]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # below U+0020, newline aside


class NoteError(ValueError):
    """A note, key or signature line that does not have the C2SP form."""


def valid_name(name: str) -> bool:
    return bool(name) and not _BAD_NAME.search(name)


def key_id(name: str, public: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not standard base64") from exc


@dataclass(frozen=True)
class Verifier:
    name: str
    id: int
    public: bytes

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """A verifier key string; NoteError says what is wrong with it."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key has the form NAME+KEYID+BASE64KEY")
        name, hex_id, b64 = parts
        if not valid_name(name):
            raise NoteError(f"key name {name!r} is empty or has a space or '+'")
        if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
            raise NoteError(f"key id {hex_id!r} is not 8 lowercase hex digits")
        raw = _b64decode(b64, "the key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError(
                f"the key is {len(raw)} bytes; an Ed25519 verifier key is 0x01 and 32 bytes"
            )
        public = raw[1:]
        if key_id(name, public) != int(hex_id, 16):
            raise NoteError(f"key id {hex_id} does not match the key and name {name!r}")
        try:
            Ed25519PublicKey.from_public_bytes(public)
        except ValueError as exc:
            raise NoteError("not a valid Ed25519 public key") from exc
        return cls(name, int(hex_id, 16), public)

    @property
    def vkey(self) -> str:
        b64 = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.id:08x}+{b64}"

    @property
    def label(self) -> str:
        """``name+keyid``: who signed, short enough for one line."""
        return f"{self.name}+{self.id:08x}"

    def verify(self, text: bytes, sig: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(sig, text)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 signing key with its note name."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        if not valid_name(name):
            raise NoteError(f"key name {name!r} is empty or has a space or '+'")
        self.name = name
        self._key = private
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, key_id(name, public), public)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key has the form PRIVATE+KEY+NAME+KEYID+BASE64KEY")
        _, _, name, hex_id, b64 = parts
        raw = _b64decode(b64, "the signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("the signer key is not an Ed25519 seed (0x01 and 32 bytes)")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if f"{signer.verifier.id:08x}" != hex_id:
            raise NoteError(f"signer key id {hex_id} does not match its key")
        return signer

    @property
    def skey(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        b64 = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id:08x}+{b64}"

    def public_pem(self) -> str:
        return (
            self._key.public_key()
            .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, text: str) -> str:
        """The signed note for ``text`` (which must end in a newline)."""
        check_text(text)
        data = text.encode()
        sig = self.verifier.id.to_bytes(4, "big") + self._key.sign(data)
        return f"{text}\n{SIG_PREFIX}{self.name} {base64.b64encode(sig).decode()}\n"


def check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    if _CONTROL.search(text):
        raise NoteError("note text has a control character")


@dataclass(frozen=True)
class Signature:
    name: str
    id: int
    sig: bytes


@dataclass
class Opened:
    """A note taken apart and checked against a set of verifier keys."""

    text: str
    signatures: list[Signature]
    verified: list[Verifier] = field(default_factory=list)
    failed: list[Verifier] = field(default_factory=list)  # known key, signature wrong
    unknown: list[Signature] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.verified) and not self.failed


def parse_note(note: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines (no checking of
    signatures yet); NoteError if it is not a well-formed note."""
    try:
        size = len(note.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise NoteError("note is not valid UTF-8") from exc
    if size > MAX_NOTE_BYTES:
        raise NoteError("note is larger than 1 MiB")
    if _CONTROL.search(note):
        raise NoteError("note has a control character")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    sigs: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"malformed signature line {line[:40]!r}")
        name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or not valid_name(name) or " " in b64:
            raise NoteError(f"malformed signature line {line[:40]!r}")
        raw = _b64decode(b64, "a signature")
        if len(raw) < 5:
            raise NoteError("a signature is shorter than its key id")
        sigs.append(Signature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
        if len(sigs) > MAX_SIGNATURES:
            raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    if not sigs:
        raise NoteError("note has no signature")
    return text, sigs


def open_note(note: str, verifiers: list[Verifier]) -> Opened:
    text, sigs = parse_note(note)
    known = {(v.name, v.id): v for v in verifiers}
    opened = Opened(text, sigs)
    data = text.encode()
    seen: set[tuple[str, int]] = set()
    for s in sigs:
        v = known.get((s.name, s.id))
        if v is None:
            opened.unknown.append(s)
        elif (s.name, s.id) not in seen:
            seen.add((s.name, s.id))
            (opened.verified if v.verify(data, s.sig) else opened.failed).append(v)
    return opened
