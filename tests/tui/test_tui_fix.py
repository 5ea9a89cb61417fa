"""The report screen's fix key: $EDITOR on the failed run's file, then its check, then data.

The failed runs are real docops runs on the replay engine (the agent stops before the
rules are met, so its check fails the run). The "editor" is a small script that edits the
file it is given, as a person would; a headless app has no terminal to hand over, so the
screen runs it directly.
"""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import pytest

from pantheon_engine.night.triage import TriageLog
from pantheon_engine.specialize.mine import read_examples
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.report import ReportScreen
from test_fixes import FINAL, FIXED, PATH, failed_run

from tui.conftest import FROZEN, REPO
from tui.pilot_helpers import record_notes, wait_until

SIZE = (120, 40)


def fix_room(root: Path) -> RoomContext:
    for folder in ("specs", "flows"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return RoomContext(artifacts=root / "art", specs=root / "specs", flows=root / "flows",
                       themes=REPO / "themes", clock=lambda: FROZEN, tz=UTC, watch=False,
                       poll_s=3600.0)


def use_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """$EDITOR is ``python editor.py``; ``script`` edits ``path``, the file it is given."""
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nfrom pathlib import Path\npath = Path(sys.argv[1])\n"
                      + script)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")


async def open_on_failure(pilot, key: str) -> ReportScreen:  # type: ignore[no-untyped-def]
    screen = pilot.app.screen
    assert isinstance(screen, ReportScreen)
    await wait_until(pilot, lambda: screen.loads > 0, "the first load")
    screen.focus_failure(key)
    assert screen.highlighted is not None and screen.highlighted.key == key
    return screen


async def test_a_fix_that_passes_its_check_becomes_data_and_is_triaged(
        docops_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    room = fix_room(tmp_path)
    run_id = await failed_run(docops_repo, room.artifacts, [FINAL])
    use_editor(tmp_path, monkeypatch, f"path.write_text({FIXED!r})\n")
    key = f"{run_id}/check"
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        screen = await open_on_failure(pilot, key)
        assert screen.shown_failures() == {key: "open"}
        await pilot.press("e")
        await wait_until(pilot, lambda: screen.shown_failures().get(key) == "triaged",
                         "the fixed failure to show as triaged", tries=500)
        assert any(severity == "information" and "fix recorded as 4 example(s)" in text
                   for severity, text in notes), notes
    out = room.artifacts / "specialize" / "doc.frontmatter" / "fixes.jsonl"
    examples = read_examples(out)
    assert [e.meta.source for e in examples] == ["fix"] * 4
    assert examples[-1].meta.kind == "final"
    assert (room.artifacts / "fixes" / run_id / PATH).read_text() == FIXED
    assert TriageLog(room.artifacts).marks()[key].note == (
        "fixed by hand: 4 example(s) for doc.frontmatter@1")


async def test_a_fix_that_fails_its_check_says_why_and_keeps_the_file(
        docops_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    room = fix_room(tmp_path)
    run_id = await failed_run(docops_repo, room.artifacts, [FINAL])
    use_editor(tmp_path, monkeypatch,
               "path.write_text(path.read_text().replace('draft: true\\n', ''))\n")
    key = f"{run_id}/check"
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        screen = await open_on_failure(pilot, key)
        await pilot.press("e")
        await wait_until(pilot, lambda: any(severity == "warning" for severity, _ in notes),
                         "the refusal", tries=500)
        text = next(text for severity, text in notes if severity == "warning")
        assert "does not pass its check" in text
        assert "renamed:Title: `Title` is still there" in text
        assert "equals:status: `status` is missing" in text
        assert screen.shown_failures() == {key: "open"}
    kept = (room.artifacts / "fixes" / run_id / PATH).read_text()
    assert "draft" not in kept and "Title: Getting started" in kept
    assert not (room.artifacts / "specialize").exists()


async def test_fixing_a_run_that_is_no_docops_run_is_refused(room: RoomContext,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """The fixture night's failures are spec2code runs: no editor opens, the room says why."""
    use_editor(tmp_path, monkeypatch, "path.write_text('opened')\n")
    app = ControlRoom(room, mode="report")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        await open_on_failure(pilot, "run-003/codegen")
        await pilot.press("e")
        await wait_until(pilot, lambda: any(severity == "error" for severity, _ in notes),
                         "the refusal")
        text = next(text for severity, text in notes if severity == "error")
        assert "ran no document agent" in text and "docops" in text
    assert not (room.artifacts / "fixes").exists()
