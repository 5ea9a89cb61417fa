"""The Queue screen: rows, counts, filters, and the operator's commands on one job."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from pantheon_engine.night.jobqueue import JobQueue
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens import queue as queue_screen
from pantheon_tui.screens.queue import WIDTH, QueueScreen, job_row, row_cells

from tui.pilot_helpers import record_notes, wait_for

SIZE = (120, 40)
CLAIM_ORDER = [8, 1, 2, 3, 4, 5, 6, 7, 9]  # job 8 has priority 5, the rest 0


def screen(app: ControlRoom) -> QueueScreen:
    assert isinstance(app.screen, QueueScreen)
    return app.screen


def text_of(app: ControlRoom, widget_id: str) -> str:
    return str(screen(app).query_one(widget_id, Static).render())


def db_job(room: RoomContext, job_id: int) -> Any:
    with JobQueue.for_artifacts(room.artifacts) as queue:
        return queue.get(job_id)


async def loaded(pilot: Pilot[Any]) -> QueueScreen:
    app: ControlRoom = pilot.app  # type: ignore[assignment]
    assert await wait_for(pilot, lambda: screen(app).settled and bool(screen(app).shown_ids()))
    return screen(app)


async def put_cursor_on(pilot: Pilot[Any], job_id: int) -> None:
    queue = screen(pilot.app)  # type: ignore[arg-type]
    table = queue.query_one("#queue-table", DataTable)
    table.focus()
    table.move_cursor(row=queue.shown_ids().index(job_id))
    await pilot.pause()
    assert queue.cursor_job_id() == job_id


def state_cell(queue: QueueScreen, job_id: int) -> str:
    table = queue.query_one("#queue-table", DataTable)
    return str(table.get_row(str(job_id))[1])


async def test_rows_and_counts_of_the_fixture(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        assert queue.shown_ids() == CLAIM_ORDER
        counts = text_of(app, "#queue-counts")
        for part in ("queued 3", "running 1", "done 3", "failed 2", "cancelled 0"):
            assert part in counts
        assert text_of(app, "#queue-shown") == "showing 9 of 9"
        row = queue.query_one("#queue-table", DataTable).get_row("3")
        assert "failed" in row[1] and "Task 3" in row[6] and "run-003" in row[7]
        assert "max_steps (6) reached" in row[8] and row[5] == "8h"


async def test_state_filter_cycles_with_f_and_picks_with_digits(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        await pilot.press("f", "f", "f", "f")  # queued, running, done, failed
        assert queue.state_filter == "failed"
        assert await wait_for(pilot, lambda: queue.shown_ids() == [3, 5])
        assert "failed" in text_of(app, "#queue-state")
        await pilot.press("1")
        assert await wait_for(pilot, lambda: queue.shown_ids() == [8, 7, 9])
        await pilot.press("0")
        assert await wait_for(pilot, lambda: queue.shown_ids() == CLAIM_ORDER)


async def test_text_filter(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        await pilot.press("slash")
        assert app.focused is queue.query_one("#queue-filter", Input)
        await pilot.press(*"max")
        assert await wait_for(pilot, lambda: queue.shown_ids() == [3, 5])
        await pilot.press("enter")
        assert app.focused is queue.query_one("#queue-table")
        queue.query_one("#queue-filter", Input).value = "task 7"
        assert await wait_for(pilot, lambda: queue.shown_ids() == [7])
        assert text_of(app, "#queue-shown") == "showing 1 of 9"
        await pilot.press("escape")  # in the table: clears the filter
        assert await wait_for(pilot, lambda: queue.shown_ids() == CLAIM_ORDER)


async def test_requeue_a_failed_job_with_R(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        queue = await loaded(pilot)
        await put_cursor_on(pilot, 3)
        await pilot.press("R")
        assert await wait_for(pilot, lambda: "queued" in state_cell(queue, 3))
        assert db_job(room, 3).state == "queued"
        assert ("information", "job 3 requeued") in notes
        assert "queued 4" in text_of(app, "#queue-counts")
        assert queue.cursor_job_id() == 3


async def test_cancel_a_queued_job_with_c(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        await put_cursor_on(pilot, 9)
        await pilot.press("c")
        assert await wait_for(pilot, lambda: "cancelled" in state_cell(queue, 9))
        assert db_job(room, 9).state == "cancelled"


async def test_plus_raises_priority_and_the_cursor_follows(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        await put_cursor_on(pilot, 9)
        await pilot.press("plus")
        assert await wait_for(pilot, lambda: queue.shown_ids()[:2] == [8, 9])
        assert db_job(room, 9).priority == 1
        assert await wait_for(pilot, lambda: queue.cursor_job_id() == 9)
        await pilot.press("minus", "minus")
        assert await wait_for(pilot, lambda: db_job(room, 9).priority == -1)
        assert await wait_for(pilot, lambda: queue.shown_ids()[-1] == 9)


async def test_requeue_a_done_job_is_refused(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        queue = await loaded(pilot)
        await put_cursor_on(pilot, 1)
        before = [queue.query_one("#queue-table", DataTable).get_row(str(i))
                  for i in CLAIM_ORDER]
        await pilot.press("R")
        assert await wait_for(pilot, lambda: bool(notes))
        assert notes == [("error", "job 1 is done; only failed or cancelled jobs requeue")]
        assert db_job(room, 1).state == "done"
        after = [queue.query_one("#queue-table", DataTable).get_row(str(i))
                 for i in CLAIM_ORDER]
        assert after == before and queue.cursor_job_id() == 1


async def test_cursor_stays_on_its_job_after_a_refresh(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        await put_cursor_on(pilot, 5)
        with JobQueue.for_artifacts(room.artifacts) as db:
            new = db.add("flows/spec2code.yaml", {"title": "Urgent"}, priority=9,
                          flow_name="spec2code")
            db.cancel(7)
        await pilot.press("g")
        assert await wait_for(pilot, lambda: queue.shown_ids()[:1] == [new.id])
        assert await wait_for(pilot, lambda: "cancelled" in state_cell(queue, 7))
        assert queue.cursor_job_id() == 5


async def test_rows_past_the_cap_are_left_out_and_filled_in_chunks(
        room: RoomContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue_screen, "MAX_ROWS", 5)
    monkeypatch.setattr(queue_screen, "CHUNK", 2)
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        assert queue.shown_ids() == CLAIM_ORDER[:5]
        assert text_of(app, "#queue-shown") == "showing 5 of 9 — filter to narrow"
        await put_cursor_on(pilot, 4)
        await pilot.press("4")  # failed: 3 and 5
        assert await wait_for(pilot, lambda: queue.shown_ids() == [3, 5])
        await pilot.press("0")
        assert await wait_for(pilot, lambda: queue.settled and len(queue.shown_ids()) == 5)


async def test_no_queue_file_is_shown_and_not_created(room: RoomContext) -> None:
    room.artifacts = room.artifacts.parent / "elsewhere"
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        assert await wait_for(pilot, lambda: "No jobs yet" in text_of(app, "#queue-counts"))
        assert "pantheon demo" in text_of(app, "#queue-counts")
        notes = record_notes(app)
        await pilot.press("R")
        assert notes == [("warning", "no job selected")]
        assert not room.artifacts.exists()


def test_job_text_is_escaped(room: RoomContext) -> None:
    with JobQueue.for_artifacts(room.artifacts) as db:
        job = db.add("f.yaml", {"title": "[bold]not markup[/]"}, flow_name="x")
    row = job_row(job, room)
    assert "\\[bold]" in row_cells(row, WIDTH)[6]
    assert "[bold]not markup" in row.haystack


async def test_the_timer_reads_the_queue_again(room: RoomContext) -> None:
    room.poll_s = 0.05
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        queue = await loaded(pilot)
        with JobQueue.for_artifacts(room.artifacts) as db:
            new = db.add("flows/spec2code.yaml", {"title": "Late"}, flow_name="spec2code")
        assert await wait_for(pilot, lambda: queue.shown_ids()[-1:] == [new.id])


async def test_two_quick_raises_add_up(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await put_cursor_on(pilot, 7)
        await pilot.press("plus", "equals_sign")
        assert await wait_for(pilot, lambda: db_job(room, 7).priority == 2)


async def test_a_spec_queued_on_the_specs_screen_shows_here(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("Q")  # the first spec, add-shout.json
        with JobQueue.for_artifacts(room.artifacts) as db:
            assert await wait_for(pilot, lambda: db.counts()["queued"] == 4)
        await pilot.press("u")
        queue = await loaded(pilot)
        assert await wait_for(pilot, lambda: 10 in queue.shown_ids())
        row = queue.query_one("#queue-table", DataTable).get_row("10")
        assert "Add shout()" in row[6] and "queued" in row[1]
