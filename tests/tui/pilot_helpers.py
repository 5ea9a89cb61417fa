"""Waiting and listening helpers for the control room's Pilot tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from pantheon_tui.app import ControlRoom


async def wait_for(pilot: Pilot[Any], cond: Callable[[], object], tries: int = 100) -> bool:
    """Let the app run until ``cond()`` holds (``tries`` pauses of 20 ms at most); return it."""
    for _ in range(tries):
        if cond():
            return True
        await pilot.pause(0.02)
    return bool(cond())


async def wait_until(pilot: Pilot[Any], cond: Callable[[], object], what: str = "",
                     tries: int = 100) -> None:
    """:func:`wait_for`, failing the test when ``cond()`` never holds."""
    assert await wait_for(pilot, cond, tries), f"timed out waiting for {what or cond}"


def record_notes(app: ControlRoom) -> list[tuple[str, str]]:
    """Every notification of ``app`` as (severity, message), as it is made."""
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        notes.append((kwargs.get("severity", "information"), message))
        notify(message, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return notes


def screen_text(app: ControlRoom) -> str:
    """What the terminal shows now, as plain text (one line a row)."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()
