"""The flag observer's hand-off: records reach the detector in batches, in
the order they were recorded, from any thread — and a sync still waits for
everything before it (issue 16: one wake-up per record cost the agent's
thread interpreter-lock switches on every call)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from overseer.audit.flags.observer import GATHER_S, FlagObserver
from overseer.events import SessionStartedPayload
from overseer.log import AuditLog


def _observer(tmp_path):
    log = AuditLog(tmp_path / "audit.db")
    sid = log.start_session(
        SessionStartedPayload(task="t", agent="script", workspace=str(tmp_path))
    )
    obs = FlagObserver(SimpleNamespace(log=log, id=sid, workspace=str(tmp_path)))
    seen: list[int] = []
    feed = obs.detector.feed

    def record(seq, kind, payload):
        seen.append(seq)
        return feed(seq, kind, payload)

    obs.detector.feed = record  # type: ignore[method-assign]
    batches: list[int] = []
    put = obs._queue.put

    def counting_put(item, *a, **k):
        batches.append(0 if item is None else len(item))
        return put(item, *a, **k)

    obs._queue.put = counting_put  # type: ignore[method-assign]
    return log, sid, obs, seen, batches


def test_records_from_several_threads_reach_the_detector_once_in_record_order(tmp_path):
    log, sid, obs, seen, batches = _observer(tmp_path)
    order: list[int] = []
    order_lock = threading.Lock()

    def note(session_id, seq, kind, payload):
        with order_lock:
            order.append(seq)

    # The observer subscribed first, so it is called before `note` for each
    # record; under one lock per record the two orders must agree.
    gate = threading.Lock()

    def append(n: int) -> None:
        for i in range(n):
            with gate:
                log.append(
                    sid, "notice", {"topic": "t", "message": str(i), "data": {}}, durable=False
                )

    log.subscribe(note)
    threads = [threading.Thread(target=append, args=(150,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    obs._drain()
    assert seen == order and len(seen) == 450
    # Far fewer hand-offs than records: the worker gathers what is recorded meanwhile.
    assert len(batches) < 450 / 3
    obs.stop()
    log.close()


def test_a_parked_worker_is_woken_and_a_lone_record_is_handled_promptly(tmp_path):
    log, sid, obs, seen, _batches = _observer(tmp_path)
    time.sleep(3 * GATHER_S)  # nothing recorded: the worker parks
    appended = log.append(sid, "notice", {"topic": "t", "message": "x", "data": {}})
    deadline = time.monotonic() + 2.0
    while appended.seq not in seen and time.monotonic() < deadline:
        time.sleep(0.005)
    assert appended.seq in seen
    obs.stop()
    log.close()
