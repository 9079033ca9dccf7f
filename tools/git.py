"""git tools: ``git_status``, ``git_diff``, ``git_log``, ``git_show`` (read-only) and
``git_commit``, ``git_checkout``, ``git_branch`` (change the repository).

Each tool runs one fixed git command; ``facts.commands`` carries that command
(as the agent would have typed it) so the policy judges git the same way
whether it arrives through ``shell`` or a git tool. Read-only tools run with
``GIT_OPTIONAL_LOCKS=0`` so not even ``git status`` rewrites the index. The
mutating tools run inside the sandbox when there is one (a commit runs the
repository's hooks: they are code from the workspace). Revisions that look
like options are refused, and paths always follow ``--``.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer.sandbox import wrap_argv
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from ._env import command_env
from ._output import bound_text
from ._proc import ProcResult, run_bounded

GIT_BASE = ["git", "--no-pager", "-c", "color.ui=never", "-c", "core.quotepath=off"]
GIT_TIMEOUT = 120.0


def run_git(
    ctx: ToolContext,
    args: list[str],
    *,
    cwd: Path | None = None,
    read_only: bool = True,
    timeout: float = GIT_TIMEOUT,
    sandboxed: bool = False,
) -> ProcResult:
    env = command_env({"GIT_OPTIONAL_LOCKS": "0"} if read_only else None)
    where = Path(cwd or ctx.workspace)
    argv = [*GIT_BASE, *args]
    if sandboxed and ctx.sandbox.name == "bwrap":
        # The git dirs are writable for the commit itself; their hooks and
        # config stay read-only, as the hooks that run are workspace code.
        writable = [p for p in git_dirs(where) if not _inside(p, where)]
        with tempfile.TemporaryDirectory(prefix="overseer-tmp-", ignore_cleanup_errors=True) as tmp:
            argv = wrap_argv(
                argv,
                ctx.sandbox,
                where,
                network=False,
                writable=writable,
                scratch=Path(tmp),
                git_commit=True,
            )
            return run_bounded(argv, where, timeout=timeout, env=env)
    return run_bounded(argv, where, timeout=timeout, env=env)


def git_text(ctx: ToolContext, args: list[str], cwd: Path | None = None) -> str | None:
    """stdout of a quick read-only git command, or None when it fails."""
    res = run_git(ctx, args, cwd=cwd, timeout=30)
    return res.out.text() if res.exit_code == 0 else None


def git_dirs(where: Path) -> list[Path]:
    """The repository's git dir and common dir (where a commit writes)."""
    res = run_bounded(
        ["git", "rev-parse", "--absolute-git-dir", "--git-common-dir"],
        where,
        timeout=30,
        env=command_env(),
    )
    if res.exit_code != 0:
        return []
    out = []
    for line in res.out.text().splitlines():
        p = Path(line) if Path(line).is_absolute() else where / line
        out.append(p.resolve())
    return list(dict.fromkeys(out))


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _check_rev(rev: str | None, what: str = "revision") -> str | None:
    if rev is not None and (rev.startswith("-") or not rev.strip() or "\n" in rev):
        return f"{what} {rev!r} is not valid (it may not start with '-' or be empty)"
    return None


def _result(res: ProcResult, command: list[str], data: dict[str, Any] | None = None) -> ToolResult:
    text = res.out.text()
    shown = "git " + shlex.join(command)
    if res.timed_out:
        return ToolResult(
            status="timeout",
            output=text,
            exit_code=res.exit_code,
            error=f"{shown} timed out",
            data=data or {},
        )
    if res.exit_code != 0:
        msg = text.strip() or f"{shown} failed with exit code {res.exit_code}"
        return ToolResult(
            status="failed",
            output=msg,
            exit_code=res.exit_code,
            error=msg.splitlines()[-1] if msg else None,
            data={"command": shown, **(data or {})},
        )
    return ToolResult(
        output=text,
        exit_code=0,
        data={"command": shown, **(data or {})},
        output_size=res.out.total,
    )


def _not_a_repo(ctx: ToolContext) -> ToolResult | None:
    res = run_git(ctx, ["rev-parse", "--is-inside-work-tree"], timeout=30)
    if res.exit_code != 0:
        return ToolResult.fail(f"{ctx.workspace} is not inside a git repository")
    return None


