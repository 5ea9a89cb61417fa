"""The learning curves in the control room: reached from the Report screen with ``l`` once a
curve file exists, drawn from the files only, and drawn again when a file changes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from pantheon_engine.evals.curve import CurvePoint, LearningCurve, make_curve, save_curve
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.curves import CurvesScreen
from pantheon_tui.screens.report import ReportScreen
from pantheon_tui.widgets.curve_chart import FIT_CHAR, POINT_CHAR, TARGET_CHAR, chart_lines

from tui.pilot_helpers import wait_until

SIZE = (120, 40)
SIZES = (0, 50, 100, 200, 400)


def curve(scope: str, passed: tuple[int, ...], *, total: int = 200) -> LearningCurve:
    points = [CurvePoint(examples=n, passed=p, total=total, version=f"doc.frontmatter@{i + 1}")
              for i, (n, p) in enumerate(zip(SIZES, passed, strict=True))]
    return make_curve("doc.frontmatter", scope, "suites/docops-7", points, target=0.5)


RULE = curve("rule", (0, 61, 98, 126, 141))
FILE = curve("file", (0, 30, 45, 55, 58))


def shown(screen: CurvesScreen) -> str:
    """What the curves screen draws, as plain text at the screen's width."""
    content = screen.query_one("#curves-content", Static).content
    console = Console(width=SIZE[0] - 4, color_system=None, record=True)
    console.print(content)
    return console.export_text()


def footer_actions(screen: Screen[None]) -> set[str]:
    return {key.action for key in screen.query(FooterKey)}


def title(screen: CurvesScreen) -> str:
    content = screen.query_one("#curves-title", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def test_no_curve_no_key(room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ReportScreen)
        await wait_until(pilot, lambda: screen.loads > 0, "the first load")
        ids = {b.binding.id for b in screen.active_bindings.values()}
        assert "report.curves" not in ids and "report.refresh" in ids
        # the footer draws its keys after the screen's first refresh
        await wait_until(pilot, lambda: "reload" in footer_actions(screen), "the footer")
        assert "curves" not in footer_actions(screen)
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, ReportScreen)


async def test_the_curves_show_and_follow_their_files(room: RoomContext) -> None:
    save_curve(room.artifacts, RULE)
    room.poll_s = 0.05  # look at the files often, so a change shows within the test
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        report = app.screen
        assert isinstance(report, ReportScreen)
        await wait_until(pilot, lambda: report.loads > 0, "the first load")
        await pilot.pause()
        # in the footer now that a curve exists
        await wait_until(pilot, lambda: "curves" in footer_actions(report), "the curves key")

        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, CurvesScreen)
        await wait_until(pilot, lambda: screen.loads > 0, "the curves to load")
        text = shown(screen)
        assert "1 curve of 1 agent" in title(screen)
        assert "doc.frontmatter" in text and "rule" in text and "suites/docops-7 holdout" in text
        for row in ("0/200", "61/200", "98/200", "126/200", "141/200"):
            assert row in text
        assert "[25 %, 37 %]" in text  # the Wilson interval of 61/200
        assert "fit p(N) = 0 % + (" in text and "target 50 %: N ≈" in text
        assert text.count(POINT_CHAR) >= len(SIZES) and FIT_CHAR in text
        assert TARGET_CHAR * 10 in text and "100%" in text and "N    0" in text

        # the pipeline measures another scope, and a file goes bad: both show
        save_curve(room.artifacts, FILE)
        broken = room.artifacts / "agents" / "codegen" / "curves" / "rule.json"
        broken.parent.mkdir(parents=True)
        broken.write_text("{")
        await wait_until(pilot, lambda: "2 curves of 1 agent" in title(screen),
                         "the new curve", tries=250)
        text = shown(screen)
        assert "55/200" in text and "at or above the asymptote" in text
        assert "unreadable: agents/codegen/curves/rule.json: not valid JSON" in text
        assert "1 unreadable" in title(screen)

        await pilot.press("escape")
        assert isinstance(app.screen, ReportScreen)


async def test_an_empty_curves_folder_says_how_to_make_one(tmp_path: Path,
                                                           room: RoomContext) -> None:
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(CurvesScreen(room.artifacts, poll_s=3600))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CurvesScreen)
        await wait_until(pilot, lambda: screen.loads > 0, "the curves to load")
        assert "No learning curves yet" in shown(screen)
        assert title(screen).startswith("0 curves of 0 agents")


def test_the_text_chart_puts_points_where_they_belong() -> None:
    """11 rows from 100 % (row 0) to 0 % (row 10); N from 0 to 400 over 60 columns."""
    lines = [line.plain for line in chart_lines([RULE], width=65, height=11)]
    plot = [line[5:] for line in lines[:11]]
    assert lines[0].startswith("100%┤") and lines[5].startswith(" 50%┤")
    assert lines[10].startswith("  0%┤")
    assert plot[10][0] == POINT_CHAR  # N = 0, 0 of 200
    assert plot[7][round(50 / 400 * 59)] == POINT_CHAR  # 30 % → row 7
    assert plot[3][59] == POINT_CHAR  # N = 400, 70 % → row 3
    assert plot[5].count(TARGET_CHAR) > 40  # the target line, broken only by the curve
    assert lines[11].startswith("    └")
    assert lines[12].split() == ["N", "0", "100", "200", "300", "400"]
    assert "rule" in lines[13] and "target 50 %" in lines[13]
