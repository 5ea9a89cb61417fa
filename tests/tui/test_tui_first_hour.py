"""The room as a new user meets it, at 80×24 and at 160×48 (issue 17, point 13).

The room's themes come with the package; empty screens say what to run first; a night
that ended says so; a series that does not move is a flat line; the queue's columns grow
with the window and ``enter`` opens a job; the footer always shows ``?`` and ``q``; ``l``
without a curve says so; the viewer shows a docops run's document before and after.
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from pantheon_engine.atomic import append_jsonl, atomic_write_json
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import DEFAULT_THEME, RoomContext, TuiSettings
from pantheon_tui.screens.curves import CurvesScreen
from pantheon_tui.screens.night import NightScreen
from pantheon_tui.screens.queue import WIDTH, QueueScreen, column_widths
from pantheon_tui.screens.report import ReportScreen
from pantheon_tui.screens.viewer import ArtifactViewer
from pantheon_tui.themes import BUILTIN_THEMES
from pantheon_tui.widgets.trend import chart_rows
from test_fixes import FINAL, PATH, failed_run, tool

from tui.conftest import FROZEN, NIGHT_ID, REPO, metrics_sample
from tui.pilot_helpers import record_notes, screen_text, wait_until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
LONG_RUN_ID = "20261120T230512Z-spec2code-3f2a1b"  # 33 characters, as new_run_id makes them


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")


def bare_room(root: Path) -> RoomContext:
    """A project folder with an empty artifacts folder and nothing else."""
    (root / "artifacts").mkdir(parents=True)
    return replace(RoomContext.from_folder(root), clock=lambda: FROZEN, tz=UTC, watch=False,
                   poll_s=3600.0)


# --- themes ----------------------------------------------------------------------------------


async def test_outside_the_repo_the_room_has_its_themes(tmp_path: Path) -> None:
    """No themes/ folder, no pantheon.toml: the shipped default theme, and no warning."""
    room = bare_room(tmp_path)
    assert not room.themes.exists()
    app = ControlRoom(room)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        assert app.problems == []
        assert "pantheon-day" in app.available_themes


async def test_a_projects_themes_folder_adds_and_replaces_themes(tmp_path: Path) -> None:
    room = bare_room(tmp_path)
    room.themes.mkdir()
    (room.themes / "harbour.toml").write_text('name = "harbour"\nprimary = "#5fb3b3"\n')
    (room.themes / "mine.toml").write_text('name = "pantheon-day"\nprimary = "#ff0000"\n'
                                           "dark = false\n")
    room.settings = TuiSettings(theme="harbour")
    app = ControlRoom(room)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "harbour" and app.problems == []
        assert app.get_theme("pantheon-day").primary == "#ff0000"


def test_the_shipped_themes_are_package_data() -> None:
    """Every theme file of the package is named by pyproject's package data (a wheel has
    them), and the repo's themes/ folder no longer keeps copies of them."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["pantheon_tui"]
    package = BUILTIN_THEMES.parent
    shipped = sorted(BUILTIN_THEMES.glob("*.toml"))
    assert {p.stem for p in shipped} == {"pantheon-night", "pantheon-day"}
    for path in shipped:
        assert any(fnmatch.fnmatch(path.relative_to(package).as_posix(), pattern)
                   for pattern in patterns), path
    assert not list((REPO / "themes").glob("pantheon-*.toml"))


# --- empty screens -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_an_empty_night_screen_says_what_to_run_first(tmp_path: Path,
                                                           size: tuple[int, int]) -> None:
    app = ControlRoom(bare_room(tmp_path), mode="night")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, NightScreen)
        await screen.settled()
        await pilot.pause()
        assert "No night yet: run pantheon demo (example jobs), then pantheon night" \
            in screen_text(app)


@pytest.mark.parametrize("size", SIZES)
async def test_an_empty_queue_says_what_to_run_first(tmp_path: Path,
                                                     size: tuple[int, int]) -> None:
    app = ControlRoom(bare_room(tmp_path), mode="queue")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        await wait_until(pilot, lambda: screen.settled, "the first read")
        await pilot.pause()
        assert "No jobs yet: run pantheon demo (example jobs), then pantheon night" \
            in screen_text(app)


