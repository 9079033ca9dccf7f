"""git tools against real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from overseer.tools.git import (
    GitBranchArgs,
    GitBranchTool,
    GitCheckoutArgs,
    GitCheckoutTool,
    GitCommitArgs,
    GitCommitTool,
    GitDiffArgs,
    GitDiffTool,
    GitLogArgs,
    GitLogTool,
    GitShowArgs,
    GitShowTool,
    GitStatusTool,
)

from overseer.toolapi import ToolContext
from tests.conftest import git


@pytest.fixture
def repo_ctx(make_repo) -> ToolContext:
    repo = make_repo({"a.txt": "one\n", "b.txt": "bee\n"})
    (repo / "a.txt").write_text("one\ntwo\n")
    (repo / "new.txt").write_text("new\n")
    return ToolContext(workspace=repo, session_id="s")


def test_status_diff_log_show(repo_ctx: ToolContext) -> None:
    ctx = repo_ctx
    status = GitStatusTool().run(GitStatusTool.Args(), ctx)
    assert status.status == "ok"
    assert {"status": " M", "path": "a.txt"} in status.data["entries"]
    assert {"status": "??", "path": "new.txt"} in status.data["entries"]
    assert status.data["branch"].startswith("main")
    diff = GitDiffTool().run(GitDiffArgs(), ctx)
    assert "+two" in diff.output
    assert GitDiffTool().run(GitDiffArgs(staged=True), ctx).output == "(no differences)\n"
    log = GitLogTool().run(GitLogArgs(), ctx)
    assert [c["subject"] for c in log.data["commits"]] == ["initial"]
    show = GitShowTool().run(GitShowArgs(rev="HEAD", path="a.txt"), ctx)
    assert show.output == "one\n"
    assert "initial" in GitShowTool().run(GitShowArgs(stat=True), ctx).output
    facts = GitDiffTool().facts(GitDiffArgs(paths=["a.txt"]), ctx)
    assert facts.commands == ["git diff -- a.txt"] and facts.risk == ["read_only"]


def test_read_only_tools_do_not_touch_the_index(repo_ctx: ToolContext) -> None:
    index = repo_ctx.workspace / ".git" / "index"
    before = index.read_bytes()
    GitStatusTool().run(GitStatusTool.Args(), repo_ctx)
    GitDiffTool().run(GitDiffArgs(), repo_ctx)
    assert index.read_bytes() == before


def test_option_like_revisions_are_refused(repo_ctx: ToolContext) -> None:
    r = GitLogTool().run(GitLogArgs(rev="--output=/tmp/x"), repo_ctx)
    assert r.status == "error" and "may not start with '-'" in r.output


def test_commit_paths_all_and_preview(repo_ctx: ToolContext) -> None:
    ctx = repo_ctx
    tool = GitCommitTool()
    args = GitCommitArgs(message="add new", paths=["new.txt"])
    preview = tool.preview(args, ctx) or ""
    assert preview.startswith("git commit -m 'add new' -- new.txt") and "new.txt" in preview
    assert tool.facts(args, ctx).commands == ["git commit -m 'add new' -- new.txt"]
    r = tool.run(args, ctx)
    assert r.status == "ok", r.output
    assert git(ctx.workspace, "show", "--name-only", "--format=%s", "HEAD").split() == [
        "add",
        "new",
        "new.txt",
    ]
    assert r.data["sha"] == git(ctx.workspace, "rev-parse", "HEAD").strip()
    r = tool.run(GitCommitArgs(message="all tracked", all=True), ctx)
    assert r.status == "ok"
    assert git(ctx.workspace, "status", "--porcelain") == ""
    r = tool.run(GitCommitArgs(message="nothing"), ctx)
    assert r.status == "failed" and "nothing" in r.output


def test_branch_and_checkout(repo_ctx: ToolContext) -> None:
    ctx = repo_ctx
    git(ctx.workspace, "stash", "-u")
    r = GitBranchTool().run(GitBranchArgs(name="feature"), ctx)
    assert r.status == "ok"
    listing = GitBranchTool().run(GitBranchArgs(list=True), ctx)
    assert set(listing.data["branches"]) == {"feature", "main"}
    assert GitBranchTool().facts(GitBranchArgs(list=True), ctx).risk == ["read_only"]
    preview = GitCheckoutTool().preview(GitCheckoutArgs(rev="feature"), ctx) or ""
    assert "switch from main to feature" in preview
    r = GitCheckoutTool().run(GitCheckoutArgs(rev="feature"), ctx)
    assert r.status == "ok", r.output
    assert git(ctx.workspace, "branch", "--show-current").strip() == "feature"
    r = GitCheckoutTool().run(GitCheckoutArgs(rev="topic", create=True), ctx)
    assert r.status == "ok" and git(ctx.workspace, "branch", "--show-current").strip() == "topic"
    sha = git(ctx.workspace, "rev-parse", "HEAD").strip()
    r = GitCheckoutTool().run(GitCheckoutArgs(rev=sha), ctx)
    assert r.status == "ok" and git(ctx.workspace, "branch", "--show-current").strip() == ""
    r = GitCheckoutTool().run(GitCheckoutArgs(rev="no-such-branch"), ctx)
    assert r.status == "failed"


def test_not_a_repository(tmp_path: Path) -> None:
    ctx = ToolContext(workspace=tmp_path, session_id="s")
    r = GitStatusTool().run(GitStatusTool.Args(), ctx)
    assert r.status == "error" and "not inside a git repository" in r.output


def test_commit_inside_the_sandbox(repo_ctx: ToolContext) -> None:
    from overseer.sandbox import bwrap_status, resolve_sandbox

    if not bwrap_status()[0]:
        pytest.skip(f"bubblewrap unusable here: {bwrap_status()[1]}")
    repo_ctx.sandbox = resolve_sandbox("bwrap")
    r = GitCommitTool().run(GitCommitArgs(message="sandboxed", all=True), repo_ctx)
    assert r.status == "ok", r.output
    assert git(repo_ctx.workspace, "log", "-1", "--format=%s").strip() == "sandboxed"
