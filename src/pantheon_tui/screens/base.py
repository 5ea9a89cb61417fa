"""What every screen of the control room has: the shared context, a title, a name, and a
footer that always shows the help and quit keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import ActiveBinding
from textual.screen import Screen

if TYPE_CHECKING:
    from pantheon_tui.app import ControlRoom
    from pantheon_tui.context import RoomContext

#: the room's actions the footer shows first on every screen, so no screen's own keys push
#: them out of sight on a narrow terminal (80 columns): help lists the rest
PINNED_ACTIONS = ("help", "quit")


def pin_room_keys(bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """``bindings`` with the room's help and quit keys first (the footer's order)."""
    first = {key: active for key, active in bindings.items()
             if isinstance(active.node, App) and active.binding.action in PINNED_ACTIONS}
    return {**first, **{key: a for key, a in bindings.items() if key not in first}}


class PinnedKeysScreen(Screen[None]):
    """A screen whose footer starts with ``? Help`` and ``q Quit``."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return pin_room_keys(super().active_bindings)


class RoomScreen(PinnedKeysScreen):
    """A screen reachable with a single key; subclasses set ``SCREEN_NAME`` and ``TITLE``."""

    SCREEN_NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""

    @property
    def room(self) -> ControlRoom:
        return self.app  # type: ignore[return-value]

    @property
    def ctx(self) -> RoomContext:
        return self.room.ctx

    def on_mount(self) -> None:
        # The header reads "Pantheon — <screen>": the screen's TITLE names the screen
        # (palette, help), the app's title heads every screen.
        self.title = self.app.title
        self.sub_title = type(self).TITLE
