"""The control room: four screens over the engine's files, one key each.

The app never calls the engine while it works: screens read the artifacts folder, the
queue file and the metrics files through ``pantheon_engine`` readers in thread workers,
and only the operator's own commands (queue a spec, requeue, cancel) write.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.actions import SkipAction
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from pantheon_tui.context import DEFAULT_THEME, RoomContext
from pantheon_tui.keymap import BindingInfo, binding_ids, check_keymap, describe
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.screens.curves import EMPTY as NO_CURVES
from pantheon_tui.screens.curves import CurvesScreen
from pantheon_tui.screens.help import HelpScreen
from pantheon_tui.screens.night import NightScreen
from pantheon_tui.screens.queue import QueueScreen
from pantheon_tui.screens.report import ReportScreen
from pantheon_tui.screens.specs import SpecsScreen
from pantheon_tui.screens.viewer import ArtifactViewer
from pantheon_tui.themes import room_themes

ROOM_SCREENS: dict[str, type[RoomScreen]] = {
    "specs": SpecsScreen,
    "queue": QueueScreen,
    "night": NightScreen,
    "report": ReportScreen,
}
FALLBACK_THEME = "textual-dark"


class ControlRoom(App[None]):
    """``pantheon tui``: specs, queue, the night live, and the morning report."""

    TITLE = "Pantheon"
    MODES = dict(ROOM_SCREENS)
    DEFAULT_MODE = "night"
    BINDINGS = [
        Binding("s", "switch_mode('specs')", "Specs", id="room.specs"),
        Binding("u", "switch_mode('queue')", "Queue", id="room.queue"),
        Binding("n", "switch_mode('night')", "Night", id="room.night"),
        Binding("r", "switch_mode('report')", "Report", id="room.report"),
        Binding("question_mark,f1", "help", "Help", id="room.help"),
        Binding("q", "quit", "Quit", id="room.quit"),
        # the Report screen's `l` works only once a curve exists; before that, this says so
        Binding("l", "no_curves", show=False),
    ]

    def __init__(self, ctx: RoomContext, *, mode: str | None = None) -> None:
        self.ctx = ctx
        self.problems: list[str] = []
        themes, theme_problems = room_themes(ctx.themes)
        self._themes = themes
        self.problems += [f"theme {p}" for p in theme_problems]
        keymap, key_problems = check_keymap(ctx.settings.keys, self.all_binding_ids())
        self.problems += key_problems
        self._start_mode = mode or self.DEFAULT_MODE
        super().__init__()
        self.set_keymap(keymap)

    # --- set-up --------------------------------------------------------------------------

    @classmethod
    def all_binding_ids(cls) -> list[str]:
        ids = binding_ids(cls.BINDINGS)
        screens: list[type[Screen[Any]]] = [*ROOM_SCREENS.values(), ArtifactViewer,
                                                CurvesScreen, HelpScreen]
        for screen in screens:
            ids += binding_ids(screen.BINDINGS)
        return ids

    def on_mount(self) -> None:
        for theme in self._themes:
            self.register_theme(theme)
        wanted = self.ctx.settings.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else FALLBACK_THEME
            if wanted != DEFAULT_THEME or fallback != DEFAULT_THEME:
                self.problems.append(f"theme {wanted!r} is not available; using {fallback!r}")
            self.theme = fallback
        for problem in self.problems:
            self.notify(problem, title="configuration", severity="warning", timeout=8)
        self.switch_mode(self._start_mode)

    # --- actions -------------------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.binding_table(), self.problems))

    def action_no_curves(self) -> None:
        """``l`` on the Report screen before any learning curve exists: say what makes one."""
        if not isinstance(self.screen, ReportScreen) or self.screen.has_curves():
            raise SkipAction()
        self.notify(NO_CURVES, title="learning curves", timeout=8, markup=False)

    def binding_table(self) -> list[BindingInfo]:
        """Every binding of the room and its screens, with the user's keys applied."""
        keymap = self._keymap
        rows = describe(self.BINDINGS, "room", keymap)
        for name, screen in ROOM_SCREENS.items():
            rows += describe(screen.BINDINGS, name, keymap)
        rows += describe(ArtifactViewer.BINDINGS, "viewer", keymap)
        rows += describe(CurvesScreen.BINDINGS, "curves", keymap)
        return rows

    def copy_path(self, text: str) -> None:
        """Copy ``text`` with OSC 52 (works over SSH) and say so."""
        self.copy_to_clipboard(text)
        self.notify(text, title="copied", markup=False)

    # --- command palette -----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for info in describe(self.BINDINGS, "room", self._keymap):
            if info.action == "quit":
                continue
            yield SystemCommand(info.description, f"{info.keys} · {info.id}",
                                partial(self.run_action, info.action))
        for name, screen_type in ROOM_SCREENS.items():
            for info in describe(screen_type.BINDINGS, name, self._keymap):
                yield SystemCommand(
                    f"{screen_type.TITLE}: {info.description}",
                    f"{info.keys} · {info.id}",
                    partial(self._run_on_screen, name, info.action),
                )

    async def _run_on_screen(self, mode: str, action: str) -> None:
        """Go to ``mode``'s screen (if not there) and run one of its actions."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        await self.screen.run_action(action)
