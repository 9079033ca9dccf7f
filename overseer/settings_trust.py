"""Whether a workspace's overseer settings may be acted on: they must not
have been written by an agent's session.

``overseer.toml`` (or ``[tool.overseer]`` in ``pyproject.toml``) names the
policy, plugin tools and MCP servers; the next session acts on them outside
any sandbox. Inside the sandbox the files are read-only when they exist, and
the policy asks before a tool writes them, but code the agent wrote and ran
(its tests) can still *create* them where there were none, or edit
``pyproject.toml``. So each session notes what the settings were when it
started and when it ended, in overseer's own data directory (hidden from the
sandbox, out of the agent's reach):

- a session that ends with the settings as it found them leaves them
  trusted;
- one that ends with them changed marks them changed, and a session that
  never recorded its end (killed) leaves them "running" with the digest it
  started from;
- the next session refuses to start when the settings are still what the
  changing session left, or differ from what a session that never ended
  started with, until a person has looked and run ``overseer trust``.

Changes made between sessions (a person editing the file) are accepted as
they are: nothing of overseer's was running. The first session in a
workspace trusts what it finds. The digest covers ``overseer.toml``, the
``[tool.overseer]`` table (not the rest of ``pyproject.toml``: editing a
project's dependencies is the agent's job) and the files the settings name
(a policy file, MCP server programs and scripts).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .canonical import canonical_json
from .errors import UsageError
from .paths import data_dir
from .project import project_files

FILE_NAME = "settings-trust.json"


@dataclass(frozen=True)
class Settings:
    """What a workspace's settings are now: a digest and the files it covers."""

    workspace: str
    digest: str
    files: tuple[str, ...]


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


def _pyproject_table(path: Path) -> str:
    """The ``[tool.overseer]`` table, canonically; only it counts."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "absent"
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # Unparsable: the session refuses it anyway; hash the bytes so a fix counts.
        return f"unparsable {_file_digest(path)} {type(exc).__name__}"
    table = data.get("tool", {}).get("overseer") if isinstance(data.get("tool"), dict) else None
    if table is None:
        return "absent"
    return hashlib.sha256(canonical_json(table, check=False).encode()).hexdigest()


def current(workspace: Path) -> Settings:
    """The settings of ``workspace`` as they are on disk now."""
    ws = Path(os.path.realpath(workspace))
    parts: dict[str, str] = {
        "pyproject.toml [tool.overseer]": _pyproject_table(ws / "pyproject.toml")
    }
    for path in project_files(ws, existing=False):
        rel = os.path.relpath(path, ws)
        parts[rel] = _file_digest(path)
    digest = hashlib.sha256(canonical_json(parts, check=False).encode()).hexdigest()
    present = tuple(k for k, v in parts.items() if v != "absent")
    return Settings(workspace=str(ws), digest=digest, files=present)


# -- the record ----------------------------------------------------------------


def _path() -> Path:
    return data_dir() / FILE_NAME


@contextlib.contextmanager
def _locked() -> Iterator[dict[str, Any]]:
    """The record, read and written under an exclusive lock (sessions in
    other processes update it too); replaced atomically."""
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict) or not isinstance(record.get("workspaces"), dict):
                raise ValueError("not a settings record")
        except FileNotFoundError:
            record = {"version": 1, "workspaces": {}}
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"{path}: cannot read overseer's record of trusted settings ({exc}); "
                "move it away to start afresh"
            ) from exc
        yield record
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)


def _refusal(settings: Settings, entry: dict[str, Any], how: str) -> UsageError:
    names = ", ".join(settings.files) or "overseer.toml"
    return UsageError(
        f"overseer's settings in {settings.workspace} ({names}) {how} session "
        f"{entry.get('session', '?')}, so an agent's command may have written them; "
        f"read them, then run `overseer trust --repo {settings.workspace}` to use them"
    )


def _judge(settings: Settings, entry: dict[str, Any] | None) -> None:
    if entry is None:
        return
    state, digest = entry.get("state"), entry.get("digest")
    if state == "changed" and digest == settings.digest:
        raise _refusal(settings, entry, "were changed during")
    if state == "running" and digest != settings.digest:
        raise _refusal(settings, entry, "changed while an agent ran in")


def check(workspace: Path) -> Settings:
    """Refuse settings an agent's session may have written (``UsageError``)."""
    settings = current(workspace)
    with _locked() as record:
        _judge(settings, record["workspaces"].get(settings.workspace))
    return settings


def session_started(workspace: Path, session_id: str) -> Settings:
    """Check the settings, then note them as what this session starts from."""
    settings = current(workspace)
    with _locked() as record:
        _judge(settings, record["workspaces"].get(settings.workspace))
        record["workspaces"][settings.workspace] = {
            "state": "running",
            "digest": settings.digest,
            "session": session_id,
        }
    return settings


def session_ended(started: Settings, session_id: str) -> bool:
    """Note how the session leaves the settings; True when it changed them."""
    now = current(Path(started.workspace))
    changed = now.digest != started.digest
    with _locked() as record:
        entry = record["workspaces"].get(started.workspace)
        if changed:
            record["workspaces"][started.workspace] = {
                "state": "changed",
                "digest": now.digest,
                "session": session_id,
            }
        elif entry is None or entry.get("session") == session_id:
            # Another session started here since: its "running" entry stays.
            record["workspaces"][started.workspace] = {
                "state": "ended",
                "digest": now.digest,
                "session": session_id,
            }
    return changed


def trust(workspace: Path) -> Settings:
    """A person has read the settings: accept them as they are now."""
    settings = current(workspace)
    with _locked() as record:
        record["workspaces"][settings.workspace] = {
            "state": "ended",
            "digest": settings.digest,
            "session": "trusted by a person",
        }
    return settings
