"""A node's artifacts, one file at a time."""

from __future__ import annotations

from textual.screen import Screen


class ArtifactViewer(Screen[None]):
    BINDINGS = []
