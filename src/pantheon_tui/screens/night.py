"""The Night screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pantheon_tui.screens.base import RoomScreen


class NightScreen(RoomScreen):
    SCREEN_NAME = "night"
    TITLE = "Night"
    BINDINGS = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Night")
        yield Footer()
