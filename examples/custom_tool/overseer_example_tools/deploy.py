"""``deploy_preview``: publish a branch to a preview environment.

A class-based tool: an ``Args`` model, ``facts`` (what the policy judges),
``preview`` (what the approver sees) and ``run``. The deploy service is the
team's webhook, named by ``DEPLOY_PREVIEW_HOOK``; it receives a JSON POST
``{"repository", "branch", "commit", "environment"}`` and answers with JSON
that carries the preview ``url``.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from overseer import Facts, Tool, ToolContext, ToolResult

HOOK_ENV = "DEPLOY_PREVIEW_HOOK"
MAX_RESPONSE = 64 * 1024


class DeployPreviewArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    branch: str = Field(
        description="The git branch (or any commit-ish) to deploy.",
        pattern=r"^[A-Za-z0-9._/-]{1,100}$",
    )
    environment: Literal["preview", "staging"] = Field(
        default="preview", description="Where to deploy it."
    )


def _hook() -> str | None:
    return os.environ.get(HOOK_ENV) or None


def _commit(ctx: ToolContext, ref: str) -> str | None:
    """The commit a ref names in the workspace (None when it does not exist)."""
    try:
        res = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            cwd=ctx.workspace,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None


class DeployPreview(Tool):
    name = "deploy_preview"
    description = (
        "Deploy a branch of this repository to a preview (or staging) environment and return "
        "the preview URL. Use it when the user wants to see a change running."
    )
    Args = DeployPreviewArgs

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        hook = _hook()
        host = (urlparse(hook).hostname or hook) if hook else "deploy service (not configured)"
        # open_world: a deploy is visible to others and cannot be taken back
        # by undoing the workspace, so no policy should allow it silently.
        return Facts(network=[host], risk=["open_world"])

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        commit = _commit(ctx, args.branch) or "unknown commit"
        return (
            f"Deploy {ctx.workspace.name} branch {args.branch} ({commit[:12]}) "
            f"to the {args.environment} environment\nvia POST {_hook() or '(DEPLOY_PREVIEW_HOOK unset)'}"
        )

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        hook = _hook()
        if hook is None:
            return ToolResult.fail(
                f"{HOOK_ENV} is not set: set it to your deploy service's webhook URL to deploy previews"
            )
        commit = _commit(ctx, args.branch)
        if commit is None:
            return ToolResult.fail(f"{args.branch!r} does not name a commit in {ctx.workspace}")
        body = {
            "repository": ctx.workspace.name,
            "branch": args.branch,
            "commit": commit,
            "environment": args.environment,
        }
        request = urllib.request.Request(
            hook,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=ctx.timeout_s or 30) as resp:  # noqa: S310
                raw = resp.read(MAX_RESPONSE)
        except urllib.error.HTTPError as exc:
            detail = exc.read(2000).decode("utf-8", "replace")
            return ToolResult.fail(f"the deploy service refused: HTTP {exc.code} {detail}".strip())
        except (urllib.error.URLError, OSError) as exc:
            return ToolResult.fail(f"cannot reach the deploy service at {hook}: {exc}")
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {"raw": raw.decode("utf-8", "replace")}
        url = answer.get("url") if isinstance(answer, dict) else None
        output = f"deployed {args.branch} ({commit[:12]}) to {args.environment}"
        return ToolResult(
            output=f"{output}: {url}" if url else output, data={"deploy": answer, **body}
        )
