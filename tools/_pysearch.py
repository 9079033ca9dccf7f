"""The search tool's fallback without ripgrep, run as a child process.

Python's ``re`` has no timeout and a pattern with nested repetition can take
exponential time on one line; in a child process the tool can stop it. Reads
the request (the tool's arguments, the root, the workspace) as JSON on stdin
and writes ``{"matches": [...], "truncated": bool}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from overseer.toolapi import ToolContext

from .files import SearchArgs, SearchTool


def main() -> None:
    request = json.load(sys.stdin)
    ctx = ToolContext(workspace=Path(request["workspace"]), session_id="")
    found = SearchTool.python_search(
        SearchArgs.model_validate(request["args"]), Path(request["root"]), ctx
    )
    if isinstance(found, str):
        json.dump({"error": found}, sys.stdout)
    else:
        json.dump({"matches": found[0], "truncated": found[1]}, sys.stdout)


if __name__ == "__main__":
    main()
