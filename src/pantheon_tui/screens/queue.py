"""The Queue screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pantheon_tui.screens.base import RoomScreen


class QueueScreen(RoomScreen):
    SCREEN_NAME = "queue"
    TITLE = "Queue"
    BINDINGS = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Queue")
        yield Footer()
