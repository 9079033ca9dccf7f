"""The bisect agent: an offline playbook that finds the commit that broke a
test command, shows it, and offers a revert — every step a mediated tool
call, so it is checked, approved and recorded like a model's.

1. run the harness at the bad revision (it must fail);
2. confirm a good revision passes — the given one, or walking back
   exponentially through history (1, 2, 4, 8... commits) to find one;
3. run the ``bisect`` tool (in a temporary worktree; "could not run"
   revisions are skipped, not counted as bad);
4. show the first bad commit's diff;
5. ask the developer whether to draft a revert; if yes, create the branch
   ``overseer/revert-<sha>``, revert there (the change undone in the working
   tree, then ``git_commit``), and run the tests on it.
"""

from __future__ import annotations

from typing import Any

from ..session import AgentOutcome, Session
from ..toolapi import ToolCall, ToolResult


class Stop(Exception):
    """The playbook cannot go on; carries the outcome to report."""

    def __init__(self, outcome: AgentOutcome) -> None:
        super().__init__(outcome.final)
        self.outcome = outcome


class BisectAgent:
    name = "bisect"
    model: str | None = None

    def __init__(self, test: str, good: str | None = None, bad: str = "HEAD") -> None:
        self.test = test
        self.good = good
        self.bad = bad
        self._n = 0
        self.data: dict[str, Any] = {}

    def _call(self, session: Session, tool: str, **args: Any) -> ToolResult:
        if session.broker.terminated or session.stop_requested.is_set():
            raise Stop(
                AgentOutcome(
                    status="terminated",
                    final="stopped by a person before the bisect finished",
                    data=self.data,
                )
            )
        session.take_messages()  # steering is recorded; this playbook has no use for it
        self._n += 1
        result = session.broker.submit(ToolCall(id=f"b{self._n}", name=tool, args=args))
        if result.status == "terminated":
            raise Stop(
                AgentOutcome(status="terminated", final="terminated by a person", data=self.data)
            )
        return result

    def _must(self, result: ToolResult, what: str) -> ToolResult:
        if result.status not in ("ok", "failed"):
            raise Stop(
                AgentOutcome(
                    status="failed",
                    final=f"could not {what}: {result.output.strip()[:500]}",
                    data=self.data,
                )
            )
        return result

    def _outcome(self, session: Session, rev: str) -> str:
        res = self._must(
            self._call(session, "run_tests", command=self.test, rev=rev), f"run the tests at {rev}"
        )
        return str(res.data.get("outcome", "passed" if res.status == "ok" else "failed"))

    def run(self, session: Session) -> AgentOutcome:
        try:
            return self._run(session)
        except Stop as stop:
            return stop.outcome

    def _find_good(self, session: Session) -> str:
        log = self._must(
            self._call(session, "git_log", rev=self.bad, max_count=1000), "read the history"
        )
        commits = [c["sha"] for c in log.data.get("commits", [])]
        step = 1
        while True:
            index = min(step, len(commits) - 1)
            if index <= 0:
                break
            sha = commits[index]
            outcome = self._outcome(session, sha)
            if outcome == "passed":
                return sha
            if index == len(commits) - 1:
                break
            step *= 2
        raise Stop(
            AgentOutcome(
                status="failed",
                final=f"no revision in the history of {self.bad} passes `{self.test}`; give --good",
                data=self.data,
            )
        )

    def _run(self, session: Session) -> AgentOutcome:
        at_bad = self._outcome(session, self.bad)
        if at_bad == "passed":
            return AgentOutcome(
                status="failed",
                final=f"`{self.test}` passes at {self.bad}: there is no regression to bisect.",
                data=self.data,
            )
        if at_bad != "failed":
            return AgentOutcome(
                status="failed",
                final=f"`{self.test}` could not run at {self.bad}; fix the command first.",
                data=self.data,
            )
        if self.good:
            if self._outcome(session, self.good) != "passed":
                return AgentOutcome(
                    status="failed",
                    final=f"`{self.test}` does not pass at the good revision {self.good}.",
                    data=self.data,
                )
            good = self.good
        else:
            good = self._find_good(session)
        found = self._must(
            self._call(session, "bisect", test=self.test, good=good, bad=self.bad), "bisect"
        )
        first = found.data.get("first_bad")
        if not isinstance(first, dict) or not first.get("sha"):
            return AgentOutcome(
                status="failed",
                final=f"bisect did not find a first bad commit: {found.output.strip()[:500]}",
                data=self.data,
            )
        sha, subject = str(first["sha"]), str(first.get("subject", ""))
        self.data.update(
            {
                "first_bad": sha,
                "tested": found.data.get("tested", []),
                "skipped": found.data.get("skipped", []),
                "good": good,
            }
        )
        self._call(session, "git_show", rev=sha)
        lines = [
            f'The first bad commit is {sha} "{subject}" by {first.get("author", "unknown")}.',
            f"Known good: {good}. Revisions tested: {len(self.data['tested'])}, skipped as untestable: {len(self.data['skipped'])}.",
        ]
        if first.get("diffstat"):
            lines.append(f"Changed: {str(first['diffstat']).strip()}")
        answer = self._call(
            session,
            "ask_human",
            question=f'The first bad commit is {sha[:12]} "{subject}". Draft a revert on a new branch overseer/revert-{sha[:12]} and run the tests there?',
            choices=["yes", "no"],
        )
        if answer.status == "ok" and answer.output.strip().lower().startswith(("y", "yes")):
            lines += self._revert(session, sha, subject)
        else:
            lines.append("No revert drafted.")
        final = f"first bad commit {sha}\n\n" + "\n".join(lines)
        return AgentOutcome(status="completed", final=final, data=self.data)

    def _revert(self, session: Session, sha: str, subject: str) -> list[str]:
        """Revert ``sha`` on a new branch. In the sandbox the shell cannot
        write ``.git`` (``git revert`` would): the shell undoes the change in
        the working tree and ``git_commit`` records it."""
        branch = f"overseer/revert-{sha[:12]}"
        steps: list[tuple[str, dict[str, Any]]] = [
            ("git_branch", {"name": branch}),
            ("git_checkout", {"rev": branch}),
            ("shell", {"command": f"git diff --binary {sha}^ {sha} | git apply -R"}),
            ("shell", {"command": f"git diff --name-only --no-renames {sha}^ {sha}"}),
        ]
        paths: list[str] = []
        for tool, args in steps:
            res = self._call(session, tool, **args)
            if res.status != "ok":
                return [
                    f"The revert was not completed: {tool} {res.status}: {res.output.strip()[:300]}"
                ]
            paths = [line for line in res.output.splitlines() if line]
        message = f'Revert "{subject}"\n\nThis reverts commit {sha}.'
        res = self._call(session, "git_commit", message=message, paths=paths)
        if res.status != "ok":
            return [
                f"The revert was not completed: git_commit {res.status}: {res.output.strip()[:300]}"
            ]
        outcome = self._outcome(session, branch)
        self.data["revert_branch"] = branch
        self.data["revert_tests"] = outcome
        return [f"Drafted a revert on branch {branch}; `{self.test}` on it: {outcome}."]
