"""The broker: THE choke point between an agent's proposal and the world.

``Broker.submit(call)`` does, in this order and nothing else can skip a step:

1. record ``action_proposed`` with the raw args (malformed ones too);
2. find the tool and validate the args (pydantic) -> canonical args;
3. the hard guard (no tool touches overseer's own files), then
   ``Policy.decide`` -> record ``policy_decided``;
4. ``ask`` -> a covering session grant, or the approver (recorded
   ``approval_requested`` / ``approval_decided``; timeout, exception or a
   mismatched answer -> deny). ``edit`` is a new proposal from step 1;
5. record ``action_started`` — durable, bound to the hash of the exact args
   that run. If it cannot be written, nothing runs;
6. run the tool (once: side effects are never retried);
7. record ``action_finished`` with bounded output, return the result.

Every failure inside the broker ends in a recorded deny or error, never an
exception in the agent's loop and never an allow.

The proposal and the policy decision are held in memory for the few
microseconds until the call's next record and committed with it in one
transaction (all or none, in order): an allowed call costs one fsync before
it runs, not three, and a refused one still has its whole story on disk.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import json
import os
import shlex
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .approval import ApprovalDecision, ApprovalRequest, Approver
from .canonical import args_hash, canonical_json
from .errors import LogWriteError
from .events import ActionStatus
from .grants import Grant, GrantSet, propose
from .log import AuditLog
from .paths import protected_paths
from .policy.base import Policy, Verdict
from .policy.guard import touched as touched_paths
from .recordable import MAX_ARGS_BYTES, depth_exceeded, oversized, recordable
from .recordable import MAX_DEPTH as MAX_ARGS_DEPTH
from .textcache import short_text_cache
from .toolapi import Facts, Sandbox, Tool, ToolCall, ToolContext, ToolResult

LOG_OUTPUT_HEAD = 16_384
LOG_OUTPUT_TAIL = 16_384
BLOB_CAP = 8 * 1024 * 1024
MAX_EDITS = 5
MAX_ID = 200  # characters of a call id or tool name
GUARD_RULE = "builtin:protect-overseer"
# Held records: a call's proposal and policy decision are written in one
# transaction with the call's next record (its start, its refusal, or its
# approval request), so the commit that must precede execution is one fsync.
Held = list[tuple[str, dict[str, Any]]]
FAIL_CLOSED_RULE = "builtin:fail-closed"


@short_text_cache(maxsize=4096)
def _words(command: str) -> tuple[str, ...]:
    """The command's words as the shell would split them (best effort; the
    guard also takes the tree-sitter analysis). Cached: agents repeat commands."""
    try:
        return tuple(shlex.split(command, comments=False))
    except ValueError:
        return tuple(command.split())


def bound_output(
    text: str, head: int = LOG_OUTPUT_HEAD, tail: int = LOG_OUTPUT_TAIL
) -> tuple[str, bool]:
    """Keep the head and tail of a long text, with a marker saying what was cut."""
    if len(text) <= head + tail:
        return text, False
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters omitted ...]\n{text[-tail:]}", True


class Broker:
    """Mediates every tool call of one session. Thread-safe: a model may make
    several tool calls in parallel, each gets its own decision and record."""

    def __init__(
        self,
        log: AuditLog,
        session_id: str,
        tools: Mapping[str, Tool],
        policy: Policy,
        approver: Approver,
        workspace: Path,
        *,
        sandbox: Sandbox | None = None,
        approval_timeout: float = 600.0,
        grants: GrantSet | None = None,
        on_stream: Callable[[str, str], None] | None = None,
    ) -> None:
        self.log = log
        self.session_id = session_id
        self.tools = dict(tools)
        self.policy = policy
        self.approver = approver
        self.workspace = Path(workspace).resolve()
        self.sandbox = sandbox or Sandbox()
        self.approval_timeout = approval_timeout
        self.grants = grants or GrantSet()
        self.on_stream = on_stream
        self.terminated = False
        self.failure: str | None = None  # set when the log broke: everything after is denied
        # Per-session state the tools keep between calls (the persistent shell).
        self.tool_state: dict[str, Any] = {}
        self._protected = [str(p) for p in protected_paths(log.path)]
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="approver"
        )

    # -- public -----------------------------------------------------------

    def submit(self, call: ToolCall) -> ToolResult:
        """Mediate one call. Never raises."""
        try:
            return self._submit(call, depth=0)
        except Exception as exc:  # noqa: BLE001 - the last line of fail-closed
            return ToolResult.fail(
                f"overseer could not mediate this call ({exc}); it was not run", "denied"
            )

    def add_grant(self, grant: Grant) -> None:
        self._record(
            "grant_added",
            {
                "grant_id": grant.id,
                "tool": grant.tool,
                "prefix": grant.prefix,
                "options": grant.options,
                "dirs": grant.dirs,
                "hosts": grant.hosts,
                "description": grant.describe(),
                "by": grant.by,
                "call_id": grant.call_id,
            },
        )
        self.grants.add(grant)

    def revoke_grant(self, grant_id: str, by: str, reason: str = "") -> Grant | None:
        grant = self.grants.revoke(grant_id)
        if grant is not None:
            self._record("grant_revoked", {"grant_id": grant_id, "by": by, "reason": reason})
        return grant

    def _sync_revocations(self) -> None:
        """Apply revocations sent by `overseer revoke` from another process."""
        if not self.grants.list():
            return
        for row in self.log.take(self.session_id, "revoke"):
            p = row["payload"]
            self.revoke_grant(str(p.get("grant_id")), by=row["by"], reason=str(p.get("reason", "")))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for tool in self.tools.values():
            try:
                tool.close()
            except Exception:  # noqa: BLE001, S110 - closing must not stop closing the rest
                pass

    # -- the flow ---------------------------------------------------------

    def _record(self, kind: str, payload: dict[str, Any], held: Held | None = None) -> int:
        """Append one event, after the call's held records and in the same
        transaction; a failure marks the broker failed and propagates.

        An approval request is always followed by a durable record
        (``approval_decided``) before anything acts on it, so it rides on that
        one's fsync; every other record is durable when this returns.
        """
        return self._append(
            [*(held or ()), (kind, payload)], durable=kind != "approval_requested", held=held
        )

    def _flush(self, held: Held, *, durable: bool) -> None:
        """Write the held records now, on their own."""
        if held:
            self._append(list(held), durable=durable, held=held)

    def _append(self, records: Held, *, durable: bool, held: Held | None) -> int:
        if held:
            held.clear()  # written or failed: never written twice
        try:
            return self.log.append_many(self.session_id, records, durable=durable)[-1].seq
        except LogWriteError as exc:
            self.failure = str(exc)
            raise

    def _finish(
        self,
        call_id: str,
        tool: str,
        status: ActionStatus,
        message: str,
        held: Held | None = None,
        **extra: Any,
    ) -> ToolResult:
        result = ToolResult(
            status=status, output=message, error=message if status != "ok" else None, data=extra
        )
        try:
            self._record(
                "action_finished",
                {
                    "call_id": call_id,
                    "tool": tool,
                    "status": status,
                    "output": message,
                    "output_size": len(message),
                    "error": result.error,
                    "data": extra,
                },
                held,
            )
        except LogWriteError:
            pass  # already failed closed: nothing ran
        return result

    def _submit(self, call: ToolCall, depth: int) -> ToolResult:
        held: Held = []
        try:
            return self._mediate(call, depth, held)
        finally:
            if held:  # an exit nobody planned: what was proposed still reaches the log
                with contextlib.suppress(LogWriteError):
                    self._flush(held, durable=True)

    def _mediate(self, call: ToolCall, depth: int, held: Held) -> ToolResult:
        # Ids and names are short in any real call; a model's megabyte-long one
        # would otherwise be copied into every record and message of the call.
        call_id = call.id if call.id and len(call.id) <= MAX_ID else uuid.uuid4().hex[:10]
        if len(call.name) > MAX_ID:
            call = call.model_copy(update={"name": call.name[:MAX_ID] + "…"})
        proposed = recordable(call.args)
        too_big = oversized(
            proposed if isinstance(proposed, str) else canonical_json(proposed, check=False)
        )
        held.append(
            (
                "action_proposed",
                {
                    "call_id": call_id,
                    "tool": call.name,
                    "args": too_big or proposed,
                    "source": call.source,
                    "parent_call_id": call.parent_call_id,
                },
            )
        )
        if too_big is not None:
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"arguments for {call.name} are {too_big['size']} bytes; the limit is "
                f"{MAX_ARGS_BYTES} (write large content in parts)",
                held,
            )
        if self.failure:
            return self._finish(
                call_id,
                call.name,
                "denied",
                f"the audit log failed earlier ({self.failure}); nothing more runs",
                held,
            )
        if self.terminated:
            return self._finish(
                call_id, call.name, "terminated", "the session was terminated by a person", held
            )

        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"unknown tool {call.name!r}; available tools: {known}",
                held,
            )
        raw = call.args
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                # The model reads the parser's own words: where its JSON broke.
                return self._finish(
                    call_id,
                    call.name,
                    "invalid",
                    f"arguments for {call.name} are not valid JSON ({exc}); send one JSON object",
                    held,
                )
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"arguments for {call.name} must be a JSON object, got {type(raw).__name__}",
                held,
            )
        # recordable() hands plain JSON back as is, and plain means within the
        # depth limit: only converted or JSON-text arguments need the walk.
        if (proposed is not call.args or isinstance(call.args, str)) and depth_exceeded(raw):
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"arguments for {call.name} nest deeper than {MAX_ARGS_DEPTH} levels",
                held,
            )
        try:
            parsed = tool.Args.model_validate(raw)
            canonical: dict[str, Any] = parsed.model_dump(mode="json")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"invalid arguments for {call.name}: {problems}",
                held,
            )
        except Exception as exc:  # noqa: BLE001 - a broken Args model must not crash the session
            return self._finish(
                call_id,
                call.name,
                "invalid",
                f"cannot validate arguments for {call.name}: {exc}",
                held,
            )

        ahash = args_hash(call.name, canonical)
        ctx = self._context(call_id, timeout=canonical.get("timeout"))
        verdict, facts = self._decide(tool, call.name, canonical, ctx)
        held.append(
            (
                "policy_decided",
                {
                    "call_id": call_id,
                    "decision": verdict.decision,
                    "rule": verdict.rule,
                    "reason": verdict.reason,
                    "parts": list(verdict.parts),  # the event's own model: not converted twice
                    "args_hash": ahash,
                    "facts": facts.model_dump() if facts else {},
                },
            )
        )

        decided_by = "policy"
        if verdict.decision == "deny":
            return self._finish(
                call_id,
                call.name,
                "denied",
                f"denied by policy ({verdict.rule or 'default'}): {verdict.reason}",
                held,
            )
        if verdict.decision == "ask":
            # Recorded before anything else of the ask (revocations, the
            # request): the log keeps the order things happened in.
            try:
                self._flush(held, durable=False)
            except LogWriteError as exc:
                return ToolResult.fail(
                    f"audit log cannot be written, nothing was run: {exc}", "denied"
                )
            self._sync_revocations()
            grant = self.grants.covering(call.name, canonical, verdict, facts, self.workspace)
            if grant is not None:
                decided_by = f"grant:{grant.id}"
            else:
                outcome = self._ask(
                    call, call_id, tool, canonical, ahash, verdict, ctx, depth, facts
                )
                if isinstance(outcome, ToolResult):
                    return outcome
                decided_by = outcome

        # The decision is durable before anything runs, bound to the args' hash.
        if args_hash(call.name, canonical) != ahash:
            return self._finish(
                call_id, call.name, "denied", "arguments changed after the decision; not run", held
            )
        try:
            self._record(
                "action_started",
                {
                    "call_id": call_id,
                    "tool": call.name,
                    "args": canonical,
                    "args_hash": ahash,
                    "decided_by": decided_by,
                    "rule": verdict.rule,
                    "sandbox": self.sandbox.name,
                },
                held,
            )
        except LogWriteError as exc:
            return ToolResult.fail(f"audit log cannot be written, nothing was run: {exc}", "denied")
        ctx.network_allowed = verdict.network
        return self._run(tool, call.name, call_id, canonical, ctx)

    def _context(self, call_id: str, timeout: Any = None) -> ToolContext:
        on_stream = self.on_stream
        return ToolContext(
            workspace=self.workspace,
            session_id=self.session_id,
            call_id=call_id,
            sandbox=self.sandbox,
            timeout_s=float(timeout) if isinstance(timeout, int | float) else None,
            stream=(lambda text: on_stream(call_id, text)) if on_stream else (lambda _t: None),
            store_blob=self._store_blob,
            ask=lambda q, choices: self.ask_human(call_id, q, choices),
            state=self.tool_state,
        )

    def _store_blob(self, data: bytes) -> str:
        return self.log.put_blob(data[:BLOB_CAP])

    def _decide(
        self, tool: Tool, name: str, args: dict[str, Any], ctx: ToolContext
    ) -> tuple[Verdict, Facts | None]:
        try:
            facts = tool.facts(tool.Args.model_validate(args), ctx)
            if not isinstance(facts, Facts):
                facts = Facts.model_validate(facts)
        except Exception as exc:  # noqa: BLE001 - a tool that cannot say what it touches does not run
            return Verdict(
                decision="deny",
                rule=FAIL_CLOSED_RULE,
                reason=f"tool could not describe its effects: {exc}",
            ), None
        guard = self._guard(args, facts)
        if guard:
            return Verdict(decision="deny", rule=GUARD_RULE, reason=guard), facts
        try:
            verdict = self.policy.decide(name, args, facts, self.workspace)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"policy returned {type(verdict).__name__}, not a Verdict")
        except Exception as exc:  # noqa: BLE001 - fail closed
            return Verdict(
                decision="deny", rule=FAIL_CLOSED_RULE, reason=f"policy error: {exc}"
            ), facts
        return verdict, facts

    def _guard(self, args: dict[str, Any], facts: Facts) -> str | None:
        """Invariant 4: no tool reaches overseer's own files, whatever the policy."""
        candidates: list[str] = list(facts.reads) + list(facts.writes)
        base = str(facts.cwd) if facts.cwd else str(self.workspace)  # where relative words point
        if not os.path.isabs(base):
            base = os.path.join(self.workspace, base)
        for command in facts.commands:
            candidates += _words(str(command))
            # The shell analysis sees what shlex does not: $'..' quoting, globs,
            # `cd` earlier in the command, and parts that walk a whole tree
            # (rm -r, cp -r, find, tar...) from an ancestor of overseer's files.
            try:
                named, walked = touched_paths(str(command), base)
            except Exception as exc:  # noqa: BLE001 - what it touches is unknown: refuse
                return f"cannot work out which paths the command touches ({exc}); it is refused"
            candidates += named
            for top in walked:
                real = os.path.realpath(top)
                for prot in self._protected:
                    if any(prot == d or prot.startswith(d.rstrip("/") + "/") for d in (top, real)):
                        return f"{top!r} holds overseer's own audit record or configuration, and the command walks it; no tool may touch it"
        for value in candidates:
            for form in {value, os.path.expandvars(os.path.expanduser(value))}:
                if not form:
                    continue
                if any(prot in form for prot in self._protected):
                    return f"{value!r} is part of overseer's own audit record or configuration; no tool may touch it"
                if not os.path.isabs(form):
                    form = os.path.join(base, form)
                    # Only something that exists can be a symlink into overseer's
                    # files (one lstat); resolving every word costs several.
                    if not os.path.lexists(form):
                        continue
                try:
                    resolved = os.path.realpath(form)
                except (OSError, ValueError):
                    continue
                for prot in self._protected:
                    if resolved == prot or resolved.startswith(prot + os.sep):
                        return f"{value!r} is part of overseer's own audit record or configuration; no tool may touch it"
        text = canonical_json(args, check=False)
        for prot in self._protected:
            if prot in text:
                return f"the arguments name {prot}, which is part of overseer's own record; no tool may touch it"
        return None

    def _ask(
        self,
        call: ToolCall,
        call_id: str,
        tool: Tool,
        args: dict[str, Any],
        ahash: str,
        verdict: Verdict,
        ctx: ToolContext,
        depth: int,
        facts: Facts | None = None,
    ) -> ToolResult | str:
        """Ask the approver. Returns who decided (to run) or the final result."""
        try:
            preview = tool.preview(tool.Args.model_validate(args), ctx)
        except Exception as exc:  # noqa: BLE001 - show the failure rather than nothing
            preview = f"(preview unavailable: {exc})"
        grant = propose(call.name, args, verdict, facts, self.workspace)
        timeout = self.approval_timeout
        req = ApprovalRequest(
            session_id=self.session_id,
            call_id=call_id,
            tool=call.name,
            args=copy.deepcopy(args),
            args_hash=ahash,
            preview=preview,
            decision=verdict.decision,
            rule=verdict.rule,
            reason=verdict.reason,
            parts=verdict.parts,
            sandbox=self.sandbox.name,
            timeout_s=timeout,
            deadline=time.time() + timeout,
            grant_preview=grant.describe() if grant else None,
        )
        self._record(
            "approval_requested",
            {
                "call_id": call_id,
                "tool": call.name,
                "args": args,
                "args_hash": ahash,
                "preview": preview,
                "rule": verdict.rule,
                "reason": verdict.reason,
                "parts": [p.model_dump() for p in verdict.parts],
                "approver": self.approver.name,
                "timeout_s": int(timeout),
                "sandbox": self.sandbox.name,
                "grant_preview": req.grant_preview,
            },
        )
        started = time.monotonic()
        decision = self._request(req)
        latency = int((time.monotonic() - started) * 1000)
        # An answer about other args than the ones shown is no answer.
        if (
            decision.decision in ("approve", "always")
            and decision.args_hash
            and decision.args_hash != ahash
        ):
            decision = ApprovalDecision(
                decision="deny",
                by=decision.by,
                reason="the approval was for different arguments than the ones shown",
            )
        record: dict[str, Any] = {
            "call_id": call_id,
            "decision": decision.decision,
            "by": decision.by or self.approver.name,
            "reason": decision.reason,
            "args_hash": ahash,
            "latency_ms": latency,
        }
        if decision.decision == "edit":
            record["edited_args"] = decision.edited_args
        if decision.decision == "always":
            if grant is None:
                decision = ApprovalDecision(
                    decision="approve",
                    by=decision.by,
                    reason="approved once: no narrow grant exists for this call",
                )
                record["decision"] = "approve"
                record["reason"] = decision.reason
            else:
                grant.by, grant.call_id = decision.by or self.approver.name, call_id
                record["grant_id"] = grant.id
        self._record("approval_decided", record)

        by = f"approver:{decision.by or self.approver.name}"
        if decision.decision == "approve":
            return by
        if decision.decision == "always":
            assert grant is not None
            self.add_grant(grant)
            return f"{by}+grant:{grant.id}"
        if decision.decision == "terminate":
            self.terminated = True
            return self._finish(
                call_id, call.name, "terminated", "a person terminated the session; stop now"
            )
        if decision.decision == "edit":
            if decision.edited_args is None or depth >= MAX_EDITS:
                return self._finish(
                    call_id, call.name, "denied", "edit without usable arguments; not run"
                )
            edited = ToolCall(
                id=f"{call_id}-e{depth + 1}",
                name=call.name,
                args=decision.edited_args,
                source="edit",
                parent_call_id=call_id,
            )
            self._finish(
                call_id,
                call.name,
                "edited",
                f"edited by {decision.by} into call {edited.id}",
                edited_into=edited.id,
            )
            return self._submit(edited, depth + 1)
        reason = decision.reason or "no reason given"
        return self._finish(
            call_id, call.name, "denied", f"denied by {decision.by or self.approver.name}: {reason}"
        )

    def _request(self, req: ApprovalRequest) -> ApprovalDecision:
        """The approver's answer, or a deny on timeout/exception/garbage."""
        future = self._pool.submit(self.approver.request, req)
        try:
            decision = future.result(timeout=req.timeout_s)
            if not isinstance(decision, ApprovalDecision):
                decision = ApprovalDecision.model_validate(decision)
            return decision
        except concurrent.futures.TimeoutError:
            withdraw = getattr(self.approver, "withdraw", None)
            if callable(withdraw):
                try:
                    withdraw(req.call_id)
                except Exception:  # noqa: BLE001, S110
                    pass
            return ApprovalDecision(
                decision="deny", by="timeout", reason=f"no decision within {req.timeout_s:.0f} s"
            )
        except Exception as exc:  # noqa: BLE001 - an approver crash is a deny
            return ApprovalDecision(
                decision="deny", by="fail-closed", reason=f"approver failed: {exc}"
            )

    def ask_human(self, call_id: str, question: str, choices: list[str] | None = None) -> str:
        """A question from the agent to the person, through the approver channel."""
        choices = list(choices or [])
        self._record(
            "question_asked", {"call_id": call_id, "question": question, "choices": choices}
        )
        req = ApprovalRequest(
            session_id=self.session_id,
            call_id=call_id,
            tool="ask_human",
            kind="question",
            question=question,
            choices=choices,
            timeout_s=self.approval_timeout,
            deadline=time.time() + self.approval_timeout,
        )
        decision = self._request(req)
        answer = decision.answer
        if answer is None:
            answer = f"(no answer: {decision.reason or decision.decision})"
        if decision.decision == "terminate":
            self.terminated = True
            answer = "(the person terminated the session)"
        self._record(
            "question_answered",
            {"call_id": call_id, "answer": answer, "by": decision.by or self.approver.name},
        )
        return answer

    def _run(
        self, tool: Tool, name: str, call_id: str, args: dict[str, Any], ctx: ToolContext
    ) -> ToolResult:
        started = time.monotonic()
        try:
            result = tool.run(tool.Args.model_validate(args), ctx)
            if not isinstance(result, ToolResult):
                result = ToolResult(output=str(result))
        except Exception as exc:  # noqa: BLE001 - a tool crash is an error result, never retried
            result = ToolResult.fail(f"{name} failed: {type(exc).__name__}: {exc}")
        except KeyboardInterrupt:
            # Ctrl-C while a tool runs: record how the action ended before the
            # interrupt stops the agent, rather than leave its outcome unknown.
            self.terminated = True
            result = ToolResult.fail(f"{name} was interrupted by the person (Ctrl-C)", "terminated")
            self._finish_run(result, name, call_id, started)
            raise
        return self._finish_run(result, name, call_id, started)

    def _finish_run(
        self, result: ToolResult, name: str, call_id: str, started: float
    ) -> ToolResult:
        duration = int((time.monotonic() - started) * 1000)
        full = result.output or ""
        size = result.output_size if result.output_size is not None else len(full)
        shown, cut = bound_output(full)
        blob = result.output_blob
        if blob is None and (cut or size > len(full)) and full:
            try:
                blob = self._store_blob(full.encode("utf-8", "replace"))
            except LogWriteError:
                blob = None
        try:
            self._record(
                "action_finished",
                {
                    "call_id": call_id,
                    "tool": name,
                    "status": result.status,
                    "exit_code": result.exit_code,
                    "output": shown,
                    "output_size": size,
                    "output_blob": blob,
                    "truncated": cut or size > len(full),
                    "duration_ms": duration,
                    "error": result.error,
                    "data": recordable(result.data),
                },
            )
        except LogWriteError as exc:
            result.output = (
                shown
                + f"\n[overseer: the audit log failed after this ran ({exc}); the session stops]"
            )
            return result
        result.output = shown
        result.output_size = size
        result.output_blob = blob
        return result