# --- the night -------------------------------------------------------------------------------


def end_the_night(room: RoomContext, at: float) -> None:
    night = room.artifacts / "nights" / NIGHT_ID
    meta = json.loads((night / "night.json").read_text())
    atomic_write_json(night / "night.json", {**meta, "finished_at": iso(at)})


@pytest.mark.parametrize("size", SIZES)
async def test_a_night_that_ended_says_so(room: RoomContext, size: tuple[int, int]) -> None:
    end_the_night(room, FROZEN - 1800)
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, NightScreen)
        await screen.settled()
        await pilot.pause()
        assert screen.ended_at == FROZEN - 1800
        header = screen.header_text().plain
        assert "ended 05:30:00 (30m ago)" in header
        assert "following the newest" not in header
        assert "ended 05:30:00" in screen_text(app)  # in sight, even at 80 columns


async def test_the_night_is_seen_to_end_while_the_room_is_open(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, NightScreen)
        await screen.settled()
        assert "following the newest" in screen.header_text().plain
        end_the_night(room, FROZEN - 60)
        await wait_until(pilot, lambda: screen.ended_at is not None, "the night's end")
        assert "ended 05:59:00 (1m ago)" in screen.header_text().plain


def test_a_series_that_does_not_move_is_a_flat_line() -> None:
    assert chart_rows([0.0, 0.0, 0.0], 3) == ["   ", "   ", "▁▁▁"]
    assert chart_rows([4.0, 4.0], 2) == ["  ", "▁▁"]  # whatever the value: the head says it
    assert chart_rows([0.0, None, 0.0], 2) == ["   ", "▁ ▁"]


@pytest.mark.parametrize("size", SIZES)
async def test_a_schema_error_rate_of_zero_all_night_draws_no_bars(
        room: RoomContext, size: tuple[int, int]) -> None:
    metrics = room.artifacts / "nights" / NIGHT_ID / "metrics.jsonl"
    metrics.unlink()
    for i in range(40):
        append_jsonl(metrics, {**metrics_sample(i), "schema_error_rate": 0.0})
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, NightScreen)
        await screen.settled()
        await pilot.pause()
        lines = screen.panel("schema").render().plain.splitlines()
        chart = lines[3:]
        assert chart and all(set(row) <= {" ", "▁"} for row in chart), chart
        assert set(chart[-1]) == {"▁"}


# --- the queue -------------------------------------------------------------------------------


def test_the_columns_grow_run_first_then_title_and_error() -> None:
    assert column_widths(80) == WIDTH  # narrower than the table: the narrowest, scrolled
    assert column_widths(0) == WIDTH
    wide = column_widths(160)
    assert wide["run"] == len(LONG_RUN_ID) and wide["flow"] == 16
    assert wide["title"] > WIDTH["title"] and wide["error"] > WIDTH["error"]
    assert sum(wide.values()) + 2 * len(wide) == 160 - 2  # the scrollbar's two kept free
    assert {k: v for k, v in wide.items() if k not in ("run", "flow", "title", "error")} \
        == {k: v for k, v in WIDTH.items() if k not in ("run", "flow", "title", "error")}


def add_done_job(room: RoomContext, run_id: str) -> int:
    with JobQueue.for_artifacts(room.artifacts) as queue:
        job = queue.add("flows/spec2code.yaml", {"title": "Wide"}, flow_name="spec2code",
                        priority=9)
        claimed = queue.claim("host:1", lease_s=60)
        assert claimed is not None and claimed.id == job.id
        queue.complete(job.id, "host:1", run_id)
        return job.id


