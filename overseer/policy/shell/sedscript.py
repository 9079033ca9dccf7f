"""A small scanner of sed's script syntax: does a script run or write anything?"""

from __future__ import annotations


def sed_script_danger(script: str) -> str | None:
    """Why a sed script is dangerous (e, w, W, r, R commands; s///e or s///w),
    or None. A small scanner of sed's syntax; anything it cannot follow is
    reported as dangerous."""
    i, n = 0, len(script)

    def skip_delimited(j: int, delim: str) -> int:
        # from just after an opening delimiter to just after the closing one
        while j < n:
            c = script[j]
            if c == "\\":
                j += 2
                continue
            if c == delim:
                return j + 1
            if c == "\n":
                return -1
            j += 1
        return -1

    def address(j: int) -> int:
        if j < n and script[j] in "0123456789":
            while j < n and script[j] in "0123456789~":
                j += 1
        elif j < n and script[j] == "$":
            j += 1
        elif j < n and script[j] in "/\\":
            if script[j] == "\\":
                if j + 1 >= n:
                    return -1
                j = skip_delimited(j + 2, script[j + 1])
            else:
                j = skip_delimited(j + 1, "/")
            if j < 0:
                return -1
            while j < n and script[j] in "IM":
                j += 1
        return j

    while i < n:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            return None
        i = address(i)
        if i < 0:
            return "cannot read the sed script"
        if i < n and script[i] == ",":
            i += 1
            if i < n and script[i] in "+~":
                i += 1
            i = address(i)
            if i < 0:
                return "cannot read the sed script"
        while i < n and script[i] in " \t!":
            i += 1
        if i >= n:
            return None
        c = script[i]
        i += 1
        if c in "ewWrR":
            return f"the sed script's {c} command runs a command or reads/writes a file"
        if c in "{}=dDgGhHlnNpPqQxzF":
            while i < n and script[i] in "0123456789 \t":
                i += 1
            continue
        if c in "bt:T":
            # GNU sed 4.9 ends a label at whitespace or ";" (":a w FILE" is a
            # label and a w command); ending it at "}" too reads more as
            # commands, never less.
            while i < n and script[i] in " \t":
                i += 1
            while i < n and script[i] not in "; \t\n}":
                i += 1
            continue
        if c in "aic":
            while i < n and script[i] != "\n":
                i += 2 if script[i] == "\\" else 1
            continue
        if c in "sy":
            if i >= n or script[i] in "\n\\":
                return "cannot read the sed script"
            delim = script[i]
            j = skip_delimited(i + 1, delim)
            j = skip_delimited(j, delim) if j >= 0 else -1
            if j < 0:
                return "cannot read the sed script"
            flags_start = j
            while j < n and script[j] not in ";\n}":
                j += 1
            flags = script[flags_start:j]
            if c == "s" and ("e" in flags or "w" in flags):
                return "the sed s command's e/w flag runs a command or writes a file"
            i = j
            continue
        if c == "#":
            while i < n and script[i] != "\n":
                i += 1
            continue
        return f"cannot read the sed script (command {c!r})"
    return None
