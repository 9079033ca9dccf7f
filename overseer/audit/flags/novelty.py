"""The ``novel_action`` flag: a tool or a program never used in earlier
sessions of the same workspace, and reading that history from the log."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .model import Flag

if TYPE_CHECKING:
    from ...log import EventStore

_WRAPPERS = {
    "env",
    "nice",
    "timeout",
    "nohup",
    "command",
    "builtin",
    "stdbuf",
    "time",
    "xargs",
    "sudo",
    "exec",
}


def programs(command: str) -> list[str]:
    """The programs a shell command line runs (a cheap split: the policy
    engine's parsed ``parts`` are preferred when the log has them)."""
    out = []
    for part in re.split(r"&&|\|\||[;|&\n()]", command):
        words = part.split()
        while words:
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
                words.pop(0)
            elif words[0] in _WRAPPERS:
                words.pop(0)
                # the wrapper's own options: `nice -n 5 cmd`, `timeout 10s cmd`
                while words and (
                    words[0].startswith("-") or re.fullmatch(r"\d+(\.\d+)?[smhd]?", words[0])
                ):
                    words.pop(0)
            else:
                break
        if words:
            prog = words[0].rsplit("/", 1)[-1].strip("'\"`")
            if prog:
                out.append(prog)
    return out


def action_programs(tool: str, decided: dict[str, Any]) -> list[str]:
    """Programs of one decided action: from the policy's parts (unwrapped argv) or facts.commands."""
    progs: list[str] = []
    for part in decided.get("parts") or []:
        argv = part.get("argv") if isinstance(part, dict) else None
        if argv:
            progs.append(str(argv[0]).rsplit("/", 1)[-1])
        elif isinstance(part, dict) and part.get("command"):
            progs += programs(str(part["command"]))[:1]
    if not progs:
        for cmd in (decided.get("facts") or {}).get("commands") or []:
            progs += programs(str(cmd))
    return sorted(set(progs))


def novel_flags(
    history: tuple[set[str], set[str]] | None, seen: set[str], cid: str, call: dict[str, Any]
) -> list[Flag]:
    """Flags for a decided call whose tool or programs ``history`` never saw
    (``seen`` keeps each novelty to one flag per session)."""
    hist = history
    if hist is None:
        return []
    tools, progs = hist
    tool = str(call.get("tool") or "")
    flags = []
    if tool and tool not in tools and f"tool:{tool}" not in seen:
        seen.add(f"tool:{tool}")
        flags.append(
            Flag(
                "novel_action",
                f"tool {tool} was never used in earlier sessions of this workspace",
                list(call["seqs"]),
                cid,
                {"tool": tool},
            )
        )
    new = [
        p
        for p in action_programs(tool, call["decided"])
        if p not in progs and f"prog:{p}" not in seen
    ]
    for prog in new:
        seen.add(f"prog:{prog}")
    if new:
        flags.append(
            Flag(
                "novel_action",
                f"{', '.join(new)} never ran in earlier sessions of this workspace",
                list(call["seqs"]),
                cid,
                {"tool": tool, "programs": new},
            )
        )
    return flags


def workspace_history(
    store: EventStore, session_id: str, workspace: str
) -> tuple[set[str], set[str]] | None:
    """Tools and programs used by earlier sessions of ``workspace`` (None: none)."""
    ids = store.earlier_sessions(session_id, workspace)
    if not ids:
        return None
    tools: set[str] = set()
    progs: set[str] = set()
    for e in store.events_of_kind(["action_proposed", "policy_decided"], ids):
        if e.kind == "action_proposed":
            if e.payload.get("tool"):
                tools.add(str(e.payload["tool"]))
        else:
            progs.update(action_programs("", e.payload))
    return (tools, progs) if tools else None