async def queue_screen(pilot, app: ControlRoom) -> QueueScreen:  # type: ignore[no-untyped-def]
    screen = app.screen
    assert isinstance(screen, QueueScreen)
    await wait_until(pilot, lambda: screen.settled and screen.shown_ids(), "the jobs")
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", SIZES)
async def test_the_queue_columns_grow_with_the_window(room: RoomContext,
                                                      size: tuple[int, int]) -> None:
    add_done_job(room, LONG_RUN_ID)
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=size) as pilot:
        screen = await queue_screen(pilot, app)
        table = screen.query_one("#queue-table", DataTable)
        await wait_until(pilot, lambda: screen.widths == column_widths(table.size.width),
                         "the columns fitted")
        shown = {str(column.key.value): column.width for column in table.columns.values()}
        assert shown == screen.widths
        run_cell = str(table.get_row_at(0)[7])  # the new job has the highest priority
        if size[0] >= 160:
            assert shown["run"] == len(LONG_RUN_ID) and LONG_RUN_ID in run_cell
        else:
            assert shown == WIDTH and run_cell.endswith("…")


async def test_resizing_keeps_the_cursor_on_its_job(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await queue_screen(pilot, app)
        await pilot.press("down", "down")
        job = screen.cursor_job_id()
        await pilot.resize_terminal(160, 48)
        await wait_until(pilot, lambda: screen.widths["run"] == len(LONG_RUN_ID), "wider")
        await wait_until(pilot, lambda: screen.settled and screen.cursor_job_id() == job,
                         "the cursor back on its job")


@pytest.mark.parametrize("size", SIZES)
async def test_enter_on_a_failed_job_opens_it_and_its_run(room: RoomContext,
                                                          size: tuple[int, int]) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=size) as pilot:
        screen = await queue_screen(pilot, app)
        screen.query_one("#queue-table", DataTable).move_cursor(
            row=screen.shown_ids().index(3), animate=False)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactViewer), "the viewer")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        names = [entry.name for entry in viewer.entries]
        assert names[:3] == ["job", "codegen/error.json", "codegen/prompt.txt"]
        assert "plan/input.json" in names  # every node of the run
        await wait_until(pilot, lambda: viewer.shown is not None, "the job shown")
        assert viewer.shown is not None
        assert '"error": "max_steps (6) reached"' in viewer.shown.text.plain
        assert "job 3 · failed · run run-003 · job" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is screen


@pytest.mark.parametrize("size", SIZES)
async def test_enter_on_a_queued_job_shows_the_job(room: RoomContext,
                                                   size: tuple[int, int]) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=size) as pilot:
        screen = await queue_screen(pilot, app)
        assert screen.shown_ids()[0] == 8  # queued, priority 5
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactViewer), "the viewer")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        assert [entry.name for entry in viewer.entries] == ["job"]
        await wait_until(pilot, lambda: viewer.shown is not None, "the job shown")
        assert viewer.shown is not None and '"title": "Task 8"' in viewer.shown.text.plain
        assert "job 8 · queued · no run yet" in screen_text(app)


# --- the footer ------------------------------------------------------------------------------


async def _open(app: ControlRoom, where: str) -> None:
    if where == "viewer":
        await app.push_screen(ArtifactViewer(app.ctx.artifacts, "run-003", "codegen"))
    elif where == "curves":
        await app.push_screen(CurvesScreen(app.ctx.artifacts, poll_s=3600.0))
    else:
        await app.switch_mode(where)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("where", ["specs", "queue", "night", "report", "viewer", "curves"])
async def test_the_footer_always_shows_help_and_quit(room: RoomContext, size: tuple[int, int],
                                                     where: str) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=size) as pilot:
        await _open(app, where)
        await wait_until(pilot, lambda: len(app.screen.query(FooterKey)) > 2, "the footer")
        await pilot.pause()
        keys = list(app.screen.query(FooterKey))
        assert [key.action for key in keys[:2]] == ["help", "quit"]
        for key in keys[:2]:
            assert key.region.width > 0 and key.region.right <= size[0]
        bottom = screen_text(app).splitlines()[size[1] - 1]
        assert bottom.startswith(" ? Help  q Quit ")


