"""``run_tests``: the test harness.

A pytest command gets structured results: ``--junitxml`` (xunit1, which
carries the file of each test) is appended and the XML is read for passed,
failed, error, skipped and xfailed counts, failing test ids and a short
failure text. The XML records an unexpected pass (xpassed) as a plain pass:
pytest's closing summary line says how many there were, and it is believed
only when its other counts agree with the XML. A run in which no test ran
(all skipped) says so. Any other command is judged by its exit code.

The result always says one of three things in ``data.outcome``:

- ``passed``;
- ``failed`` — tests ran and something failed (a timeout counts as failed:
  a hang is a regression too);
- ``could_not_run`` — the tests never ran: pytest exit codes 2-5
  (interrupted by collection/import errors, internal error, usage error, no
  tests), only collection errors in the XML, or a missing command (126/127).

This distinction is what makes ``bisect`` right: a revision that cannot even
be imported is skipped, not blamed.

With ``rev`` the command runs in a temporary ``git worktree`` at that
revision, removed afterwards (always). The command runs in a fresh
``bash -c`` (not the persistent shell) inside the sandbox when there is one,
the same wall as the shell's: the workspace (or worktree) writable but its
``.git`` read-only, the rest read-only, a scratch ``TMPDIR``. The facts say
``risk=["runs_code"]`` and ``sandbox`` (``bwrap`` or ``none``): the code
under test is the workspace's, and the policy asks when no sandbox holds it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from overseer.sandbox import wrap_argv
from overseer.toolapi import Facts, Tool, ToolContext, ToolResult

from ._env import command_env
from ._output import BoundedOutput
from ._proc import run_bounded
from ._worktree import WorktreeError, repo_root, resolve_commit, temp_worktree

Outcome = Literal["passed", "failed", "could_not_run"]

PYTEST_EXIT = {
    2: "pytest was interrupted (collection or import errors)",
    3: "pytest hit an internal error",
    4: "pytest usage error (bad arguments or options)",
    5: "no tests were collected",
}
FAILURE_TEXT = 1500  # characters of each failure kept
MAX_FAILURES = 30

_SHELL_SYNTAX = {"&&", "||", ";", "|", "&", ">", ">>", "<", "<<", "(", ")", "2>", "2>&1", "&>"}
_WRAPPERS = {"env", "nice", "timeout", "stdbuf", "nohup", "time"}


def is_pytest(command: str) -> bool:
    """Whether ``command`` is a single pytest invocation we may append options to."""
    if any(ch in command for ch in ("`", "$(", "\n", ";", "|", "&")):
        return False
    try:
        argv = shlex.split(command)
    except ValueError:
        return False
    if any(tok in _SHELL_SYNTAX or tok.startswith((">", "<", "2>")) for tok in argv):
        return False
    i = 0
    while i < len(argv) and (
        "=" in argv[i] and not argv[i].startswith("-") and argv[i].split("=")[0].isidentifier()
    ):
        i += 1  # VAR=value prefixes
    while i < len(argv) and os.path.basename(argv[i]) in _WRAPPERS:
        i += 1
        while i < len(argv) and (
            argv[i].startswith("-") or argv[i][:1].isdigit() or "=" in argv[i]
        ):
            i += 1  # the wrapper's own options and arguments (timeout 60, env A=1)
    if i >= len(argv):
        return False
    prog = os.path.basename(argv[i])
    if prog in ("pytest", "py.test"):
        return True
    if prog.startswith("python") and argv[i + 1 : i + 3] == ["-m", "pytest"]:
        return True
    return prog in ("uv", "poetry", "pdm", "hatch") and "pytest" in argv[i + 1 : i + 3]


@dataclass
class HarnessResult:
    outcome: Outcome
    exit_code: int | None
    reason: str
    output: str
    output_size: int
    duration_ms: int
    command: str
    ran: str
    pytest: bool
    timed_out: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        if self.counts:
            c = self.counts
            counts = f"{c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['skipped']} skipped"
            counts += "".join(f", {c[k]} {k}" for k in ("xfailed", "xpassed") if c.get(k))
            if not ran(c):
                counts += " — no test ran" + (": every test was skipped" if c["skipped"] else "")
        else:
            counts = f"exit code {self.exit_code}"
        return f"{self.outcome}: {counts}" + (f" ({self.reason})" if self.reason else "")

    def data(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "command": self.command,
            "ran": self.ran,
            "pytest": self.pytest,
            "duration_ms": self.duration_ms,
            "timed_out": self.timed_out,
        }
        if self.counts:
            d.update(self.counts)
            d["failing"] = self.failing
            d["failures"] = self.failures
        return d


def _test_id(case: ET.Element) -> str:
    name = case.get("name", "?")
    classname = case.get("classname", "")
    file = case.get("file")
    if file:
        module = file[:-3].replace("/", ".").replace("\\", ".") if file.endswith(".py") else file
        rest = classname[len(module) + 1 :] if classname.startswith(module + ".") else ""
        parts = [file, *(rest.split(".") if rest else []), name]
        return "::".join(p for p in parts if p)
    return f"{classname}::{name}" if classname else name


def ran(counts: dict[str, int]) -> int:
    """How many tests actually ran (skipped ones did not; an xfail did run)."""
    return sum(counts.get(k, 0) for k in ("passed", "failed", "errors", "xfailed", "xpassed"))


_SUMMARY = re.compile(
    r"^=*\s*((?:\d+ (?:passed|failed|skipped|xfailed|xpassed|errors?|warnings?|deselected|rerun)"
    r"(?:, )?)+) in [\d.]+s\b",
    re.M,
)


def summary_counts(output: str) -> dict[str, int] | None:
    """The counts of pytest's closing line (``3 passed, 1 xpassed in 0.1s``), if any."""
    found = _SUMMARY.findall(output[-20_000:])
    if not found:
        return None
    out: dict[str, int] = {}
    for item in found[-1].split(", "):
        n, _, word = item.partition(" ")
        key = {"error": "errors", "errors": "errors"}.get(word, word)
        out[key] = out.get(key, 0) + int(n)
    return out


