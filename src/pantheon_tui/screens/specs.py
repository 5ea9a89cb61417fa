"""The Specs screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pantheon_tui.screens.base import RoomScreen


class SpecsScreen(RoomScreen):
    SCREEN_NAME = "specs"
    TITLE = "Specs"
    BINDINGS = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Specs")
        yield Footer()