# --- learning curves -------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_l_without_a_curve_says_so(room: RoomContext, size: tuple[int, int]) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        await wait_until(pilot, lambda: screen.loads > 0, "the first load")
        assert not screen.has_curves()
        notes = record_notes(app)
        await pilot.press("l")
        await pilot.pause()
        assert app.screen is screen
        assert len(notes) == 1 and notes[0][1].startswith("No learning curves yet")
        assert "pantheon specialize" in notes[0][1]
        await pilot.press("n", "l")  # elsewhere the key does nothing
        assert len(notes) == 1


# --- the document before and after -----------------------------------------------------------


@pytest.fixture
async def docops_room(docops_repo: Path, tmp_path: Path) -> tuple[RoomContext, str]:
    """A docops run whose agent dropped `draft` and stopped (its check failed), queued as a
    job of the room's queue."""
    art = tmp_path / "art"
    run_id = await failed_run(docops_repo, art, [tool("fm_delete", key="draft"), FINAL])
    room = RoomContext(artifacts=art, specs=tmp_path / "specs", flows=tmp_path / "flows",
                       themes=tmp_path / "themes", clock=lambda: FROZEN, tz=UTC,
                       watch=False, poll_s=3600.0)
    with JobQueue.for_artifacts(art) as queue:
        job = queue.add("docops", {"path": PATH}, flow_name="docops")
        assert queue.claim("host:1", lease_s=60) is not None
        queue.fail(job.id, "host:1", error_kind="check_failed", error="1 of 3 rules met",
                   run_id=run_id, retry=False)
    return room, run_id


async def shown(pilot, viewer: ArtifactViewer, name: str) -> str:  # type: ignore[no-untyped-def]
    index = [entry.name for entry in viewer.entries].index(name)
    viewer.action_step(index - viewer.index)
    await wait_until(pilot, lambda: viewer.shown_entry is not None
                     and viewer.shown_entry is viewer.current
                     and viewer.shown_entry.name == name, f"{name} shown")
    await pilot.pause()
    assert viewer.shown is not None
    return viewer.shown.text.plain


@pytest.mark.parametrize("size", SIZES)
async def test_the_viewer_shows_the_document_before_and_after(
        docops_room: tuple[RoomContext, str], size: tuple[int, int]) -> None:
    room, run_id = docops_room
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=size) as pilot:
        viewer = ArtifactViewer(room.artifacts, run_id, "check")
        await app.push_screen(viewer)
        await wait_until(pilot, lambda: viewer.documents is not None, "the documents",
                         tries=250)
        names = [entry.name for entry in viewer.entries]
        assert names[:3] == ["error.json", "before · guide.md", "after · guide.md"]
        before = await shown(pilot, viewer, "before · guide.md")
        assert "Title: Getting started" in before and "draft: true" in before
        assert f"{run_id} / check · before · guide.md · as the run found it (commit" \
            in viewer.title_text
        after = await shown(pilot, viewer, "after · guide.md")
        assert "Title: Getting started" in after and "draft" not in after
        assert "after · guide.md · the agent's edits replayed" in viewer.title_text
        await pilot.press("y")  # the document's path in the user's workspace
        assert app.clipboard.endswith(PATH)


async def test_a_docops_job_opens_on_its_document(docops_room: tuple[RoomContext, str]) -> None:
    room, _run_id = docops_room
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=(80, 24)) as pilot:
        await queue_screen(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactViewer), "the viewer")
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        await wait_until(pilot, lambda: viewer.documents is not None, "the documents",
                         tries=250)
        assert [entry.name for entry in viewer.entries][:4] == [
            "job", "check/error.json", "before · guide.md", "after · guide.md"]


async def test_a_run_of_no_document_agent_has_no_documents(room: RoomContext) -> None:
    app = ControlRoom(room, mode="night")
    async with app.run_test(size=(80, 24)) as pilot:
        viewer = ArtifactViewer(room.artifacts, "run-003", "codegen")
        await app.push_screen(viewer)
        await wait_until(pilot, lambda: viewer.documents is not None, "the look", tries=250)
        assert viewer.documents == []
        assert viewer.entries[0].name == "error.json"
