"""The Specs screen: list, validation as you type, drafts, save, queue with one key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static, TextArea

from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.night.specs import FlowInput
from pantheon_tui.app import ControlRoom
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.specs import SpecsScreen
from pantheon_tui.screens.specs_data import SpecForm

from tui.pilot_helpers import record_notes, wait_for

SIZE = (120, 40)
BROKEN = '{"title": "half a spec",'


def screen(app: ControlRoom) -> SpecsScreen:
    assert isinstance(app.screen, SpecsScreen)
    return app.screen


def problems_text(app: ControlRoom) -> str:
    return str(screen(app).query_one("#spec-problems", Static).render())


def prompts(app: ControlRoom) -> list[str]:
    options = screen(app).query_one("#spec-list", OptionList).options
    return [str(getattr(o.prompt, "plain", o.prompt)) for o in options]


async def highlight(pilot: Pilot[Any], name: str) -> None:
    options = screen(pilot.app).query_one("#spec-list", OptionList)  # type: ignore[arg-type]
    index = next(i for i, o in enumerate(options.options) if (o.id or "").endswith(name))
    options.focus()
    options.highlighted = index
    await pilot.pause()


async def clear_area(pilot: Pilot[Any], widget_id: str) -> None:
    """Empty a text area with keys, as a person would (select all, delete)."""
    screen(pilot.app).query_one(widget_id, TextArea).focus()  # type: ignore[arg-type]
    await pilot.press("f7", "backspace")


def queued_jobs(room: RoomContext) -> list[Any]:
    with JobQueue.for_artifacts(room.artifacts) as queue:
        return queue.list(states=["queued"], limit=None)


def test_form_round_trip() -> None:
    data = {"title": "Add shout()", "scope": "Make it loud.", "acceptance": ["a", "b"],
            "files": ["x.py", "y.py"], "tests": "tests", "workspace": "..", "extra": 1}
    form = SpecForm.from_data(data)
    assert form.acceptance == "a\nb" and form.files == "x.py, y.py"
    assert form.to_data({"extra": 1}) == data
    assert SpecForm(title=" t ", acceptance="\n a \n\n").to_data() == {"title": "t",
                                                                      "acceptance": ["a"]}


async def test_list_shows_every_spec_and_the_broken_one(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(prompts(app)) == 4)
        shown = prompts(app)
        assert shown[0] == "+ new spec"
        assert any("Add shout()" in p and "add-shout.json" in p for p in shown)
        assert any("Add count_vowels()" in p for p in shown)
        broken = next(p for p in shown if p.startswith("broken.json"))
        assert "not valid JSON" in broken and str(room.specs) not in broken
        # the first file is open in the form, and it fits the flow
        assert screen(app).query_one("#spec-title", Input).value == "Add shout()"
        assert "✓ fits spec2code input" in problems_text(app)


async def test_problems_show_as_you_type_and_clear(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await highlight(pilot, "add-shout.json")
        await clear_area(pilot, "#spec-acceptance")
        assert await wait_for(pilot, lambda: "✗ acceptance" in problems_text(app))
        assert screen(app).query_one("#spec-acceptance").has_class("-invalid")
        await pilot.press("o", "k")
        assert await wait_for(pilot, lambda: "✓ fits spec2code" in problems_text(app))
        assert not screen(app).query_one("#spec-acceptance").has_class("-invalid")


async def test_drafts_survive_moving_between_specs(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await highlight(pilot, "add-shout.json")
        screen(app).query_one("#spec-title", Input).focus()
        await pilot.press("end", "!")
        await highlight(pilot, "count-vowels.json")
        assert screen(app).query_one("#spec-title", Input).value == "Add count_vowels()"
        assert any(p.startswith("● Add shout()") for p in prompts(app))
        await highlight(pilot, "add-shout.json")
        assert screen(app).query_one("#spec-title", Input).value == "Add shout()!"
        # ctrl+r reverts to the file
        await pilot.press("ctrl+r")
        assert screen(app).query_one("#spec-title", Input).value == "Add shout()"
        assert json.loads((room.specs / "add-shout.json").read_text())["title"] == "Add shout()"


async def test_new_spec_saved_with_ctrl_s_fits_the_flow(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        await pilot.press("a")
        assert app.focused is screen(app).query_one("#spec-title")
        await pilot.press(*"Add rev()")
        # the rest is filled in directly (typing each key through the pilot is slow)
        screen(app).query_one("#spec-scope", TextArea).load_text("Reverse a string.")
        screen(app).query_one("#spec-acceptance", TextArea).load_text("rev('ab') == 'ba'")
        screen(app).query_one("#spec-files", Input).value = "textkit/words.py"
        screen(app).query_one("#spec-workspace", Input).value = ".."
        assert await wait_for(pilot, lambda: "✓ fits" in problems_text(app))
        await pilot.press("ctrl+s")
        target = room.specs / "add-rev.json"
        assert await wait_for(pilot, target.exists)
        data = json.loads(target.read_text())
        assert FlowInput(room.flows / "spec2code.yaml").problems(data) == []
        assert data["acceptance"] == ["rev('ab') == 'ba'"]
        assert ("information", "saved add-rev.json") in notes
        assert await wait_for(pilot, lambda: any(p.startswith("Add rev()")
                                                 for p in prompts(app)))
        assert prompts(app)[0] == "+ new spec"


async def test_saving_an_empty_form_is_refused(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        before = sorted(p.name for p in room.specs.iterdir())
        await pilot.press("a", "ctrl+s")
        assert notes and notes[-1][0] == "error"
        assert sorted(p.name for p in room.specs.iterdir()) == before


async def test_queue_a_spec_with_one_key(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        before = len(queued_jobs(room))
        await highlight(pilot, "add-shout.json")
        await pilot.press("Q")
        assert await wait_for(pilot, lambda: len(queued_jobs(room)) == before + 1)
        job = max(queued_jobs(room), key=lambda j: j.id)
        assert job.input["title"] == "Add shout()"
        assert job.flow_name == "spec2code"
        workspace = Path(job.input["workspace"])
        assert workspace.is_absolute() and workspace == room.specs.parent.resolve()
        assert await wait_for(pilot, lambda: ("information",
                                              f"queued job {job.id} on spec2code") in notes)


async def test_queue_from_the_form_with_ctrl_e(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        before = len(queued_jobs(room))
        await highlight(pilot, "count-vowels.json")
        screen(app).query_one("#spec-title", Input).focus()
        await pilot.press("end", "!", "ctrl+e")
        assert await wait_for(pilot, lambda: len(queued_jobs(room)) == before + 1)
        assert max(queued_jobs(room), key=lambda j: j.id).input["title"] == "Add count_vowels()!"


async def test_a_spec_with_problems_is_not_queued(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        before = len(queued_jobs(room))
        await highlight(pilot, "add-shout.json")
        await clear_area(pilot, "#spec-acceptance")
        await pilot.press("ctrl+e")
        assert await wait_for(pilot, lambda: bool(notes))
        assert notes[-1][0] == "error" and "acceptance" in notes[-1][1]
        await pilot.pause(0.1)
        assert len(queued_jobs(room)) == before


@pytest.mark.parametrize(("files", "refusal"), [
    ("../../etc/passwd.py", "'..' leads outside the workspace"),
    ("textkit", "'textkit' is not a file in the workspace"),
])
async def test_a_spec_naming_a_path_the_workspace_does_not_suit_is_not_queued(
        room: RoomContext, files: str, refusal: str) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        before = len(queued_jobs(room))
        await highlight(pilot, "add-shout.json")
        screen(app).query_one("#spec-files", Input).value = files
        await pilot.press("ctrl+e")
        assert await wait_for(pilot, lambda: bool(notes) and notes[-1][0] == "error")
        message = notes[-1][1]
        assert message.startswith("not queued: ") and "add-shout.json" in message
        assert refusal in message and str(room.specs.parent.resolve()) in message
        await pilot.pause(0.1)
        assert len(queued_jobs(room)) == before


async def test_the_broken_file_is_never_written(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        before = len(queued_jobs(room))
        await highlight(pilot, "broken.json")
        assert "never written here" in problems_text(app)
        await pilot.press("Q")
        assert notes[-1][0] == "error" and "broken.json" in notes[-1][1]
        screen(app).query_one("#spec-title", Input).focus()
        await pilot.press("H", "a", "l", "f", "ctrl+s")
        assert await wait_for(pilot, (room.specs / "half.json").exists)
        assert (room.specs / "broken.json").read_text() == BROKEN
        assert len(queued_jobs(room)) == before


async def test_the_flow_selector_changes_the_check(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await highlight(pilot, "add-shout.json")
        select = screen(app).query_one("#spec-flow", Select)
        assert select.value == (room.flows / "spec2code.yaml").resolve()
        select.value = (room.flows / "docops.yaml").resolve()
        assert await wait_for(pilot, lambda: "✗ path" in problems_text(app))
        await pilot.press("f")
        assert app.focused is select


async def test_keys_move_between_the_list_and_the_form(room: RoomContext) -> None:
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        options = screen(app).query_one("#spec-list", OptionList)
        title = screen(app).query_one("#spec-title", Input)
        assert app.focused is options
        await pilot.press("enter")
        assert app.focused is title
        await pilot.press("escape")
        assert app.focused is options
        await pilot.press("down", "down", "e")  # to count-vowels.json
        assert app.focused is title and title.value == "Add count_vowels()"
        await pilot.press("escape", "ctrl+n")
        assert app.focused is title and title.value == ""
