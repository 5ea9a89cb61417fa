"""The room as a whole: screens by key, themes from files, keymap overrides, help, palette."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_tui.app import ROOM_SCREENS, ControlRoom
from pantheon_tui.context import RoomContext, TuiSettings, load_tui_settings
from pantheon_tui.screens.help import HelpScreen
from pantheon_tui.themes import BUILTIN_THEMES, load_theme, load_themes

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 40)


async def test_single_keys_reach_every_screen(room: RoomContext) -> None:
    app = ControlRoom(room)
    async with app.run_test(size=SIZE) as pilot:
        assert app.current_mode == "night"
        for key, mode in (("s", "specs"), ("u", "queue"), ("r", "report"), ("n", "night")):
            await pilot.press("escape", key)
            assert app.current_mode == mode
            assert type(app.screen) is ROOM_SCREENS[mode]


async def test_footer_shows_the_screen_keys(room: RoomContext) -> None:
    app = ControlRoom(room, mode="queue")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        shown = {b.binding.id for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"room.specs", "room.queue", "room.night", "room.report", "room.help"} <= shown


async def test_help_lists_every_binding_with_its_id(room: RoomContext) -> None:
    app = ControlRoom(room)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {info.id for info in app.screen.bindings}
        assert set(ControlRoom.all_binding_ids()) - {"help.close"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_the_shipped_themes_load() -> None:
    themes, problems = load_themes(BUILTIN_THEMES)
    assert problems == []
    names = {t.name: t for t in themes}
    assert names["pantheon-night"].dark and not names["pantheon-day"].dark


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('name = "x"\nprimary = ', "not valid TOML"),
        ('name = "x"\n', "primary"),
        ('name = "x"\nprimary = "not-a-colour"\n', "not a colour"),
        ('name = "x"\nprimary = "#fff"\nsparkle = true\n', "sparkle"),
        ('name = "has space"\nprimary = "#fff"\n', "name"),
    ],
)
def test_a_broken_theme_file_says_what_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=needle):
        load_theme(path)


async def test_a_broken_theme_is_reported_and_the_default_used(room: RoomContext) -> None:
    (room.themes / "broken.toml").write_text('name = "broken"\nprimary = "#12"\n')
    room.settings = TuiSettings(theme="broken")
    app = ControlRoom(room)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "pantheon-night"
        assert any("broken.toml" in p for p in app.problems)
        assert any("'broken' is not available" in p for p in app.problems)
        assert any("broken.toml" in n.message for n in app._notifications)


async def test_the_light_theme_can_be_chosen(room: RoomContext) -> None:
    room.settings = TuiSettings(theme="pantheon-day")
    app = ControlRoom(room)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "pantheon-day"
        assert app.problems == []


async def test_keys_are_overridden_by_id_and_typos_reported(room: RoomContext) -> None:
    room.settings = TuiSettings(keys={"room.queue": "U,f9", "room.nope": "x", "room.night": " "})
    app = ControlRoom(room, mode="specs")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "u")
        assert app.current_mode == "specs"  # u is no longer the queue key
        await pilot.press("U")
        assert app.current_mode == "queue"
        await pilot.press("r", "f9")
        assert app.current_mode == "queue"
        assert "tui.keys: no binding with id 'room.nope'" in app.problems
        assert "tui.keys: 'room.night' has no keys" in app.problems
        help_rows = {info.id: info.keys for info in app.binding_table()}
        assert help_rows["room.queue"] == "U,f9"


def test_settings_come_from_pantheon_toml(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[engine]\nname = "openvino"\n\n[tui]\ntheme = "pantheon-day"\n'
                      'specs = "my-specs"\n\n[tui.keys]\n"queue.requeue" = "ctrl+r"\n')
    ctx = RoomContext.from_folder(tmp_path)
    assert ctx.settings.theme == "pantheon-day"
    assert ctx.specs == tmp_path / "my-specs"
    assert ctx.settings.keys == {"queue.requeue": "ctrl+r"}
    config.write_text("[tui]\nsample_window = 3\n")
    with pytest.raises(Exception, match=r"tui\.sample_window"):
        load_tui_settings(config)


async def test_the_palette_offers_every_screen_action(room: RoomContext) -> None:
    app = ControlRoom(room)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        for name, screen in ROOM_SCREENS.items():
            for info in app.binding_table():
                if info.scope == name:
                    assert f"{screen.TITLE}: {info.description}" in titles
        assert {"Specs", "Queue", "Night", "Report", "Help"} <= set(titles)
        await titles["Queue"].callback()
        await pilot.pause()
        assert app.current_mode == "queue"


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=60)


def test_pantheon_tui_is_a_command_of_the_cli() -> None:
    done = _run_cli("tui", "--help")
    assert done.returncode == 0, done.stderr
    assert "control room" in done.stdout
    bad = _run_cli("tui", "--screen", "bogus")
    assert bad.returncode == 2
    assert "choose one of specs, queue, night, report" in bad.stderr
    typo = _run_cli("tui", "--artifacts", "TYPO-no-such-folder")
    assert typo.returncode == 2  # an error, not an empty room
    assert "no artifacts folder TYPO-no-such-folder" in typo.stderr
    assert "pantheon demo" in typo.stderr
    assert not (REPO / "TYPO-no-such-folder").exists()


def test_bare_pantheon_without_a_terminal_prints_help() -> None:
    done = _run_cli()
    assert "Usage" in done.stdout + done.stderr
    assert "tui" in done.stdout + done.stderr


def test_the_engine_runs_without_loading_textual() -> None:
    code = ("import sys, pantheon_engine.cli.main, pantheon_engine.night.drain, "
            "pantheon_engine.night.report, pantheon_engine.night.triage, "
            "pantheon_engine.night.specs, pantheon_engine.night.tail\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'pantheon_tui')]\n"
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
