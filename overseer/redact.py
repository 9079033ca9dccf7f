"""Secret redaction, applied to every payload before it reaches disk.

Three nets, each replacing the secret by ``[REDACTED:<name>]``:

1. values of this process's environment variables whose names contain KEY,
   TOKEN, SECRET or PASSWORD, wherever they appear;
2. well-known credential shapes (provider key prefixes, JWTs, AWS key ids,
   private key blocks);
3. ``NAME=value`` / ``NAME: value`` assignments whose name looks secret, and
   long high-entropy values in any env-like assignment.

The hash chain is computed over the redacted payload, so the record verifies
without the secret ever having been stored.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Mapping
from typing import Any

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("anthropic_key", re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}")),
    ("openai_key", re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}")),
    (
        "github_token",
        re.compile(r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"),
    ),
    ("gitlab_token", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}")),
    ("slack_token", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("google_api_key", re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    ("huggingface_token", re.compile(r"hf_[A-Za-z0-9]{30,}")),
    ("stripe_key", re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    # Only where a token can start: in a run like "eyJeyJeyJ..." every start
    # would scan to the run's end looking for the dot (300 KB took 15 s).
    (
        "jwt",
        re.compile(
            r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"
        ),
    ),
    (
        "private_key",
        # The body stops at the next BEGIN and is bounded (a PEM key block is
        # far below 16 KB): text with many BEGINs and no END is scanned once,
        # not once per BEGIN to its end.
        re.compile(
            r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----(?:(?!-----BEGIN)[\s\S]){0,16384}?"
            r"-----END [A-Z ]{0,40}PRIVATE KEY-----"
        ),
    ),
    ("bearer_token", re.compile(r"(?<=Bearer )[A-Za-z0-9_\-\.=+/]{20,}")),
]

# Literal fragments every credential shape above contains: `in` checks are
# far cheaper than running the combined regex over text that has none.
_TOKEN_HINTS = (
    "sk-",
    "sk_",
    "rk_",
    "hp_",
    "ho_",
    "hu_",
    "hs_",
    "hr_",
    "github_pat_",
    "glpat-",
    "xox",
    "AKIA",
    "ASIA",
    "AIza",
    "hf_",
    "eyJ",
    "-----BEGIN",
    "Bearer ",
)
# Nothing shorter can hold a secret worth the name ("A=b" is not one).
_MIN_SECRET = 6
# Strings up to this length have their redaction cached (see Redactor).
_CACHED_LEN = 256


def _may_hold_token(s: str) -> bool:
    """A cheap first look: every credential shape above holds a "_" or "-"
    except AWS/Google key ids, JWTs and bearer tokens, which start with a
    fixed prefix. Plain prose has none of them and skips the regex."""
    # Single characters are found by memchr; the longer needles only when
    # their capital letter is there at all (prose and most output have few).
    return (
        "_" in s
        or "-" in s
        or ("A" in s and ("AKIA" in s or "ASIA" in s or "AIza" in s))
        or ("J" in s and "eyJ" in s)
        or ("B" in s and "Bearer " in s)
    )


_HINTS = re.compile("|".join(re.escape(h) for h in _TOKEN_HINTS))
_TOKENS = re.compile("|".join(f"(?P<{name}>{p.pattern})" for name, p in _PATTERNS), re.S)

# NAME=value, NAME: value, "NAME": "value", export NAME=value, --name=value
# The name is at most 64 characters: the regex is tried at every position, and
# an unbounded name made a long run of word characters (a hash list, a long
# identifier) cost time quadratic in its length — 32 KB of output took 13 s.
# A name starts after a character that is not a letter (so a run of letters
# is tried once, not at each position: "2FA_TOKEN" still names FA_TOKEN); a
# longer name is matched from a "_", "-" or digit within its last 64
# characters, where KEY or TOKEN sits.
_ASSIGN = re.compile(
    r"""(?<![A-Za-z])(?P<name>[A-Za-z_][A-Za-z0-9_\-]{0,63})(?P<q1>["']?)(?P<sep>\s{0,16}[=:]\s{0,16})(?P<q2>["']?)(?P<value>[^\s"',;&|]+)"""
)


_LOWER_SECRET = re.compile(r"passw(or)?d|secret|token|api[_\-]?key|private[_\-]?key", re.IGNORECASE)


def _is_secret_name(name: str) -> bool:
    """Env-style (upper case) names with KEY/TOKEN/SECRET/PASSWORD, or any
    name with an unmistakable word; ``key=`` in code (``sort(key=...)``) is not one."""
    bare = name.lstrip("-")
    if bare.isupper() and SECRET_NAME.search(bare):
        return True
    return bool(_LOWER_SECRET.search(bare))


# Asked for every key of every payload: cached, but only for short names (the
# agent's arguments choose keys too, and the cache must not grow with them).
_secret_name_short = functools.lru_cache(maxsize=4096)(_is_secret_name)


def _secret_name(name: str) -> bool:
    return _secret_name_short(name) if len(name) <= _CACHED_LEN else _is_secret_name(name)


def _entropy(s: str) -> float:
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    if len(value) < 24 or value.startswith("[REDACTED"):
        return False
    if "/" in value and value.count("/") > 2:  # a path, not a token
        return False
    classes = sum(
        bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    return classes >= 3 and _entropy(value) >= 4.0


class Redactor:
    """Replaces secrets in strings and nested JSON-like values."""

    def __init__(
        self, env: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
    ):
        env = os.environ if env is None else env
        secrets: dict[str, str] = {}
        for name, value in env.items():
            if SECRET_NAME.search(name) and len(value) >= 6:
                secrets[value] = name
        for name, value in (extra or {}).items():
            if len(value) >= 4:
                secrets[value] = name
        # Longest first, so a secret containing another is replaced whole.
        self._known = sorted(secrets.items(), key=lambda kv: -len(kv[0]))
        self._known_re = (
            re.compile("|".join(re.escape(v) for v, _ in self._known)) if self._known else None
        )
        self._names = {v: n for v, n in self._known}
        # Short strings repeat all through a session (rule reasons, paths,
        # commands, statuses): their redaction is a pure function of the
        # text, so it is computed once per distinct string.
        self._short = functools.lru_cache(maxsize=8192)(self._redact)

    def add_secret(self, name: str, value: str) -> None:
        if len(value) >= 4:
            self.__init__(env={}, extra={**{n: v for v, n in self._known}, name: value})  # type: ignore[misc]

    def text(self, s: str) -> str:
        if len(s) <= _CACHED_LEN:
            return self._short(s) if s else s
        return self._redact(s)

    def _redact(self, s: str) -> str:
        if self._known_re is not None:
            s = self._known_re.sub(lambda m: f"[REDACTED:{self._names[m.group(0)]}]", s)
        # One pass for every credential shape, then one for assignments: this
        # runs on every string of every event, on the append hot path.
        if _may_hold_token(s) and _HINTS.search(s):
            s = _TOKENS.sub(lambda m: f"[REDACTED:{m.lastgroup}]", s)
        if "=" in s or ":" in s:
            s = _ASSIGN.sub(self._assignment, s)
        return s

    @staticmethod
    def _assignment(m: re.Match[str]) -> str:
        name, value = m.group("name"), m.group("value")
        if value.startswith("[REDACTED"):
            return m.group(0)
        if _secret_name(name) or _looks_random(value):
            key = name.lstrip("-").upper().replace("-", "_")
            return f"{name}{m.group('q1')}{m.group('sep')}{m.group('q2')}[REDACTED:{key}]"
        return m.group(0)

    def value(self, v: Any) -> Any:
        """Redact every string inside a JSON-like value; floats become strings.

        Written for speed (it walks every event's payload on the append hot
        path): exact type checks, and scalars copied without a call.
        """
        t = type(v)
        if t is str:
            return self.text(v) if len(v) >= _MIN_SECRET else v
        if t is dict:
            out: dict[Any, Any] = {}
            for k, item in v.items():
                ti = type(item)
                if ti is str:
                    if (
                        item
                        and type(k) is str
                        and (_secret_name_short(k) if len(k) <= _CACHED_LEN else _is_secret_name(k))
                        and not item.startswith("[REDACTED")
                    ):
                        out[k] = f"[REDACTED:{k}]"
                    else:
                        out[k] = self.text(item) if len(item) >= _MIN_SECRET else item
                elif ti is int or ti is bool or item is None:
                    out[k] = item
                elif (ti is list or ti is dict) and not item:
                    out[k] = ti()  # empty: nothing to walk (facts have several)
                else:
                    out[k] = self.value(item)
            return out
        if t is list or t is tuple:
            return [self.value(x) for x in v]
        if t is float:
            # Hashed content holds no floats (their text form is not stable
            # across platforms); a float a tool reports is kept as its repr.
            return repr(v)
        # Subclasses (str enums, OrderedDict...) take the general road.
        if isinstance(v, str):
            return self.text(str(v))
        if isinstance(v, dict):
            return self.value(dict(v))
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        if isinstance(v, float):
            return repr(float(v))
        return v