def with_xpassed(counts: dict[str, int], output: str) -> dict[str, int]:
    """Split unexpected passes out of ``passed`` when pytest's summary agrees with the XML."""
    said = summary_counts(output)
    if not said or not said.get("xpassed"):
        return counts
    same = (
        all(said.get(k, 0) == counts[k] for k in ("failed", "errors", "skipped", "xfailed"))
        and said.get("passed", 0) + said["xpassed"] == counts["passed"]
    )
    if not same:  # the line is not this run's (or was printed by a test): keep the XML's
        return counts
    return {**counts, "passed": said.get("passed", 0), "xpassed": said["xpassed"]}


def parse_junit(path: Path) -> dict[str, Any] | None:
    """Counts, failing ids and short failure texts from a JUnit XML file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "xfailed": 0, "xpassed": 0}
    failing: list[str] = []
    failures: list[dict[str, str]] = []
    collection_errors = 0
    for case in root.iter("testcase"):
        kinds = {child.tag: child for child in case}
        if "failure" in kinds or "error" in kinds:
            tag = "failure" if "failure" in kinds else "error"
            el = kinds[tag]
            message = el.get("message", "")
            if tag == "error" and "collection failure" in message:
                collection_errors += 1
            counts["failed" if tag == "failure" else "errors"] += 1
            tid = _test_id(case)
            failing.append(tid)
            if len(failures) < MAX_FAILURES:
                text = (message + "\n" + (el.text or "")).strip()
                failures.append({"id": tid, "kind": tag, "text": text[-FAILURE_TEXT:]})
        elif "skipped" in kinds:
            xfail = kinds["skipped"].get("type") == "pytest.xfail"
            counts["xfailed" if xfail else "skipped"] += 1
        else:
            counts["passed"] += 1
    return {
        "counts": counts,
        "failing": failing,
        "failures": failures,
        "collection_errors": collection_errors,
    }


def run_harness(
    command: str,
    cwd: Path,
    ctx: ToolContext,
    *,
    timeout: float,
    stream: bool = True,
) -> HarnessResult:
    """Run a test command in ``cwd`` and judge it: passed, failed or could_not_run."""
    pytest = is_pytest(command)
    junit_dir = Path(tempfile.mkdtemp(prefix="overseer-junit-"))
    junit = junit_dir / "junit.xml"
    ran = command
    if pytest:
        ran = f"{command} --junitxml={shlex.quote(str(junit))} -o junit_family=xunit1"
    # The test code's temp files go to a scratch dir of their own, which
    # is the one writable place outside the workspace inside the sandbox.
    scratch = junit_dir / "tmp"
    scratch.mkdir()
    argv = wrap_argv(
        ["bash", "-c", ran],
        ctx.sandbox,
        cwd,
        network=bool(ctx.network_allowed),
        writable=[junit_dir],
        scratch=scratch,
    )
    out = BoundedOutput()
    try:
        res = run_bounded(
            argv,
            cwd,
            timeout=timeout,
            env=command_env(),
            stream=ctx.stream if stream else None,
            out=out,
        )
        parsed = parse_junit(junit) if pytest and junit.exists() else None
    finally:
        shutil.rmtree(junit_dir, ignore_errors=True)
    rc = res.exit_code
    outcome: Outcome
    reason = ""
    if res.timed_out:
        outcome, reason = "failed", f"timed out after {timeout:.0f} s"
    elif rc in (126, 127):
        outcome, reason = "could_not_run", "command not found or not executable"
    elif pytest and rc in PYTEST_EXIT:
        outcome, reason = "could_not_run", PYTEST_EXIT[rc]
    elif rc == 0:
        outcome = "passed"
    elif (
        pytest
        and parsed is not None
        and parsed["collection_errors"]
        and parsed["counts"]["failed"] == 0
        and parsed["counts"]["errors"] == parsed["collection_errors"]
    ):
        outcome, reason = "could_not_run", "only collection errors: no test ran"
    else:
        outcome = "failed"
    result = HarnessResult(
        outcome=outcome,
        exit_code=rc,
        reason=reason,
        output=out.text(),
        output_size=out.total,
        duration_ms=res.duration_ms,
        command=command,
        ran=ran,
        pytest=pytest,
        timed_out=res.timed_out,
    )
    if parsed is not None:
        result.counts = with_xpassed(parsed["counts"], result.output)
        result.failing = parsed["failing"]
        result.failures = parsed["failures"]
    out.close()
    return result


class RunTestsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str = Field(description="The test command, e.g. 'pytest -x tests/'.")
    rev: str | None = Field(
        None,
        description="Run at this git revision, in a temporary worktree (your checkout is untouched).",
    )
    timeout: int = Field(900, ge=1, le=24 * 3600, description="Seconds before the run is stopped.")


class RunTestsTool(Tool):
    name = "run_tests"
    description = (
        "Run the project's tests and get structured results (pytest: counts, failing test ids, "
        "failure text; other commands: exit code). outcome is passed, failed or could_not_run "
        "(collection/import errors, missing command). With rev, runs at that git revision in a "
        "temporary worktree."
    )
    Args = RunTestsArgs

    def facts(self, args: RunTestsArgs, ctx: ToolContext) -> Facts:
        # Test runners run the workspace's code: say so, and where it runs.
        return Facts(
            reads=[str(Path(ctx.workspace).resolve())],
            commands=[args.command],
            risk=["runs_code"],
            sandbox=ctx.sandbox.name,
        )

    def preview(self, args: RunTestsArgs, ctx: ToolContext) -> str | None:
        where = f" at {args.rev} (temporary worktree)" if args.rev else ""
        return f"{args.command}{where}"

    def run(self, args: RunTestsArgs, ctx: ToolContext) -> ToolResult:
        workspace = Path(ctx.workspace).resolve()
        if not args.command.strip():
            return ToolResult.fail("run_tests: the command is empty")
        extra: dict[str, Any] = {}
        try:
            if args.rev:
                root = repo_root(workspace)
                sha = resolve_commit(root, args.rev)
                extra = {"rev": args.rev, "sha": sha}
                sub = workspace.relative_to(root) if workspace.is_relative_to(root) else Path()
                with temp_worktree(root, sha) as wt:
                    result = run_harness(args.command, wt / sub, ctx, timeout=args.timeout)
            else:
                result = run_harness(args.command, workspace, ctx, timeout=args.timeout)
        except WorktreeError as exc:
            return ToolResult.fail(f"run_tests: {exc}")
        return to_tool_result(result, extra)


def to_tool_result(result: HarnessResult, extra: dict[str, Any] | None = None) -> ToolResult:
    lines = [result.summary()]
    for f in result.failures[:10]:
        first = f["text"].strip().splitlines()[:1]
        lines.append(
            f"{'FAILED' if f['kind'] == 'failure' else 'ERROR'} {f['id']}"
            + (f": {first[0]}" if first else "")
        )
    if len(result.failing) > 10:
        lines.append(f"... and {len(result.failing) - 10} more")
    text = "\n".join(lines) + "\n\n" + result.output
    status = "ok" if result.outcome == "passed" else ("timeout" if result.timed_out else "failed")
    return ToolResult(
        status=status,  # type: ignore[arg-type]
        output=text,
        exit_code=result.exit_code,
        data={**result.data(), **(extra or {})},
        error=None if status == "ok" else result.summary(),
        output_size=result.output_size,
    )
