"""The Report screen by document (issue 17, points 10 and 11): what the night merged comes
first, each change with its title and, beside it, its diff; each failure shows its run id
whole (never cut: it can be copied), its document and its error; the summary line and the
reviewers panel say the same κ. At 80×24 and 160×48, as pilots and snapshots.

The fixture folder (conftest.py) plus two docops runs with the ids a night gives
(morning_runs.py): one merged (``docs/handbook/on-call.md``), one failed at its check
(``docs/guides/getting-started.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from pantheon_engine.night.report_text import kappa_figure
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.report import ReportScreen
from pantheon_tui.screens.viewer import ArtifactViewer

from tui.morning_runs import (
    FAILED_DOC,
    FAILED_ID,
    MERGED_DOC,
    MERGED_ID,
    add_morning_runs,
)
from tui.pilot_helpers import record_notes, wait_until

SMALL, LARGE = (80, 24), (160, 48)
SnapCompare = Callable[..., bool]


@pytest.fixture
def morning(room: RoomContext) -> RoomContext:
    add_morning_runs(room.artifacts)
    return room


async def loaded(pilot: Pilot[Any]) -> ReportScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    await wait_until(pilot, lambda: screen.loads > 0, "the first load")
    await screen.reload_now()
    await pilot.pause()
    return screen


def cell_texts(screen: ReportScreen, key: str) -> list[str]:
    table = screen.query_one(DataTable)
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in table.get_row(key)]


def detail_text(screen: ReportScreen) -> str:
    static = screen.query_one("#report-detail", Static)
    lines = static.render_lines(static.region.reset_offset)
    return "\n".join(line.text for line in lines)


def screen_text(app: ControlRoom) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_failures_show_run_id_document_and_error(morning: RoomContext,
                                                       size: tuple[int, int]) -> None:
    app = ControlRoom(morning, mode="report")
    async with app.run_test(size=size) as pilot:
        screen = await loaded(pilot)
        key = f"{FAILED_ID}/check"
        first = cell_texts(screen, key)[0]
        assert first.split("\n") == [FAILED_ID, f"  {FAILED_DOC}"] or (
            first.startswith(f"{FAILED_ID}\n  {FAILED_DOC}\n"))  # 80 columns: error below
        assert "check.rules: 2 of 5 rules fail" in "".join(cell_texts(screen, key))
        assert "second line of detail" not in "".join(cell_texts(screen, key))
        table = screen.query_one(DataTable)
        assert table.columns[table.ordered_columns[0].key].width >= len(FAILED_ID)
        screen.focus_failure(key)  # scrolled into sight
        await pilot.pause()
        assert FAILED_ID in screen_text(app)  # on screen, whole, on one line


async def test_the_table_starts_with_what_the_night_merged(morning: RoomContext) -> None:
    app = ControlRoom(morning, mode="report")
    async with app.run_test(size=LARGE) as pilot:
        screen = await loaded(pilot)
        assert screen.shown_merged() == ["run-001: Add shout()", "run-002: Add shout()",
                                         "run-004: Add shout()", f"{MERGED_ID}: {MERGED_DOC}"]
        table = screen.query_one(DataTable)
        assert table.get_row_at(0)[0].plain == "merged"
        assert cell_texts(screen, f"merged:{MERGED_ID}") == [MERGED_DOC, "merged",
                                                              "+2 −2 in 1 file"]
        # the cursor starts on the first failure to triage, below the merged changes
        assert screen.highlighted is not None and screen.highlighted.run_id == "run-003"

        await pilot.press("k")
        await wait_until(pilot, lambda: screen.highlighted_change is not None)
        change = screen.highlighted_change
        assert change is not None and change.run_id == MERGED_ID
        await pilot.pause()
        detail = detail_text(screen)
        for text in (f"title  {MERGED_DOC}", f"run    {MERGED_ID}", f"branch pantheon/{MERGED_ID}",
                     "change +2 −2 in 1 file", "-Title: On-call handbook",
                     "+title: On-call handbook", "+date: 2024-02-01"):
            assert text in detail, text

        notes = record_notes(app)
        await pilot.press("t")  # marks are for failures: a merged change is not one
        assert ("warning", "Move to a failure first.") in notes
        await pilot.press("y")  # the change's diff.patch
        diff = morning.artifacts / "runs" / MERGED_ID / "frontmatter" / "diff.patch"
        assert app.clipboard == str(diff.absolute())
        await pilot.press("enter")  # the files of the node that wrote the change
        await wait_until(pilot, lambda: isinstance(app.screen, ArtifactViewer))
        viewer = app.screen
        assert isinstance(viewer, ArtifactViewer)
        assert (viewer.run_id, viewer.node) == (MERGED_ID, "frontmatter")


async def test_one_kappa_on_the_line_and_in_the_panel(morning: RoomContext) -> None:
    app = ControlRoom(morning, mode="report")
    async with app.run_test(size=LARGE) as pilot:
        screen = await loaded(pilot)
        assert screen.data is not None
        figure = kappa_figure(screen.data.summary.kappa)
        assert figure == "κ 0.40 over 6 review pairs"
        summary = str(screen.query_one("#report-summary", Static).content)
        panel = screen.query_one("#report-reviewers", Static).content
        panel_text = " ".join((panel.plain if isinstance(panel, Text) else str(panel)).split())
        assert figure in summary and figure in panel_text
        assert panel_text.count("κ ") == 2  # the figure, and the gate's limit "κ ≥ 0.6"
        assert "undefined" not in panel_text  # the gate window's own κ is not shown


async def test_nothing_failed_the_cursor_starts_on_a_change(morning: RoomContext) -> None:
    for run in ("run-003", "run-005", "run-007", FAILED_ID):
        for error in (morning.artifacts / "runs" / run).glob("*/error.json"):
            error.unlink()
        meta = morning.artifacts / "runs" / run / "run.json"
        meta.write_text(meta.read_text().replace('"failed"', '"not_run"'))
    app = ControlRoom(morning, mode="report")
    async with app.run_test(size=SMALL) as pilot:
        screen = await loaded(pilot)
        assert screen.shown_failures() == {}
        assert screen.highlighted_change is not None
        assert screen.highlighted_change.run_id == "run-001"


# --------------------------------------------------------------------------- snapshots


def _settle(keys: tuple[str, ...] = ()) -> Callable[[Pilot[Any]], Any]:
    async def run_before(pilot: Pilot[Any]) -> None:
        screen = await loaded(pilot)
        await pilot.press(*keys)
        await pilot.pause()
        if keys:
            await wait_until(pilot, lambda: screen.highlighted_change is not None)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_report_by_document(snap_compare: SnapCompare, morning: RoomContext,
                            size: tuple[int, int]) -> None:
    assert snap_compare(ControlRoom(morning, mode="report"), terminal_size=size,
                        run_before=_settle())


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_a_merged_change_and_its_diff(snap_compare: SnapCompare, morning: RoomContext,
                                      size: tuple[int, int]) -> None:
    assert snap_compare(ControlRoom(morning, mode="report"), terminal_size=size,
                        run_before=_settle(("k",)))


def test_a_week_of_merges_lists_the_newest() -> None:
    """Thousands of merged changes: the table lists the newest MERGED_ROWS and says so."""
    from pantheon_engine.night.summary_model import PullRequest, Summary
    from pantheon_tui.screens.report_data import MERGED_ROWS, ReportData, build_rows

    prs = [PullRequest(run_id=f"r{i:04d}", flow="docops", title=f"docs/{i}.md")
           for i in range(MERGED_ROWS + 50)]
    data = ReportData(Summary(artifacts=".", generated_at="-", prs=prs), [], {}, {}, 0.0)
    rows = build_rows(data, {}, hide_done=False)
    assert rows[0].cells[2] == f"{MERGED_ROWS + 50} changes, the newest {MERGED_ROWS} here " \
                               "(pantheon report lists them all)"
    assert [r.change.run_id for r in rows[1:] if r.change] == [p.run_id for p in prs[50:]]
