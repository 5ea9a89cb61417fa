"""What every screen of the control room has: the shared context, a title, a name."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen

if TYPE_CHECKING:
    from pantheon_tui.app import ControlRoom
    from pantheon_tui.context import RoomContext


class RoomScreen(Screen[None]):
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
