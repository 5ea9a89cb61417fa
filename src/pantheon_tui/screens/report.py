"""The Report screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from pantheon_tui.screens.base import RoomScreen


class ReportScreen(RoomScreen):
    SCREEN_NAME = "report"
    TITLE = "Report"
    BINDINGS = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Report")
        yield Footer()
