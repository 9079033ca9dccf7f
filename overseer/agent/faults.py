"""Model-call faults, said plainly, and the provider client's retries, recorded.

* ``describe_model_error(exc)`` — one line for a failed model call that names
  the URL and says what to do: a refused connection, a timeout, 401, 429,
  5xx, an empty or cut response. The provider SDKs' exceptions are
  recognised by their attributes (``request``, ``status_code``) and class
  names, so neither SDK has to be installed.
* ``RetryRecorder`` — the OpenAI and Anthropic clients retry 429, 5xx,
  timeouts and refused connections themselves, with backoff (``max_retries``
  in the ``--model`` spec). Each retry is announced on the SDK's logger; the
  recorder turns every announcement into a ``notice`` (topic ``model``) in
  the session's log, with the status that caused it, so the record shows
  each attempt, not only the last error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

# Loggers the provider SDKs (and the HTTP clients under them) announce on.
SDK_LOGGERS = ("openai", "anthropic")
HTTP_LOGGERS = ("httpx", "httpx2")


def _url(exc: BaseException) -> str | None:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if url is None:
        response = getattr(exc, "response", None)
        url = getattr(getattr(response, "request", None), "url", None)
    return str(url) if url is not None else None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 8:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def describe_model_error(exc: BaseException, base_url: str | None = None) -> str:
    """A one-line account of a failed model call, naming where it went."""
    name = type(exc).__name__
    url = _url(exc) or base_url
    at = f" at {url}" if url else ""
    status = getattr(exc, "status_code", None)
    detail = str(exc).splitlines()[0] if str(exc) else name
    causes = " ".join(type(c).__name__ + ": " + str(c) for c in _chain(exc)[1:])
    if "Timeout" in name:
        return f"the model server{at} did not answer in time ({detail}); raise timeout= in the --model spec, or check the server"
    if "RemoteProtocolError" in causes or "incomplete" in causes.lower():
        return f"the model server{at} closed the connection in the middle of its reply (a cut response); check the server"
    if "Connection" in name or "ConnectError" in causes or "Connection refused" in causes:
        why = "connection refused" if "refused" in (causes + detail).lower() else detail
        return (
            f"cannot reach the model server{at} ({why}); is it running, and is the base URL right?"
        )
    if status == 401 or "Authentication" in name:
        return f"the model server{at} refused the API key (401: {detail}); check the provider's key variable"
    if status == 403 or "PermissionDenied" in name:
        return f"the model server{at} denied access (403: {detail})"
    if status == 404 or "NotFound" in name:
        return f"the model server{at} has no such model or endpoint (404: {detail})"
    if status == 429 or "RateLimit" in name:
        return f"the model server{at} kept rate-limiting (429) after the client's retries: {detail}"
    if isinstance(status, int) and status >= 500:
        return f"the model server{at} failed ({status}) after the client's retries: {detail}"
    if isinstance(status, int):
        return f"the model server{at} rejected the request ({status}: {detail})"
    if name in ("JSONDecodeError", "ValidationError", "KeyError", "IndexError", "TypeError"):
        return f"the model server{at} sent a reply that cannot be read ({name}: {detail}): an empty or cut response?"
    return f"the model call failed{at}: {name}: {detail}"


class RetryRecorder(logging.Handler):
    """Records each retry the provider's client announces, while installed.

    ``record(message, data)`` is called for each retry (the session's
    ``notice``). The HTTP client's own line about the failed attempt (its
    status) is kept per thread, so the notice says why the client retried.
    """

    def __init__(self, record: Callable[[str, dict[str, Any]], None]) -> None:
        super().__init__(level=logging.DEBUG)
        self._record = record
        self._last = threading.local()
        self._saved: list[tuple[logging.Logger, int]] = []
        self.retries = 0

    def install(self) -> RetryRecorder:
        for name in (*SDK_LOGGERS, *HTTP_LOGGERS):
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level))
            # INFO only: the SDKs log request bodies at DEBUG, which would
            # cost a serialisation of the whole history per call.
            if not logger.isEnabledFor(logging.INFO):
                logger.setLevel(logging.INFO)
            logger.addHandler(self)
        return self

    def remove(self) -> None:
        for logger, level in self._saved:
            logger.removeHandler(self)
            logger.setLevel(level)
        self._saved.clear()

    def emit(self, rec: logging.LogRecord) -> None:
        try:
            msg = str(rec.msg)
            args = rec.args if isinstance(rec.args, tuple) else ()
            if msg.startswith("HTTP Request:") and len(args) >= 5:
                method, url, _version, status, reason = args[:5]
                if isinstance(status, int) and status >= 400:
                    self._last.failed = (f"{method} {url}", f"{status} {reason}".strip())
                else:
                    self._last.failed = None
            elif msg.startswith("Retrying request") and args:
                # "to %s in %f seconds" (sync clients) or "in %f seconds (retry ...)" (async)
                path = str(args[0]) if isinstance(args[0], str) else ""
                wait = float(args[1] if path else args[0])  # type: ignore[arg-type]
                failed = getattr(self._last, "failed", None)
                self._last.failed = None
                self.retries += 1
                client = rec.name.split(".", 1)[0]
                why = (
                    f"{failed[0]} answered {failed[1]}"
                    if failed
                    else f"the request{' to ' + path if path else ''} failed"
                )
                self._record(
                    f"{why}; the {client} client retries in {wait:.2f} s (retry {self.retries})",
                    {
                        "retry": self.retries,
                        "client": client,
                        "path": path or (failed[0] if failed else None),
                        "wait_s": round(wait, 3),
                        "status": failed[1] if failed else None,
                    },
                )
        except Exception:  # noqa: BLE001, S110 - a log line must never break a model call
            pass
