"""A project's own overseer settings: ``overseer.toml`` at the workspace root,
or ``[tool.overseer]`` in its pyproject.toml.

    policy = "policies/team.toml"        # or a shipped name: default, strict
    tools = ["mypkg.tools:deploy_preview"]
    [mcp.servers.git]
    command = "uvx"
    args = ["mcp-server-git", "--repository", "."]
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import UsageError


class MCPServerConfig(BaseModel):
    """One MCP server: ``command`` (+ ``args``, ``env``, ``cwd``) over stdio,
    or ``url`` over streamable HTTP (+ ``headers``). ``${VAR}`` in ``env`` and
    ``headers`` values is taken from overseer's environment."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=120.0, gt=0)  # seconds, for every call to the server
    startup_timeout: float = Field(default=30.0, gt=0)  # seconds, to start and list its tools

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError(
                "give either command (a stdio server) or url (a streamable HTTP server)"
            )
        return self


class MCPConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    servers: dict[str, MCPServerConfig] = Field(default_factory=dict)


class ProjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = None
    tools: list[str] = Field(default_factory=list)
    mcp: MCPConfig = Field(default_factory=MCPConfig)
    source: str | None = None  # the file it came from

    def policy_path(self, workspace: Path) -> str | None:
        """A relative policy path is relative to the workspace."""
        if self.policy is None or self.policy in ("default", "strict"):
            return self.policy
        p = Path(self.policy).expanduser()
        return str(p if p.is_absolute() else workspace / p)


def load_project_config(workspace: Path) -> ProjectConfig:
    """The project's settings, or defaults when it has none."""
    candidates: list[tuple[Path, Any]] = []
    own = workspace / "overseer.toml"
    if own.is_file():
        candidates.append((own, lambda d: d))
    pyproject = workspace / "pyproject.toml"
    if pyproject.is_file():
        candidates.append((pyproject, lambda d: d.get("tool", {}).get("overseer")))
    for path, pick in candidates:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot read project config: {exc}") from exc
        section = pick(data)
        if section is None:
            continue
        try:
            cfg = ProjectConfig.model_validate(section)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise UsageError(f"{path}: invalid overseer config at {where}: {first['msg']}") from exc
        cfg.source = str(path)
        return cfg
    return ProjectConfig()


def _module_file(spec: str) -> Path | None:
    """The file of the module a ``module:attr`` tool names, found without
    importing anything (the next session imports it into overseer's own
    process). Only that file: what it imports in turn is not followed."""
    module = spec.partition(":")[0]
    if not module or spec.isidentifier():
        return None  # a bare name is an installed opt-in tool, not a path
    top, *rest = module.split(".")
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if not rest:
        return Path(found.origin) if found.origin and found.has_location else None
    for base in found.submodule_search_locations or []:
        stem = Path(base).joinpath(*rest)
        for candidate in (stem.with_suffix(".py"), stem / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def project_files(workspace: Path, *, existing: bool = True) -> list[Path]:
    """overseer's own settings in ``workspace`` that the next session acts on
    outside the sandbox: ``overseer.toml``, and the files it names there (a
    policy; an MCP server's program and the scripts among its arguments; the
    module of a ``module:attr`` tool).
    ``existing=False`` also lists named files that do not exist yet (one
    written now would be read next time)."""
    ws = Path(os.path.realpath(workspace))
    out: list[Path] = []
    if not existing or (ws / "overseer.toml").is_file():
        out.append(ws / "overseer.toml")
    try:
        cfg = load_project_config(ws)
    except Exception:  # noqa: BLE001 - a broken config stops the next session anyway
        return out
    named: list[Path] = []
    policy = cfg.policy_path(ws)
    if policy and policy not in ("default", "strict"):
        named.append(Path(policy))
    for server in cfg.mcp.servers.values():
        base = ws / Path(server.cwd).expanduser() if server.cwd else ws
        for word in [server.command or "", *server.args]:
            if word and not word.startswith("-"):
                named.append(base / Path(word).expanduser())
    named += [f for f in (_module_file(spec) for spec in cfg.tools) if f is not None]
    for p in named:
        real = Path(os.path.realpath(p))
        if real.is_relative_to(ws) and (not existing or real.is_file()):
            out.append(real)
    return list(dict.fromkeys(out))
