"""The headless printer: event lines written off the agent's thread, in
record order, caught up before anything the person must answer."""

from __future__ import annotations

import sys

from overseer.cli.headless import HeadlessPrinter


def lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("[")]


def test_lines_keep_record_order_and_catch_up_before_a_prompt(capsys):
    printer = HeadlessPrinter()
    try:
        for seq in range(1, 301):
            printer("abcdef0123", seq, "user_message", {"text": f"m{seq}"})
        printer("abcdef0123", 301, "seal", {})
        # What the agent waits on: everything before it is on the terminal now.
        printer("abcdef0123", 302, "question_asked", {"call_id": "c1", "question": "which?"})
        sys.stderr.write("PROMPT\n")
    finally:
        printer.close()
    out = capsys.readouterr().err.splitlines()
    shown = lines("\n".join(out))
    assert len(shown) == 301  # the seal is not a line
    assert [int(line.split("]")[0].split()[-1]) for line in shown] == [*range(1, 301), 302]
    assert out.index("PROMPT") == len(out) - 1


def test_close_prints_what_is_left_and_a_bad_payload_does_not_stop_it(capsys):
    printer = HeadlessPrinter()
    printer("abcdef0123", 1, "action_finished", None)  # type: ignore[arg-type]
    printer("abcdef0123", 2, "user_message", {"text": "after"})
    printer.close()
    shown = lines(capsys.readouterr().err)
    assert shown and "after" in shown[-1]


def test_lines_recorded_during_a_console_prompt_wait_for_its_answer(capsys):
    printer = HeadlessPrinter(prompts=True)
    try:
        printer("abcdef0123", 1, "approval_requested", {"call_id": "c1", "tool": "shell"})
        sys.stderr.write("PROMPT\n")
        # The watcher records a change while the person is still answering.
        printer("abcdef0123", 2, "user_message", {"text": "noticed meanwhile"})
        printer.drain()
        assert "noticed meanwhile" not in capsys.readouterr().err
        printer("abcdef0123", 3, "approval_decided", {"call_id": "c1", "decision": "approve"})
        printer.drain()
        after = lines(capsys.readouterr().err)
        assert [line.split("]")[0].split()[-1] for line in after] == ["2", "3"]
        # No prompt on this terminal (remote decisions): nothing is held.
        remote = HeadlessPrinter()
        remote("abcdef0123", 4, "approval_requested", {"call_id": "c2", "tool": "shell"})
        remote("abcdef0123", 5, "user_message", {"text": "shown at once"})
        remote.drain()
        assert "shown at once" in capsys.readouterr().err
        remote.close()
    finally:
        printer.close()


def test_lines_are_written_by_the_recording_thread_and_stay_whole(capsys):
    # No printer thread: the line is on stderr when the call returns.
    printer = HeadlessPrinter()
    printer("abcdef0123", 1, "user_message", {"text": "at once"})
    assert "at once" in capsys.readouterr().err
    # Events recorded by several threads at once: every line whole.
    import threading

    def record(base: int) -> None:
        for i in range(200):
            printer("abcdef0123", base + i, "user_message", {"text": f"t{base + i}"})

    threads = [threading.Thread(target=record, args=(b,)) for b in (1000, 2000, 3000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    printer.close()
    shown = lines(capsys.readouterr().err)
    assert len(shown) == 600
    assert sorted(int(line.split("]")[0].split()[-1]) for line in shown) == sorted(
        [*range(1000, 1200), *range(2000, 2200), *range(3000, 3200)]
    )


def test_agent_text_cannot_drive_the_terminal_or_split_a_line(capsys):
    printer = HeadlessPrinter()
    printer(
        "abcdef0123",
        1,
        "action_proposed",
        {"call_id": "c1", "tool": "shell", "args": {"command": "echo \x1b]0;owned\x07\nrm -rf x"}},
    )
    printer.close()
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.count("\n") == 1 and "\\x1b]0;owned\\x07" in err
