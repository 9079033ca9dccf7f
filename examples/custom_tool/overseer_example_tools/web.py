"""``http_get``: fetch a URL from an allow-listed host.

A function tool: ``@overseer.tool`` turns the typed signature into the
``Args`` model and the docstring into the description; ``facts=`` tells the
policy which host the call reaches. The allow-list is enforced here as well
as by the policy, so the tool is safe even under a permissive policy.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from urllib.parse import urlparse

import overseer
from overseer import Facts, ToolResult

HOSTS_ENV = "HTTP_GET_ALLOWED_HOSTS"
DEFAULT_HOSTS = "pypi.org,docs.python.org,api.github.com"


def allowed_hosts() -> set[str]:
    return {
        h.strip().lower() for h in os.environ.get(HOSTS_ENV, DEFAULT_HOSTS).split(",") if h.strip()
    }


def _host(url: str) -> str:
    return (urlparse(url).hostname or "").lower()


def _facts(url: str, max_bytes: int = 200_000) -> Facts:
    return Facts(network=[_host(url) or url], risk=["read_only", "open_world"])


@overseer.tool(facts=_facts)
def http_get(url: str, max_bytes: int = 200_000) -> ToolResult:
    """Fetch a URL with HTTP GET and return the response body (text).

    Only hosts on the team's allow-list (HTTP_GET_ALLOWED_HOSTS) are reachable:
    package indexes and documentation, not arbitrary sites.
    """
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https"):
        return ToolResult.fail(
            f"only http(s) URLs can be fetched, not {parsed.scheme or 'no scheme'!r}"
        )
    host = _host(url)
    if host not in allowed_hosts():
        return ToolResult.fail(
            f"{host or url!r} is not on the allow-list ({', '.join(sorted(allowed_hosts()))})",
            status="denied",
        )
    request = urllib.request.Request(url, headers={"User-Agent": "overseer-example-tools/0.1"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - scheme checked above
            body = resp.read(max(0, min(max_bytes, 2_000_000)) + 1)
            status = resp.status
    except urllib.error.HTTPError as exc:
        return ToolResult.fail(f"GET {url}: HTTP {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError) as exc:
        return ToolResult.fail(f"GET {url} failed: {exc}")
    truncated = len(body) > max_bytes
    text = body[:max_bytes].decode("utf-8", "replace")
    return ToolResult(
        output=text + ("\n[... truncated]" if truncated else ""),
        data={"status": status, "truncated": truncated, "host": host},
    )
