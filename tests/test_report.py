"""The evidence summary is built from the log, not from the agent's words."""

from __future__ import annotations

from overseer.report import evidence, format_evidence


def test_evidence_lists_tests_denials_and_writes_outside_the_workspace():
    events = [
        (1, "session_started", {"workspace": "/w"}),
        (2, "action_proposed", {"call_id": "t", "tool": "run_tests"}),
        (
            3,
            "action_finished",
            {
                "call_id": "t",
                "tool": "run_tests",
                "status": "failed",
                "data": {"outcome": "failed", "passed": 3, "failed": 1},
            },
        ),
        (
            4,
            "action_started",
            {"call_id": "a", "tool": "write_file", "args": {"path": "/etc/motd"}},
        ),
        (5, "action_finished", {"call_id": "a", "tool": "write_file", "status": "ok"}),
        (
            6,
            "action_started",
            {"call_id": "b", "tool": "edit_file", "args": {"path": "src/app.py"}},
        ),
        (7, "action_finished", {"call_id": "b", "tool": "edit_file", "status": "ok"}),
        (8, "file_changed", {"path": "src/app.py", "change": "modified"}),
        (
            9,
            "action_finished",
            {"call_id": "c", "tool": "shell", "status": "denied", "error": "denied by dev: no"},
        ),
        (10, "approval_decided", {"call_id": "c", "decision": "deny", "by": "dev", "reason": "no"}),
        (11, "flag_raised", {"flag": "reward_hacking", "reason": "skip added"}),
    ]
    ev = evidence(events)
    assert ev["written_outside_workspace"] == ["/etc/motd"]
    assert ev["files_changed"] == [{"path": "src/app.py", "change": "modified"}]
    text = format_evidence(ev)
    assert "test run: failed (3 passed, 1 failed) [seq 3]" in text
    assert "written OUTSIDE the workspace: /etc/motd" in text
    assert "1 approval decision (0 approved), 1 denied action" in text
    assert "denied shell: denied by dev: no [seq 9]" in text
    assert "FLAG reward_hacking: skip added [seq 11]" in text
