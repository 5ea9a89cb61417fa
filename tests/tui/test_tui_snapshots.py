"""What each screen looks like on the fixture folder (frozen clock, UTC, no cursor blink).

Update after an intended change with ``pytest tests/tui/test_tui_snapshots.py
--snapshot-update`` and look at the SVGs in ``__snapshots__`` before committing them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from pantheon_engine.atomic import atomic_write_json
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.night import NightScreen
from pantheon_tui.screens.queue import QueueScreen
from pantheon_tui.screens.report import ReportScreen

from tui.conftest import NIGHT_ID
from tui.pilot_helpers import wait_until

SIZE = (120, 40)
SnapCompare = Callable[..., bool]


async def _until(pilot: Pilot[Any], done: Callable[[], object]) -> None:
    await wait_until(pilot, done, "the screen to finish loading", tries=250)
    await pilot.pause()


def _settle(mode: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = pilot.app.screen
        if mode == "night":
            assert isinstance(screen, NightScreen)
            await screen.settled()
        elif mode == "queue":
            assert isinstance(screen, QueueScreen)
            await _until(pilot, lambda: screen.settled)
        elif mode == "report":
            assert isinstance(screen, ReportScreen)
            await screen.reload_now()
        await pilot.pause()

    return run_before


def test_specs_screen(snap_compare: SnapCompare, room: RoomContext) -> None:
    assert snap_compare(ControlRoom(room, mode="specs"), terminal_size=SIZE,
                        run_before=_settle("specs"))


def test_specs_screen_shows_problems_as_you_type(snap_compare: SnapCompare,
                                                 room: RoomContext) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.press("e")
        title = pilot.app.screen.query_one("#spec-title")
        title.value = "x"
        await pilot.pause()

    assert snap_compare(ControlRoom(room, mode="specs"), terminal_size=SIZE,
                        run_before=run_before)


def test_queue_screen(snap_compare: SnapCompare, room: RoomContext) -> None:
    assert snap_compare(ControlRoom(room, mode="queue"), terminal_size=SIZE,
                        run_before=_settle("queue"))


def test_night_screen(snap_compare: SnapCompare, room: RoomContext) -> None:
    assert snap_compare(ControlRoom(room, mode="night"), terminal_size=SIZE,
                        run_before=_settle("night"))


def test_report_screen(snap_compare: SnapCompare, room: RoomContext) -> None:
    assert snap_compare(ControlRoom(room, mode="report"), terminal_size=SIZE,
                        run_before=_settle("report"))


def test_artifact_viewer(snap_compare: SnapCompare, room: RoomContext) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle("report")(pilot)
        await pilot.press("enter")
        viewer = pilot.app.screen
        await _until(pilot, lambda: getattr(viewer, "shown", None) is not None)

    assert snap_compare(ControlRoom(room, mode="report"), terminal_size=SIZE,
                        run_before=run_before)


def test_help_screen(snap_compare: SnapCompare, room: RoomContext) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle("night")(pilot)
        await pilot.press("question_mark")

    assert snap_compare(ControlRoom(room, mode="night"), terminal_size=SIZE,
                        run_before=run_before)


def test_light_theme(snap_compare: SnapCompare, room: RoomContext) -> None:
    room.settings.theme = "pantheon-day"
    assert snap_compare(ControlRoom(room, mode="report"), terminal_size=SIZE,
                        run_before=_settle("report"))


# --- the narrowest and a wide terminal -------------------------------------------------------

NARROW = (80, 24)
WIDE = (160, 48)


def test_night_that_ended_narrow(snap_compare: SnapCompare, room: RoomContext) -> None:
    """80×24: the night's end in the header, the footer's ? and q, a flat schema-error line."""
    night = room.artifacts / "nights" / NIGHT_ID
    meta = json.loads((night / "night.json").read_text())
    atomic_write_json(night / "night.json", {**meta, "finished_at": "2026-11-21T05:30:00+00:00"})
    assert snap_compare(ControlRoom(room, mode="night"), terminal_size=NARROW,
                        run_before=_settle("night"))


def test_queue_screen_wide(snap_compare: SnapCompare, room: RoomContext) -> None:
    """160×48: the columns grown with the window."""
    assert snap_compare(ControlRoom(room, mode="queue"), terminal_size=WIDE,
                        run_before=_settle("queue"))


def test_job_viewer_narrow(snap_compare: SnapCompare, room: RoomContext) -> None:
    """80×24: enter on a failed job: the job, then every node of its run."""
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settle("queue")(pilot)
        await pilot.press("down", "down", "down", "enter")  # job 3, failed at codegen
        await _until(pilot, lambda: getattr(pilot.app.screen, "shown", None) is not None)

    assert snap_compare(ControlRoom(room, mode="queue"), terminal_size=NARROW,
                        run_before=run_before)