class _GitTool(Tool):
    """Shared shape: ``command(args)`` is the git argv after ``git``."""

    read_only = True

    def command(self, args: Any) -> list[str]:
        raise NotImplementedError

    def problem(self, args: Any) -> str | None:
        return None

    def facts(self, args: Any, ctx: ToolContext) -> Facts:
        cmd = "git " + shlex.join(self.command(args))
        ws = str(Path(ctx.workspace).resolve())
        if self.read_only:
            return Facts(reads=[ws], commands=[cmd], risk=["read_only"])
        return Facts(reads=[ws], writes=self.writes(args, ctx), commands=[cmd])

    def writes(self, args: Any, ctx: ToolContext) -> list[str]:
        return [str(p) for p in git_dirs(Path(ctx.workspace))] or [
            str(Path(ctx.workspace).resolve())
        ]

    def preview(self, args: Any, ctx: ToolContext) -> str | None:
        return "git " + shlex.join(self.command(args))

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        problem = self.problem(args)
        if problem:
            return ToolResult.fail(f"{self.name}: {problem}")
        not_repo = _not_a_repo(ctx)
        if not_repo:
            return not_repo
        cmd = self.command(args)
        res = run_git(ctx, cmd, read_only=self.read_only, sandboxed=not self.read_only)
        return self.finish(_result(res, cmd), args, ctx)

    def finish(self, result: ToolResult, args: Any, ctx: ToolContext) -> ToolResult:
        return result


class _NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- read-only ----------------------------------------------------------------


class GitStatusTool(_GitTool):
    name = "git_status"
    description = "Show the working tree status (short format, with the branch)."
    Args = _NoArgs

    def command(self, args: Any) -> list[str]:
        return ["status", "--short", "--branch"]

    def finish(self, result: ToolResult, args: Any, ctx: ToolContext) -> ToolResult:
        if result.status != "ok":
            return result
        entries = []
        branch = None
        for line in result.output.splitlines():
            if line.startswith("## "):
                branch = line[3:]
            elif len(line) > 3:
                entries.append({"status": line[:2], "path": line[3:]})
        result.data.update(branch=branch, entries=entries, clean=not entries)
        if not entries:
            result.output += "(working tree clean)\n"
        return result


class GitDiffArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rev: str | None = Field(None, description="Compare against this revision (default: the index).")
    staged: bool = Field(False, description="Show staged changes (git diff --cached).")
    paths: list[str] = Field(default_factory=list)
    stat: bool = Field(False, description="Only a diffstat.")


class GitDiffTool(_GitTool):
    name = "git_diff"
    description = "Show changes: working tree vs index (default), staged changes, or vs a revision."
    Args = GitDiffArgs

    def problem(self, args: GitDiffArgs) -> str | None:
        return _check_rev(args.rev)

    def command(self, args: GitDiffArgs) -> list[str]:
        cmd = ["diff"]
        if args.staged:
            cmd.append("--cached")
        if args.stat:
            cmd.append("--stat")
        if args.rev:
            cmd.append(args.rev)
        return [*cmd, "--", *args.paths] if args.paths else cmd

    def finish(self, result: ToolResult, args: Any, ctx: ToolContext) -> ToolResult:
        if result.status == "ok" and not result.output:
            result.output = "(no differences)\n"
        return result


class GitLogArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rev: str | None = Field(None, description="Revision or range (default: HEAD).")
    max_count: int = Field(20, ge=1, le=1000)
    paths: list[str] = Field(default_factory=list)


_LOG_FORMAT = "%H%x1f%an <%ae>%x1f%ad%x1f%s"


class GitLogTool(_GitTool):
    name = "git_log"
    description = "List commits (sha, author, date, subject), newest first."
    Args = GitLogArgs

    def problem(self, args: GitLogArgs) -> str | None:
        return _check_rev(args.rev)

    def command(self, args: GitLogArgs) -> list[str]:
        cmd = [
            "log",
            f"--max-count={args.max_count}",
            "--date=iso-strict",
            f"--format={_LOG_FORMAT}",
        ]
        if args.rev:
            cmd.append(args.rev)
        return [*cmd, "--", *args.paths] if args.paths else cmd

    def finish(self, result: ToolResult, args: Any, ctx: ToolContext) -> ToolResult:
        if result.status != "ok":
            return result
        commits = []
        lines = []
        for line in result.output.splitlines():
            parts = line.split("\x1f")
            if len(parts) != 4:
                continue
            sha, author, date, subject = parts
            commits.append({"sha": sha, "author": author, "date": date, "subject": subject})
            lines.append(f"{sha[:12]}  {date[:10]}  {author.split(' <')[0]:20.20}  {subject}")
        result.output = "\n".join(lines) + "\n" if lines else "(no commits)\n"
        result.data["commits"] = commits
        return result


class GitShowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rev: str = Field("HEAD", description="Commit to show.")
    path: str | None = Field(None, description="Show this file as it is at `rev` instead.")
    stat: bool = Field(False, description="Only the commit message and a diffstat.")


class GitShowTool(_GitTool):
    name = "git_show"
    description = "Show a commit (message and patch), or a file's content at a revision."
    Args = GitShowArgs

    def problem(self, args: GitShowArgs) -> str | None:
        return _check_rev(args.rev)

    def command(self, args: GitShowArgs) -> list[str]:
        if args.path:
            return ["show", f"{args.rev}:{args.path}"]
        return ["show", "--stat", args.rev] if args.stat else ["show", args.rev]

    def finish(self, result: ToolResult, args: Any, ctx: ToolContext) -> ToolResult:
        if result.status == "ok":
            result.output, size = bound_text(result.output)
            result.output_size = max(result.output_size or 0, size)
        return result


# -- changing the repository --------------------------------------------------


class GitCommitArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The commit message.")
    paths: list[str] | None = Field(
        None, description="Commit only these paths (new files are added)."
    )
    all: bool = Field(False, description="Commit all changes to tracked files (git commit -a).")


class GitCommitTool(_GitTool):
    name = "git_commit"
    description = (
        "Commit: the staged changes (default), all tracked changes (all=true), or just the given "
        "paths (added first if new)."
    )
    Args = GitCommitArgs
    read_only = False

    def problem(self, args: GitCommitArgs) -> str | None:
        if not args.message.strip():
            return "the commit message is empty"
        if args.paths is not None and not args.paths:
            return "paths is an empty list; leave it out to commit the staged changes"
        return None

    def command(self, args: GitCommitArgs) -> list[str]:
        cmd = ["commit", "-m", args.message]
        if args.all:
            cmd.append("--all")
        return [*cmd, "--", *args.paths] if args.paths else cmd

    def preview(self, args: GitCommitArgs, ctx: ToolContext) -> str | None:
        head = "git " + shlex.join(self.command(args))
        if args.paths:
            what = git_text(ctx, ["status", "--short", "--untracked-files=all", "--", *args.paths])
        elif args.all:
            what = git_text(ctx, ["diff", "HEAD", "--stat"])
        else:
            what = git_text(ctx, ["diff", "--cached", "--stat"])
        if what is None:
            return head
        return f"{head}\n\nwill commit:\n{what.strip() or '(nothing: the commit will fail)'}"

    def run(self, args: GitCommitArgs, ctx: ToolContext) -> ToolResult:
        problem = self.problem(args)
        if problem:
            return ToolResult.fail(f"git_commit: {problem}")
        not_repo = _not_a_repo(ctx)
        if not_repo:
            return not_repo
        if args.paths:
            # `git commit -- paths` only takes tracked files; new ones are added first.
            res = run_git(ctx, ["add", "--", *args.paths], read_only=False, sandboxed=True)
            if res.exit_code != 0:
                return _result(res, ["add", "--", *args.paths])
        cmd = self.command(args)
        result = _result(run_git(ctx, cmd, read_only=False, sandboxed=True), cmd)
        if result.status == "ok":
            sha = git_text(ctx, ["rev-parse", "HEAD"])
            if sha:
                result.data["sha"] = sha.strip()
        return result


class GitCheckoutArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rev: str = Field(description="Branch to switch to, or a revision to check out (detached).")
    create: bool = Field(
        False, description="Create `rev` as a new branch at HEAD and switch to it."
    )


