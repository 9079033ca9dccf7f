"""The search tool's fallback without ripgrep, run as a child process.

Python's ``re`` has no timeout and a pattern with nested repetition can take
exponential time on one line; in a child process the tool can stop it. The
child inherits the fd of the file or directory the tool opened beneath the
workspace and searches only through it. It reads the request (the tool's
arguments, the fd, whether it is a directory) as JSON on stdin and writes
``{"matches": [...], "truncated": bool}`` or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys

from .files_search import SearchArgs, SearchTool


def main() -> None:
    request = json.load(sys.stdin)
    found = SearchTool.python_search(
        SearchArgs.model_validate(request["args"]),
        int(request["fd"]),
        bool(request["is_dir"]),
        [str(p) for p in request.get("protected") or []],
    )
    if isinstance(found, str):
        json.dump({"error": found}, sys.stdout)
    else:
        json.dump({"matches": found[0], "truncated": found[1]}, sys.stdout)


if __name__ == "__main__":
    main()
