"""Quoting the text overseer sends to bash: one ``$'...'`` word per line.

Every control byte is escaped (a raw ``^C`` or ``^D`` would act on the pty,
a newline would end the line), so the word bash reads is byte for byte the
approved text. A word too long for one pty line is cut into pieces that
never split an escape.
"""

from __future__ import annotations


def quoted_pieces(command: str, size: int) -> list[bytes]:
    """``ansi_c_quote(command)``'s inner bytes in pieces of at most ``size``,
    each a valid ``$'...'`` body on its own (never cut inside \\\\, \\' or \\xNN)."""
    quoted = ansi_c_quote(command)[2:-1]  # the bytes between $' and '
    pieces: list[bytes] = []
    while quoted:
        cut = min(len(quoted), size)
        while cut < len(quoted) and _inside_escape(quoted, cut):
            cut -= 1
        pieces.append(quoted[:cut])
        quoted = quoted[cut:]
    return pieces


def _inside_escape(quoted: bytes, cut: int) -> bool:
    """Whether cutting ``quoted`` (ansi_c_quote's inner bytes) at ``cut``
    would split an escape sequence."""
    # Count the backslashes that run up to the cut: an odd run means the cut
    # follows a lone backslash.
    i, run = cut - 1, 0
    while i >= 0 and quoted[i] == 0x5C:
        run += 1
        i -= 1
    if run % 2:
        return True
    # Inside \xNN: a backslash-x one or two bytes before the cut.
    for back in (2, 3):
        j = cut - back
        if j >= 0 and quoted[j : j + 2] == b"\\x":
            k, r = j - 1, 0
            while k >= 0 and quoted[k] == 0x5C:
                r += 1
                k -= 1
            if r % 2 == 0:
                return True
    return False


def ansi_c_quote(text: str) -> bytes:
    """``text`` as one bash ``$'...'`` word on one line: newlines and every
    control byte escaped (a raw ^C or ^D would act on the pty), the rest as is."""
    out = bytearray(b"$'")
    for b in text.encode("utf-8", errors="surrogateescape"):
        if b == 0x5C:
            out += b"\\\\"
        elif b == 0x27:
            out += b"\\'"
        elif b < 0x20 or b == 0x7F:
            out += b"\\x%02x" % b
        else:
            out.append(b)
    out += b"'"
    return bytes(out)
