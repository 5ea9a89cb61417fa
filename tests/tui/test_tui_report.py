"""The Report screen and the artifact viewer on the fixture folder (see conftest.py).

The fixture has three failures in two red bins: run-003/codegen and run-005/codegen
(max_steps; jobs 3 and 5, failed; run-005 is marked "ignored") and run-007/test
(tests_failed, started by hand: no job). Two more runs passed their check but the merge
gate refused them (run-008 review_rejected, run-009 reviewer_gate): they are not failures
to triage, they show in their own panel with the gate's reason.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

import pantheon_tui.screens.report as report_module
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.night.triage import TriageLog
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.report import ReportScreen
from pantheon_tui.screens.report_data import ReportData, load_report
from pantheon_tui.screens.viewer import ArtifactViewer, CodeView, layout_lines, render_file

from tui.conftest import REFUSED_REASON
from tui.pilot_helpers import wait_until

SIZE = (120, 40)
APP_KEYS = {"s", "u", "n", "r", "q", "question_mark", "?"}


def on_run(screen: ReportScreen, run_id: str) -> Callable[[], object]:
    """A condition: the cursor is on a failure of ``run_id``."""
    return lambda: screen.highlighted and screen.highlighted.run_id == run_id


async def report_screen(pilot: Pilot[None]) -> ReportScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    await wait_until(pilot, lambda: screen.loads > 0, "the first load")
    return screen


def messages(app: ControlRoom) -> list[tuple[str, str]]:
    return [(n.message, n.severity) for n in app._notifications]


def summary_text(screen: ReportScreen) -> str:
    return str(screen.query_one("#report-summary", Static).content)


def detail_text(screen: ReportScreen) -> str:
    static = screen.query_one("#report-detail", Static)
    lines = static.render_lines(static.region.reset_offset)
    return "\n".join(line.text for line in lines)


def panel_text(screen: ReportScreen, panel_id: str) -> str:
    """The text a fact panel shows, whitespace collapsed (the panel wraps it)."""
    content = screen.query_one(f"#{panel_id}", Static).content
    text = content.plain if isinstance(content, Text) else str(content)
    return " ".join(text.split())


def log_lines(room: RoomContext) -> int:
    return len((room.artifacts / "triage.jsonl").read_text().splitlines())


# --------------------------------------------------------------------------- the screen


async def test_bins_and_failures_show(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        assert screen.shown_bins() == ["codegen@1 · codegen · max_steps · 2",
                                       "test.pytest@1 · test · tests_failed · 1"]
        assert screen.shown_failures() == {"run-003/codegen": "open",
                                           "run-005/codegen": "ignored",
                                           "run-007/test": "open"}
        summary = summary_text(screen)
        for part in ("8 runs", "3 ok", "5 failed", "κ 0.00 over 5 review pairs", "3 merged",
                     "2 refused", "2 open",
                     "1 ignored", "read 06:00:00"):
            assert part in summary
        # the cursor starts on the first failure, not on the bin header above it
        assert screen.highlighted is not None and screen.highlighted.key == "run-003/codegen"
        await pilot.pause()
        detail = detail_text(screen)
        assert "max_steps (6) reached" in detail and "spec2code" in detail
        assert "22:03:00" in detail and "runs/run-003/codegen" in detail

        app.theme = "pantheon-day"  # the cells carry colours: drawn again, same rows
        await pilot.pause()
        assert screen.shown_failures()["run-005/codegen"] == "ignored"


async def test_keys_move_over_failures_and_merges(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.press("k")  # over the bin header, to the last merged change above it
        await wait_until(pilot, lambda: screen.highlighted_change is not None)
        assert screen.highlighted is None and screen.highlighted_change is not None
        assert screen.highlighted_change.run_id == "run-004"
        await pilot.press("k", "k", "k")  # the first merged change: the top stays
        assert screen.highlighted_change is not None
        assert screen.highlighted_change.run_id == "run-001"
        await pilot.press("j", "j", "j")
        await wait_until(pilot, on_run(screen, "run-003"))
        await pilot.press("j")
        await wait_until(pilot, on_run(screen, "run-005"))
        await pilot.press("down")  # over the test bin's header
        await wait_until(pilot, on_run(screen, "run-007"))
        await pilot.press("j")  # the last failure: stays
        assert screen.highlighted is not None and screen.highlighted.run_id == "run-007"
        await pilot.press("up")
        await wait_until(pilot, on_run(screen, "run-005"))


async def test_triage_marks_persist_across_restarts(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.press("j", "j")
        await wait_until(pilot, on_run(screen, "run-007"))
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.shown_failures()["run-007/test"] == "triaged")
        assert TriageLog(room.artifacts).marks()["run-007/test"].mark == "triaged"
        assert "1 triaged" in summary_text(screen)
        assert screen.highlighted is not None and screen.highlighted.run_id == "run-007"

    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        assert screen.shown_failures()["run-007/test"] == "triaged"
        assert screen.shown_failures()["run-005/codegen"] == "ignored"


async def test_reopen_ignore_hide_and_refresh(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.press("j")  # run-005, ignored
        await wait_until(pilot, on_run(screen, "run-005"))
        await pilot.press("o")
        await wait_until(pilot, lambda: screen.shown_failures()["run-005/codegen"] == "open")
        assert "run-005/codegen" not in TriageLog(room.artifacts).marks()
        await pilot.press("i")
        await wait_until(pilot, lambda: screen.shown_failures()["run-005/codegen"] == "ignored")

        lines = log_lines(room)
        await pilot.press("i")  # ignored already: nothing written
        await pilot.pause()
        assert log_lines(room) == lines

        await pilot.press("h")  # hide what is dealt with
        assert screen.hide_done
        assert set(screen.shown_failures()) == {"run-003/codegen", "run-007/test"}
        assert "hiding done" in summary_text(screen)
        # run-005 went out of sight: the cursor went on to the next failure
        assert screen.highlighted is not None and screen.highlighted.run_id == "run-007"
        await pilot.press("h")
        assert len(screen.shown_failures()) == 3

        await pilot.press("k")
        await wait_until(pilot, on_run(screen, "run-005"))
        # a mark written behind the screen's back shows after a refresh, cursor kept
        TriageLog(room.artifacts).mark("run-003", "codegen", "triaged")
        loads = screen.loads
        await pilot.press("g")
        await wait_until(pilot, lambda: screen.loads > loads, "the refresh")
        assert screen.shown_failures()["run-003/codegen"] == "triaged"
        assert screen.highlighted is not None and screen.highlighted.run_id == "run-005"


async def test_copy_node_folder_path(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        await report_screen(pilot)
        await pilot.press("y")
        assert app.clipboard == str((room.artifacts / "runs" / "run-003" / "codegen").absolute())


async def test_requeue_a_failed_job_then_refuse_a_queued_one(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.press("R")  # run-003: job 3, failed
        await wait_until(pilot, lambda: screen.shown_failures()["run-003/codegen"] == "requeued")
        with JobQueue.for_artifacts(room.artifacts) as queue:
            job = queue.get(3)
            assert job is not None and job.state == "queued"
        mark = TriageLog(room.artifacts).marks()["run-003/codegen"]
        assert (mark.mark, mark.job_id) == ("requeued", 3)
        assert any("job 3 queued again" in text for text, _ in messages(app))

        lines = log_lines(room)
        await pilot.press("R")  # job 3 is queued now: the queue says no
        await wait_until(pilot, lambda: any(sev == "error" for _, sev in messages(app)))
        errors = [text for text, sev in messages(app) if sev == "error"]
        assert "job 3 is queued" in errors[0]
        assert log_lines(room) == lines  # nothing marked


async def test_requeue_a_run_without_job_adds_one(room: RoomContext) -> None:
    with JobQueue.for_artifacts(room.artifacts) as queue:
        before = {job.id for job in queue.list()}
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        screen.focus_failure("run-007/test")
        await pilot.press("R")
        await wait_until(pilot, lambda: screen.shown_failures()["run-007/test"] == "requeued")
    with JobQueue.for_artifacts(room.artifacts) as queue:
        added = [job for job in queue.list() if job.id not in before]
    assert len(added) == 1 and added[0].state == "queued"
    assert TriageLog(room.artifacts).marks()["run-007/test"].job_id == added[0].id


async def test_requeue_error_without_run_json(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        (room.artifacts / "runs" / "run-003" / "run.json").write_text("{torn")
        await pilot.press("R")
        await wait_until(pilot, lambda: any(sev == "error" for _, sev in messages(app)))
        assert screen.shown_failures()["run-003/codegen"] == "open"


async def test_a_slow_read_leaves_the_keys_working(room: RoomContext,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow(artifacts: Path) -> ReportData:
        release.wait(5)
        return load_report(artifacts)

    monkeypatch.setattr(report_module, "load_report", slow)
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        await pilot.press("h")  # handled while the thread is still reading
        assert screen.hide_done and screen.loads == 0
        release.set()
        await wait_until(pilot, lambda: screen.loads > 0)
        assert set(screen.shown_failures()) == {"run-003/codegen", "run-007/test"}


async def test_a_read_older_than_a_mark_does_not_undo_it(room: RoomContext,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    read, release = threading.Event(), threading.Event()
    release.set()

    def gated(artifacts: Path) -> ReportData:
        data = load_report(artifacts)
        read.set()
        release.wait(5)
        return data

    monkeypatch.setattr(report_module, "load_report", gated)
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        read.clear()
        release.clear()
        loads = screen.loads
        await pilot.press("g")
        await wait_until(pilot, read.is_set, "the read")  # it holds the old marks now
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.shown_failures()["run-003/codegen"] == "triaged")
        release.set()
        await wait_until(pilot, lambda: screen.loads > loads, "the old read")
        assert screen.shown_failures()["run-003/codegen"] == "triaged"


async def test_pass_rate_reviewers_and_refusals_show(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.pause()
        # codegen@1, graded by test.pytest: runs 001 002 004 008 009 passed, 007 failed,
        # 003 005 never reached the check. Wilson 95 % of 5/6: [43.6 %, 97.0 %]
        rates = panel_text(screen, "report-rates")
        assert "codegen@1 83 % [44 %, 97 %]" in rates
        assert "5/6 passed, 2 not graded" in rates
        reviewers = panel_text(screen, "report-reviewers")
        assert "review.peer@1" in reviewers and "canaries 9/12 right (75 %)" in reviewers
        assert "false passes 2/6 (33 %)" in reviewers
        # one κ: the summary line's; the gate's own window (24 pairs, canaries in it, null
        # in reviewers.json) is not a second figure beside it
        assert "κ 0.00 over 5 review pairs" in reviewers and "24 pairs" not in reviewers
        assert "κ 0.00 over 5 review pairs" in summary_text(screen)
        refused = panel_text(screen, "report-refused")
        assert f"run-008 {REFUSED_REASON}" in refused
        assert "review_rejected ×1" in refused and "reviewer_gate ×1" in refused
        assert "run-009 not merged: review.peer@1 is not measured yet" in refused
        assert screen.query_one("#report-refused").border_title == (
            "Refused by the merge gate (2)")
        # a refusal is not a failure of the work: not in the triage table
        assert not any(key.startswith(("run-008", "run-009")) for key in screen.shown_failures())


async def test_without_reviewers_json_the_panel_says_so(room: RoomContext) -> None:
    night = room.artifacts / "nights"
    for path in night.glob("*/reviewers.json"):
        path.unlink()
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await pilot.pause()
        reviewers = panel_text(screen, "report-reviewers")
        assert "no reviewers.json: canaries not measured" in reviewers
        assert "review.peer@1" in reviewers and "5 review pairs in the runs" in reviewers
        assert "canaries 9/12" not in reviewers


# --------------------------------------------------------------------------- the viewer


async def test_viewer_shows_files_highlighted_and_copies_paths(room: RoomContext) -> None:
    node = room.artifacts / "runs" / "run-003" / "codegen"
    (node / "diff.patch").write_text("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n")
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        await wait_until(pilot, lambda: screen.highlighted is not None, "a failure highlighted")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactViewer),
                         "the viewer opened")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        assert [p.name for p in viewer.files][:4] == ["error.json", "prompt.txt",
                                                      "tool_calls.jsonl", "diff.patch"]

        def showing(name: str) -> bool:
            return viewer.shown is not None and viewer.shown.path.name == name

        await wait_until(pilot, lambda: showing("error.json"))
        assert viewer.shown is not None and viewer.shown.lexer == "json"
        assert '  "error_kind": "max_steps",' in viewer.shown.text.plain  # pretty-printed
        assert viewer.shown.text.spans  # highlighted
        code = viewer.query_one(CodeView)
        await wait_until(pilot, lambda: code.render_line(1).text.strip() == '"node": "codegen",',
                         "the file painted")

        await pilot.press("down")
        await wait_until(pilot, lambda: showing("prompt.txt"))
        assert "Task: Add shout()" in viewer.shown.text.plain
        await pilot.press("right_square_bracket", "tab")
        await wait_until(pilot, lambda: showing("diff.patch"))
        assert viewer.shown.lexer == "diff" and viewer.shown.text.spans

        await pilot.press("y")
        assert app.clipboard == str((node / "diff.patch").absolute())
        await pilot.press("w", "up")  # no wrap; back one file
        await wait_until(pilot, lambda: showing("tool_calls.jsonl"))
        assert not viewer.wrap

        await pilot.press("escape")
        assert isinstance(app.screen, ReportScreen)


def test_layout_wraps_or_keeps_lines() -> None:
    text = Text("a" * 50 + "\nb")
    strips, width = layout_lines(text, 20)
    assert [s.cell_length for s in strips] == [20, 20, 10, 1] and width == 20
    strips, width = layout_lines(text, None)
    assert len(strips) == 2 and width == 50


def test_render_file_by_type_and_size(tmp_path: Path) -> None:
    big = tmp_path / "tests.log"
    big.write_text("".join(f"line {i}\n" for i in range(40_000)))
    shown = render_file(big, limit=1_000)
    assert "showing the first 1.0 KB of" in shown.note
    assert len(shown.text.plain) <= 1_000
    assert re.fullmatch(r"line \d+", shown.text.plain.splitlines()[-1])  # no half line

    bad = tmp_path / "output.json"
    bad.write_text('{"half": ')
    assert render_file(bad).note == "not valid JSON: shown as written"

    lines = tmp_path / "tool_calls.jsonl"
    lines.write_text(json.dumps({"step": 1}) + "\n" + json.dumps({"step": 2}) + "\n")
    shown = render_file(lines)
    assert shown.lexer == "json" and shown.text.plain.splitlines() == ['{"step": 1}',
                                                                       '{"step": 2}']
    coloured = tmp_path / "pytest.log"
    coloured.write_bytes(b"\x1b[31mFAILED\x1b[0m test_x\r\nstray \x1b] \x01 end\n")
    shown = render_file(coloured)
    assert shown.text.plain.startswith("FAILED test_x\nstray ")
    assert shown.text.spans and not any(c in shown.text.plain for c in "\x1b\x01\r")
    script = tmp_path / "odd.py"
    script.write_text("x = '\x1b[2J'\n")
    assert "\x1b" not in render_file(script).text.plain

    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02")
    assert render_file(binary).note == "binary"
    empty = tmp_path / "review.json"
    empty.write_text("")
    assert render_file(empty).text.plain == "(empty file)"
    assert render_file(tmp_path / "gone.txt").note == "unreadable"
    assert render_file(tmp_path / "x.py").note == "unreadable"
    script = tmp_path / "x.py"
    script.write_text("def f():\n    return 1\n")
    assert render_file(script).lexer == "python"
    dark = render_file(script, dark=True).text.spans
    light = render_file(script, dark=False).text.spans
    assert dark and light


# --------------------------------------------------------------------------- garbage


async def test_garbage_in_the_folder_does_not_crash(room: RoomContext) -> None:
    runs = room.artifacts / "runs"
    (runs / "run-100").mkdir()
    (runs / "run-100" / "run.json").write_text("{not json")
    (runs / "run-101" / "codegen").mkdir(parents=True)  # no run.json at all
    (runs / "run-101" / "codegen" / "error.json").write_text("[]")
    (runs / "run-102").mkdir()
    (runs / "run-102" / "run.json").write_bytes(b"\xff\xfe[1, 2]")
    (runs / "stray.txt").write_text("not a run")
    (runs / "run-003" / "codegen" / "junk.bin").write_bytes(b"\x00\xff" * 10)
    (runs / "run-007" / "test" / "error.json").write_text('{"error": ')
    with (room.artifacts / "triage.jsonl").open("a") as handle:
        handle.write("garbage\n[1, 2]\n")
        handle.write(json.dumps({"run_id": "run-003", "node": "codegen", "mark": "bogus",
                                 "at": 1.0}) + "\n")
        handle.write('{"run_id": "run-00')  # a torn last line
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        assert screen.shown_failures() == {"run-003/codegen": "open",
                                           "run-005/codegen": "ignored",
                                           "run-007/test": "open"}
        screen.focus_failure("run-007/test")
        await pilot.press("enter")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        await wait_until(pilot, lambda: viewer.shown is not None)
        assert viewer.shown is not None and "not valid JSON" in viewer.shown.note
        await pilot.press("escape")
        screen.focus_failure("run-003/codegen")
        await pilot.press("enter")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        await pilot.press("up")  # wraps to the last file: junk.bin
        await wait_until(pilot, lambda: viewer.shown is not None
                       and viewer.shown.path.name == "junk.bin")
        assert viewer.shown.note == "binary"


async def test_a_missing_artifacts_folder_shows_an_empty_report(tmp_path: Path,
                                                                 room: RoomContext) -> None:
    room.artifacts = tmp_path / "nowhere"
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = await report_screen(pilot)
        assert screen.shown_failures() == {} and screen.highlighted is None
        await pilot.press("t", "enter", "y")  # nothing to act on: a warning, no crash
        assert isinstance(app.screen, ReportScreen)
        assert any(sev == "warning" for _, sev in messages(app))
        assert "0 runs" in summary_text(screen) and "κ: no review pairs" in summary_text(screen)
        assert "No run graded by a check yet." in panel_text(screen, "report-rates")
        assert "The gate refused nothing." in panel_text(screen, "report-refused")


def test_binding_ids_and_keys() -> None:
    for screen, prefix in ((ReportScreen, "report."), (ArtifactViewer, "viewer.")):
        for binding in screen.BINDINGS:
            assert binding.id and binding.id.startswith(prefix)  # type: ignore[union-attr]
    keys = {k for b in ReportScreen.BINDINGS for k in b.key.split(",")}  # type: ignore[union-attr]
    assert not keys & APP_KEYS
