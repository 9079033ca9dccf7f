"""TuiApprover: the broker's blocking request meets the app through futures
keyed by call id. Nothing may hang: completion, withdrawal on timeout and
closing the UI each end the waiting thread with an answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from overseer.tui.approver import TuiApprover, request_key

from overseer.approval import ApprovalDecision, ApprovalRequest


def req(call_id: str, kind: str = "approval") -> ApprovalRequest:
    return ApprovalRequest(
        session_id="s",
        call_id=call_id,
        tool="shell",
        args={"command": "make"},
        args_hash="h" + call_id,
        kind=kind,
    )  # type: ignore[arg-type]


def waiting(approver: TuiApprover, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(approver.pending()) < n:
        assert time.monotonic() < deadline, "requests never arrived"
        time.sleep(0.005)


def test_complete_answers_the_right_waiting_thread_among_several() -> None:
    approver = TuiApprover(by="me@here")
    seen: list[tuple[str, str]] = []
    approver.listen(lambda event, r: seen.append((event, r.call_id)))
    with ThreadPoolExecutor(4) as pool:
        futures = {cid: pool.submit(approver.request, req(cid)) for cid in ("a", "b", "c")}
        waiting(approver, 3)
        assert [r.call_id for r in approver.pending()] == ["a", "b", "c"]
        assert approver.complete(
            "approval:b", ApprovalDecision(decision="deny", reason="no", args_hash="hb")
        )
        assert futures["b"].result(timeout=2).reason == "no"
        assert futures["b"].result().by == "me@here"  # filled in when the app leaves it empty
        assert not futures["a"].done() and not futures["c"].done()
        assert not approver.complete(
            "approval:b", ApprovalDecision(decision="approve")
        )  # answered once
        approver.complete("approval:a", ApprovalDecision(decision="approve", args_hash="ha"))
        approver.complete("approval:c", ApprovalDecision(decision="approve", args_hash="hc"))
        assert {f.result(timeout=2).decision for f in futures.values()} == {"approve", "deny"}
    assert ("queued", "a") in seen and ("gone", "b") in seen


def test_withdraw_on_timeout_ends_the_waiting_thread_with_a_deny() -> None:
    approver = TuiApprover()
    gone: list[str] = []
    approver.listen(lambda event, r: event == "gone" and gone.append(r.call_id))
    result: list[ApprovalDecision] = []
    t = threading.Thread(target=lambda: result.append(approver.request(req("x"))))
    t.start()
    waiting(approver, 1)
    approver.withdraw("x")
    t.join(timeout=2)
    assert not t.is_alive() and result[0].decision == "deny" and "withdrawn" in result[0].reason
    assert gone == ["x"] and approver.pending() == []


def test_closing_denies_pending_and_later_requests_questions_included() -> None:
    approver = TuiApprover()
    with ThreadPoolExecutor(2) as pool:
        approval = pool.submit(approver.request, req("a"))
        question = pool.submit(approver.request, req("q", kind="question"))
        waiting(approver, 2)
        denied = approver.close("the person quit")
        assert {r.call_id for r in denied} == {"a", "q"}
        assert approval.result(timeout=2).decision == "deny"
        assert approval.result().args_hash == "ha"
        assert question.result(timeout=2).answer == "(no answer: the person quit)"
    later = approver.request(req("late"))
    assert later.decision == "deny" and later.reason == "the person quit"


def test_listeners_get_requests_that_arrived_before_them() -> None:
    approver = TuiApprover()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(approver.request, req("early", kind="question"))
        waiting(approver, 1)
        seen: list[str] = []
        approver.listen(lambda event, r: seen.append(f"{event}:{request_key(r)}"))
        assert seen == ["queued:question:early"]
        approver.complete("question:early", ApprovalDecision(decision="approve", answer="42"))
        assert future.result(timeout=2).answer == "42"
