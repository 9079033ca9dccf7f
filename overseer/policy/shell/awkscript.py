"""A small scanner of awk programs: does a program run, read or write anything?

Most of what makes an awk program dangerous is a word (``system``,
``getline``, ``ENVIRON``, ``ARGV``...) or a pipe, found anywhere in the text
(``AWK_DANGER``). Output redirection is the hard one: ``print > "f"``
writes a file, ``$1 > 5`` compares. A ``>`` is a redirection when it is in a
``print``/``printf`` statement, so the scanner finds those statements the way
awk reads them: strings, regular expressions and comments skipped (a ``;`` or
``}`` inside ``print "}" > "/x"`` does not end the statement), newlines after
``,``, ``&&``, ``||`` or a backslash continuing it. Where it cannot tell a
regular expression from a division (after ``)``, ``++``, ``--``) or a bracket
holds a ``/``, it gives up, and then any ``>`` after a ``print`` counts.
"""

from __future__ import annotations

from .programs import AWK_DANGER, word_set

_KEYWORDS = word_set(
    "BEGIN END BEGINFILE ENDFILE if else while for do break continue next nextfile "
    "exit return delete in getline print printf function func case default switch"
)
_ID_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_ID_CHARS = _ID_START | frozenset("0123456789")


class _GiveUp(Exception):
    pass


def awk_program_danger(program: str) -> str | None:
    """Why an awk program is dangerous, or None."""
    if AWK_DANGER.search(program):
        return "the awk program can run commands, read other files or the environment"
    try:
        if _print_redirects(program):
            return "the awk program writes to a file (print > FILE)"
    except _GiveUp:
        first = program.find("print")
        if first >= 0 and ">" in program[first:]:
            return "the awk program may write to a file (print ... >)"
    return None


def _print_redirects(text: str) -> bool:
    """True when a print/printf statement holds a ``>`` (see the module docstring).
    Raises _GiveUp where the text cannot be read with certainty."""
    i, n = 0, len(text)
    depth = 0
    # The last significant token: "operand" (a value just ended), "op" (an
    # expression may start), "paren" (a ``)``), "incdec" (``++``/``--``).
    prev = "op"
    in_print = False
    print_depth = 0
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2  # a continued line
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            if in_print and depth <= print_depth and prev in ("operand", "paren"):
                in_print = False
            if prev in ("operand", "paren", "incdec"):
                prev = "op"
            i += 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == '"':
            i = _skip_string(text, i + 1)
            prev = "operand"
            continue
        if c == "/":
            if prev == "operand":
                i += 1  # division (or /=)
                prev = "op"
                continue
            if prev in ("paren", "incdec"):
                raise _GiveUp  # `if (x) /re/` or `(x) / 2`: awk's grammar decides
            i = _skip_regex(text, i + 1)
            prev = "operand"
            continue
        if c in _ID_START:
            j = i
            while j < n and text[j] in _ID_CHARS:
                j += 1
            word = text[i:j]
            i = j
            if word in ("print", "printf"):
                in_print, print_depth = True, depth
            prev = "op" if word in _KEYWORDS else "operand"
            continue
        if c.isdigit() or c == ".":
            while i < n and (text[i].isalnum() or text[i] == "."):
                i += 1
            prev = "operand"
            continue
        if c == "$":
            i += 1
            prev = "op"
            continue
        if c == ">":
            if in_print:
                return True
            i += 1
            prev = "op"
            continue
        if c == "(":
            depth += 1
            prev = "op"
        elif c == ")":
            depth -= 1
            prev = "paren"
        elif c == "]":
            prev = "operand"
        elif c == ";":
            if in_print and depth <= print_depth:
                in_print = False
            prev = "op"
        elif c in "{}":
            if c == "}":
                in_print = False
            prev = "op"
        elif c in "+-" and text[i : i + 2] in ("++", "--"):
            i += 2
            prev = "incdec"
            continue
        else:
            prev = "op"
        i += 1
    return False


def _skip_string(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            raise _GiveUp
        i += 1
    raise _GiveUp


def _skip_regex(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            # awks differ on a "/" inside a bracket expression: give up on one
            j = i + 1
            if j < n and text[j] == "^":
                j += 1
            if j < n and text[j] == "]":
                j += 1
            while j < n and text[j] != "]":
                if text[j] in "/\n":
                    raise _GiveUp
                j += 1
            i = j + 1
            continue
        if c == "/":
            return i + 1
        if c == "\n":
            raise _GiveUp
        i += 1
    raise _GiveUp
