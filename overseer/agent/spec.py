"""The ``--model`` spec: what to load, and the options to load it with.

Form: ``TARGET[?KEY=VALUE&KEY=VALUE...]`` where TARGET is ``PROVIDER:MODEL``
(``openai:gpt-4.1``, ``anthropic:claude-sonnet-4-5``, ``ollama:qwen3``) or
``module:attr``, and the options after ``?`` are separated by ``&`` or ``,``
(a comma needs no quoting in a shell)::

    openai:gpt-4.1?streaming=true&temperature=0
    openai:qwen3,base_url=http://127.0.0.1:8000/v1,max_retries=0

Only the options in ``OPTIONS`` are accepted, each converted to its type, so
a typo is an error before the session starts instead of a keyword the
provider's client silently ignores (or sends to the server). API keys are
refused here: a spec is recorded in the audit log; keys belong in the
environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import UsageError


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return text


def _non_negative_int(text: str) -> int:
    n = int(text)
    if n < 0:
        raise ValueError("expected 0 or more")
    return n


def _positive_int(text: str) -> int:
    n = int(text)
    if n < 1:
        raise ValueError("expected 1 or more")
    return n


def _positive_float(text: str) -> float:
    x = float(text)
    if not x > 0:
        raise ValueError("expected a number above 0")
    return x


# option -> (converter, what it does); names are the keyword arguments that
# init_chat_model passes to the provider's chat model class.
OPTIONS: dict[str, tuple[Callable[[str], Any], str]] = {
    "streaming": (_bool, "stream the reply (server-sent events)"),
    "base_url": (_url, "the API's base URL (a local or compatible server)"),
    "temperature": (float, "sampling temperature"),
    "top_p": (float, "nucleus sampling"),
    "max_tokens": (_positive_int, "cap on the tokens of one reply"),
    "max_retries": (_non_negative_int, "retries of the provider's client (429, 5xx, timeouts)"),
    "timeout": (_positive_float, "seconds to wait for one request"),
    "stream_usage": (_bool, "ask for token usage in streamed replies (OpenAI)"),
}

_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed ``--model`` spec."""

    text: str  # as given (what the log records)
    target: str  # PROVIDER:MODEL or module:attr
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str | None:
        url = self.options.get("base_url")
        return str(url) if url else None


def parse_spec(text: str) -> ModelSpec:
    """Split a spec into its target and typed options; UsageError on a bad option."""
    text = text.strip()
    target, sep, query = text.partition("?")
    if not sep:
        # The comma form: options start at the first ",KEY=" after the target.
        head, comma, rest = text.partition(",")
        if comma and "=" in rest:
            target, query = head, rest
    target = target.strip()
    options: dict[str, Any] = {}
    for item in query.replace("&", ",").split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise UsageError(f"--model {text!r}: option {item!r} is not KEY=VALUE")
        if key not in OPTIONS and any(word in key for word in _SECRET_WORDS):
            raise UsageError(
                f"--model {text!r}: {key} does not belong in a spec (the spec is recorded in the "
                "audit log); set the provider's environment variable instead"
            )
        if key not in OPTIONS:
            known = ", ".join(OPTIONS)
            raise UsageError(f"--model {text!r}: unknown option {key!r}; known options: {known}")
        convert = OPTIONS[key][0]
        try:
            options[key] = convert(value.strip())
        except ValueError as exc:
            raise UsageError(f"--model {text!r}: {key}={value!r}: {exc}") from exc
    return ModelSpec(text=text, target=target, options=options)
