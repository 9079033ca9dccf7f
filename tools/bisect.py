"""``bisect``: find the first bad commit with the test harness, in a temporary worktree.

``git bisect`` is driven step by step from here rather than with
``git bisect run``, because the verdict for each revision comes from the
harness, not from an exit code: ``passed`` -> good, ``failed`` -> bad and
``could_not_run`` (collection/import errors, pytest exit codes 2-5, a
missing command) -> skip. A plain ``git bisect run pytest`` treats exit code 2
as bad, so a stretch of history that does not even import pulls the answer
into that stretch; here it is skipped and the real regression is found.

Everything happens in a detached ``git worktree`` in a temp dir: the user's
HEAD, index and working tree are never touched. The bisect state
(``refs/bisect/*``, ``BISECT_LOG``) is per-worktree and is removed with the
worktree, which is always removed. Each step is streamed as one line and kept
in ``data.steps``.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from ._worktree import WorktreeError, git, git_out, repo_root, resolve_commit, temp_worktree
from .tests_harness import run_harness

MAX_STEPS = 200
VERDICT = {"passed": "good", "failed": "bad", "could_not_run": "skip"}
_FIRST_BAD = re.compile(r"^([0-9a-f]{40}) is the first bad commit", re.M)
_ONLY_SKIPPED = "There are only 'skip'ped commits left to test"


class BisectArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test: str = Field(
        description="Test command that passes on good revisions, e.g. 'pytest -x tests/'."
    )
    good: str = Field(description="A revision where the test passes.")
    bad: str = Field("HEAD", description="A revision where the test fails.")
    step_timeout: int = Field(600, ge=1, le=24 * 3600, description="Seconds per test run.")


class BisectTool(Tool):
    name = "bisect"
    description = (
        "Find the first bad commit between `good` and `bad` by running the test command at each "
        "step in a temporary worktree (your checkout is untouched). Revisions where the tests "
        "cannot run (import/collection errors) are skipped, not blamed."
    )
    Args = BisectArgs

    def facts(self, args: BisectArgs, ctx: ToolContext) -> Facts:
        # Every step runs the workspace's code at some revision, in the sandbox if any.
        return Facts(
            reads=[str(Path(ctx.workspace).resolve())],
            commands=[args.test],
            risk=["runs_code"],
            sandbox=ctx.sandbox.name,
        )

    def preview(self, args: BisectArgs, ctx: ToolContext) -> str | None:
        return (
            f"bisect {args.good}..{args.bad} with `{args.test}` in a temporary worktree "
            "(your checkout, HEAD and index are not touched)"
        )

    def run(self, args: BisectArgs, ctx: ToolContext) -> ToolResult:
        workspace = Path(ctx.workspace).resolve()
        try:
            root = repo_root(workspace)
            good = resolve_commit(root, args.good)
            bad = resolve_commit(root, args.bad)
        except WorktreeError as exc:
            return ToolResult.fail(f"bisect: {exc}")
        if good == bad:
            return ToolResult.fail("bisect: good and bad are the same commit")
        if git(root, "merge-base", "--is-ancestor", good, bad).exit_code != 0:
            return ToolResult.fail(
                f"bisect: {args.good} ({good[:12]}) is not an ancestor of {args.bad} ({bad[:12]}); "
                "give a good revision that comes before the bad one"
            )
        sub = workspace.relative_to(root) if workspace.is_relative_to(root) else Path()
        try:
            with temp_worktree(root, bad) as wt:
                return self._bisect(args, ctx, wt, sub, good, bad)
        except WorktreeError as exc:
            return ToolResult.fail(f"bisect: {exc}")

    def _bisect(
        self, args: BisectArgs, ctx: ToolContext, wt: Path, sub: Path, good: str, bad: str
    ) -> ToolResult:
        steps: list[dict[str, Any]] = []
        tested: list[dict[str, Any]] = []
        skipped: list[str] = []

        def say(line: str) -> None:
            with contextlib.suppress(Exception):  # a broken viewer must not stop the bisect
                ctx.stream(line + "\n")

        def test(sha: str) -> str:
            # Run exactly `sha`: bisect leaves the worktree at its last step,
            # which is not the commit a final check of `bad` is about.
            if git_out(wt, "rev-parse", "HEAD").strip() != sha:
                git(wt, "checkout", "-q", "--detach", sha)
            subject = git_out(wt, "log", "-1", "--format=%s", sha).strip()
            result = run_harness(args.test, wt / sub, ctx, timeout=args.step_timeout, stream=False)
            verdict = VERDICT[result.outcome]
            step = {
                "step": len(steps) + 1,
                "sha": sha,
                "subject": subject,
                "outcome": result.outcome,
                "verdict": verdict,
                "summary": result.summary(),
                "duration_ms": result.duration_ms,
            }
            steps.append(step)
            tested.append({"sha": sha, "outcome": result.outcome})
            if verdict == "skip":
                skipped.append(sha)
            say(f"step {step['step']}: {sha[:12]} {subject} -> {result.summary()} => {verdict}")
            return verdict

        say(f"bisecting {good[:12]} (good) .. {bad[:12]} (bad) with: {args.test}")
        out = git(wt, "bisect", "start", bad, good, "--")
        text = out.out.text()
        if out.exit_code != 0:
            return ToolResult.fail(f"bisect: git bisect start failed: {text.strip()}")
        first_bad: str | None = None
        candidates: list[str] = []
        for _ in range(MAX_STEPS):
            m = _FIRST_BAD.search(text)
            if m:
                first_bad = m.group(1)
                break
            if _ONLY_SKIPPED in text:
                candidates = re.findall(r"^([0-9a-f]{40})$", text, re.M)
                break
            sha = git_out(wt, "rev-parse", "HEAD").strip()
            verdict = test(sha)
            out = git(wt, "bisect", verdict, sha)
            text = out.out.text()
            if out.exit_code != 0 and not _FIRST_BAD.search(text) and _ONLY_SKIPPED not in text:
                return ToolResult.fail(
                    f"bisect: git bisect {verdict} failed: {text.strip()}", steps=steps
                )
        else:
            return ToolResult.fail(f"bisect: gave up after {MAX_STEPS} steps", steps=steps)

        data: dict[str, Any] = {
            "good": good,
            "bad": bad,
            "test": args.test,
            "tested": tested,
            "skipped": skipped,
            "steps": steps,
            "runs": len(steps),
        }
        if first_bad is not None and first_bad == bad and bad not in {t["sha"] for t in tested}:
            # The answer rests on `bad` alone, which was never run: check it once.
            verdict = test(bad)
            data["runs"] = len(steps)
            if verdict != "bad":
                reason = "passes" if verdict == "good" else "could not be tested"
                msg = (
                    f"bisect: the bad revision {args.bad} ({bad[:12]}) {reason} with `{args.test}`, "
                    "so there is no regression to find in this range"
                )
                return ToolResult(status="failed", output=msg, error=msg, data=data)
        if first_bad is None:
            data["candidates"] = candidates
            lines = [
                "bisect could not decide: the first bad commit is one of these, which could not be tested:",
                *[f"  {c[:12]} {self._subject(wt, c)}" for c in candidates],
            ]
            msg = "\n".join(lines + ["", *self._steps_text(steps)])
            return ToolResult(status="failed", output=msg, error=lines[0], data=data)
        info = self._commit_info(wt, first_bad)
        data["first_bad"] = info
        say(f"first bad commit {first_bad}")
        lines = [
            f"first bad commit {first_bad}",
            f"  {info['subject']}",
            f"  author: {info['author']}",
            "",
            info["diffstat"].rstrip(),
            "",
            f"{len(tested)} test runs, {len(skipped)} skipped (could not run):",
            *self._steps_text(steps),
        ]
        return ToolResult(output="\n".join(lines) + "\n", data=data)

    @staticmethod
    def _steps_text(steps: list[dict[str, Any]]) -> list[str]:
        return [
            f"  {s['sha'][:12]} {s['verdict']:4}  {s['summary']}  {s['subject']}" for s in steps
        ]

    @staticmethod
    def _subject(wt: Path, sha: str) -> str:
        try:
            return git_out(wt, "log", "-1", "--format=%s", sha).strip()
        except WorktreeError:
            return ""

    @staticmethod
    def _commit_info(wt: Path, sha: str) -> dict[str, str]:
        fields = (
            git_out(wt, "log", "-1", "--format=%H%x1f%s%x1f%an <%ae>%x1f%aI", sha)
            .strip()
            .split("\x1f")
        )
        stat = git_out(wt, "show", "--stat", "--format=", sha)
        return {
            "sha": fields[0],
            "subject": fields[1] if len(fields) > 1 else "",
            "author": fields[2] if len(fields) > 2 else "",
            "date": fields[3] if len(fields) > 3 else "",
            "diffstat": stat.strip("\n"),
        }
