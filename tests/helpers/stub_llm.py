"""Local stub model servers: an OpenAI chat-completions endpoint and an
Anthropic messages endpoint on 127.0.0.1, for driving the real provider
integrations (langchain-openai, langchain-anthropic) with no network.

A server plays a script, one entry per HTTP request, whether the client
asked for a plain JSON reply or a stream (server-sent events, the same
chunking the real APIs use). It records every request it receives (path,
headers, JSON body), so a test can check what reached the "provider":
tool results with their tool_call_ids, refusals, retries.

Script entries:

* ``Reply(text=..., calls=[Call(name, args, id)])`` — an assistant turn;
  ``args`` is a dict, or a string sent verbatim (not JSON, truncated...);
* ``Fail(status, message)`` — an HTTP error (500, 429, 401...);
* ``Hang(seconds)`` — accept the request and answer nothing for a while
  (a timeout, or a call a signal must interrupt);
* ``Raw(body, status, content_type)`` — any bytes (an empty or cut response);
* a callable ``f(request_json) -> entry`` — a reply built from the request.

When the script runs out the server answers a final ``Reply("done")``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal


@dataclass
class Call:
    name: str
    args: dict[str, Any] | str
    id: str = ""

    def raw(self) -> str:
        return self.args if isinstance(self.args, str) else json.dumps(self.args)


@dataclass
class Reply:
    text: str = ""
    calls: list[Call] = field(default_factory=list)
    usage: tuple[int, int] = (10, 5)  # input, output tokens
    finish: str | None = None  # finish_reason / stop_reason override (e.g. "length")


@dataclass
class Fail:
    status: int
    message: str = "stub failure"
    retry_after: float | None = None


@dataclass
class Hang:
    seconds: float


@dataclass
class Raw:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    length: int | None = None  # a Content-Length that may lie (a cut response)


Entry = Reply | Fail | Hang | Raw | Callable[[dict[str, Any]], Any]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


class StubServer:
    """A scripted model server in a thread. Use as a context manager."""

    def __init__(
        self, flavour: Literal["openai", "anthropic"], script: list[Entry], *, record: bool = True
    ) -> None:
        """``record=False`` (benchmarks): requests are neither parsed nor kept,
        so the server's own cost does not grow with the history it is sent."""
        self.flavour = flavour
        self.record = record
        self.script = list(script)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.entered = threading.Event()  # set when a Hang starts
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm the
            # client's delayed ACK would hold every reply back ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *_args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if not server.record:
                    server._serve(self, {"stream": b'"stream":true' in raw[:200]})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                server._serve(self, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What the provider's client takes as its base URL."""
        root = f"http://127.0.0.1:{self.port}"
        return root + "/v1" if self.flavour == "openai" else root

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- serving ------------------------------------------------------------

    def _next(self, body: dict[str, Any]) -> Any:
        with self._lock:
            entry: Any = self.script.pop(0) if self.script else Reply("done")
        while callable(entry) and not isinstance(entry, Reply | Fail | Hang | Raw):
            entry = entry(body)
        return entry

    def _serve(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            if self.record:
                self.requests.append(
                    Recorded(h.path, {k.lower(): v for k, v in h.headers.items()}, body)
                )
        entry = self._next(body)
        if isinstance(entry, Hang):
            self.entered.set()
            self._stop.wait(entry.seconds)
            entry = Reply("too late")
        if isinstance(entry, Fail):
            payload = self._error(entry)
            extra = {"retry-after": str(entry.retry_after)} if entry.retry_after is not None else {}
            self._send(h, entry.status, json.dumps(payload).encode(), "application/json", extra)
        elif isinstance(entry, Raw):
            self._send(h, entry.status, entry.body, entry.content_type, length=entry.length)
        elif body.get("stream"):
            events = self._stream(entry, body)
            self._send(h, 200, b"".join(events), "text/event-stream")
        else:
            self._send(h, 200, json.dumps(self._message(entry, body)).encode(), "application/json")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        data: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data) if length is None else length))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            if length is not None and length != len(data):
                h.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, a cancelled call)

    def _error(self, fail: Fail) -> dict[str, Any]:
        if self.flavour == "openai":
            return {"error": {"message": fail.message, "type": "stub_error", "code": fail.status}}
        return {"type": "error", "error": {"type": "stub_error", "message": fail.message}}

    # -- OpenAI -------------------------------------------------------------

    def _message(self, r: Reply, body: dict[str, Any]) -> dict[str, Any]:
        calls = [c if c.id else Call(c.name, c.args, f"call_{i}") for i, c in enumerate(r.calls)]
        inp, out = r.usage
        if self.flavour == "anthropic":
            content: list[dict[str, Any]] = [{"type": "text", "text": r.text}] if r.text else []
            for c in calls:
                args = c.args if isinstance(c.args, dict) else {}
                content.append(
                    {"type": "tool_use", "id": _toolu(c.id), "name": c.name, "input": args}
                )
            return {
                "id": "msg_stub",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "stub"),
                "content": content,
                "stop_reason": r.finish or ("tool_use" if calls else "end_turn"),
                "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": out},
            }
        message: dict[str, Any] = {"role": "assistant", "content": r.text or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.raw()},
                }
                for c in calls
            ]
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": r.finish or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
        }

    def _stream(self, r: Reply, body: dict[str, Any]) -> list[bytes]:
        if self.flavour == "anthropic":
            return list(_anthropic_events(r, body))
        return list(_openai_chunks(r, body))


def _toolu(call_id: str) -> str:
    return call_id if call_id.startswith("toolu_") else f"toolu_{call_id}"


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _openai_chunks(r: Reply, body: dict[str, Any]) -> Iterator[bytes]:
    base = {
        "id": "chatcmpl-stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in _pieces(r.text):
        yield chunk({"content": piece})
    for i, c in enumerate(r.calls):
        cid = c.id or f"call_{i}"
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": cid,
                        "type": "function",
                        "function": {"name": c.name, "arguments": ""},
                    }
                ]
            }
        )
        for piece in _pieces(c.raw()):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, r.finish or ("tool_calls" if r.calls else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        inp, out = r.usage
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out}
        yield _sse({**base, "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"


def _anthropic_events(r: Reply, body: dict[str, Any]) -> Iterator[bytes]:
    inp, out = r.usage
    yield _sse(
        {
            "type": "message_start",
            "message": {
                "id": "msg_stub",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "stub"),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": 1},
            },
        },
        "message_start",
    )
    index = 0
    if r.text:
        yield _sse(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        )
        for piece in _pieces(r.text):
            yield _sse(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": piece},
                },
                "content_block_delta",
            )
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        index += 1
    for i, c in enumerate(r.calls):
        cid = _toolu(c.id or f"call_{i}")
        yield _sse(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": cid, "name": c.name, "input": {}},
            },
            "content_block_start",
        )
        for piece in _pieces(c.raw()):
            yield _sse(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
                "content_block_delta",
            )
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        index += 1
    yield _sse(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": r.finish or ("tool_use" if r.calls else "end_turn"),
                "stop_sequence": None,
            },
            "usage": {"input_tokens": inp, "output_tokens": out},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def _pieces(text: str, size: int = 7) -> list[str]:
    """Split text the way a stream does: several small deltas."""
    return [text[i : i + size] for i in range(0, len(text), size)]