class GitCheckoutTool(_GitTool):
    name = "git_checkout"
    description = (
        "Switch to a branch, check out a revision (detached HEAD), or create a branch "
        "(create=true). Uncommitted changes that would be overwritten make it fail; nothing is forced."
    )
    Args = GitCheckoutArgs
    read_only = False

    def problem(self, args: GitCheckoutArgs) -> str | None:
        return _check_rev(args.rev, "branch" if args.create else "revision")

    def command(self, args: GitCheckoutArgs) -> list[str]:
        # `git switch` never treats the argument as a path, unlike `git checkout`.
        return ["switch", "--create", args.rev] if args.create else ["switch", args.rev]

    def _command(self, args: GitCheckoutArgs, ctx: ToolContext) -> list[str]:
        if args.create:
            return self.command(args)
        is_branch = run_git(ctx, ["show-ref", "--verify", "--quiet", f"refs/heads/{args.rev}"])
        if is_branch.exit_code == 0:
            return ["switch", args.rev]
        remote = run_git(
            ctx, ["for-each-ref", "--count=1", "--format=x", f"refs/remotes/*/{args.rev}"]
        )
        if remote.exit_code == 0 and remote.out.text().strip():
            return ["switch", args.rev]  # git creates the tracking branch
        return ["switch", "--detach", args.rev]

    def writes(self, args: Any, ctx: ToolContext) -> list[str]:
        return [str(Path(ctx.workspace).resolve()), *super().writes(args, ctx)]

    def preview(self, args: GitCheckoutArgs, ctx: ToolContext) -> str | None:
        cmd = "git " + shlex.join(self._command(args, ctx))
        current = (git_text(ctx, ["rev-parse", "--abbrev-ref", "HEAD"]) or "?").strip()
        if args.create:
            lines = [cmd, "", f"create branch {args.rev} at {current} and switch to it"]
        else:
            target = git_text(ctx, ["log", "-1", "--format=%h %s", args.rev, "--"])
            lines = [
                cmd,
                "",
                f"switch from {current} to {args.rev}: {(target or 'unknown revision').strip()}",
            ]
        dirty = git_text(ctx, ["status", "--short", "--untracked-files=no"])
        if dirty and dirty.strip():
            n = len(dirty.strip().splitlines())
            lines.append(
                f"{n} file(s) have uncommitted changes; they are carried over, and git refuses "
                "the switch if they would be overwritten"
            )
        return "\n".join(lines)

    def run(self, args: GitCheckoutArgs, ctx: ToolContext) -> ToolResult:
        problem = self.problem(args)
        if problem:
            return ToolResult.fail(f"git_checkout: {problem}")
        not_repo = _not_a_repo(ctx)
        if not_repo:
            return not_repo
        cmd = self._command(args, ctx)
        result = _result(run_git(ctx, cmd, read_only=False, sandboxed=True), cmd)
        if result.status == "ok":
            head = git_text(ctx, ["rev-parse", "HEAD"])
            result.data["head"] = head.strip() if head else None
            if not result.output.strip():
                result.output = f"now at {args.rev}\n"
        return result


class GitBranchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="Branch to create (leave out to list branches).")
    start: str | None = Field(None, description="Where the new branch starts (default HEAD).")
    list: bool = Field(False, description="List branches.")


class GitBranchTool(_GitTool):
    name = "git_branch"
    description = "List branches, or create a branch at HEAD or at `start` (does not switch to it)."
    Args = GitBranchArgs
    read_only = False

    def _listing(self, args: GitBranchArgs) -> bool:
        return args.list or not args.name

    def problem(self, args: GitBranchArgs) -> str | None:
        return _check_rev(args.name, "branch name") or _check_rev(args.start)

    def command(self, args: GitBranchArgs) -> list[str]:
        if self._listing(args):
            return ["branch", "--list", "-vv"]
        return ["branch", "--", args.name or "", *([args.start] if args.start else [])]

    def facts(self, args: GitBranchArgs, ctx: ToolContext) -> Facts:
        facts = super().facts(args, ctx)
        if self._listing(args):
            facts.writes = []
            facts.risk = ["read_only"]
        return facts

    def preview(self, args: GitBranchArgs, ctx: ToolContext) -> str | None:
        cmd = "git " + shlex.join(self.command(args))
        if self._listing(args):
            return cmd
        at = git_text(ctx, ["log", "-1", "--format=%h %s", args.start or "HEAD", "--"])
        return f"{cmd}\n\ncreate branch {args.name} at {args.start or 'HEAD'}: {(at or 'unknown revision').strip()}"

    def run(self, args: GitBranchArgs, ctx: ToolContext) -> ToolResult:
        problem = self.problem(args)
        if problem:
            return ToolResult.fail(f"git_branch: {problem}")
        not_repo = _not_a_repo(ctx)
        if not_repo:
            return not_repo
        cmd = self.command(args)
        listing = self._listing(args)
        result = _result(run_git(ctx, cmd, read_only=listing, sandboxed=not listing), cmd)
        if result.status == "ok" and not listing:
            result.output = result.output or f"created branch {args.name}\n"
        if result.status == "ok" and listing:
            result.data["branches"] = [
                line[2:].split()[0] for line in result.output.splitlines() if len(line) > 2
            ]
        return result
