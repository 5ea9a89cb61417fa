"""``python -m pantheon_tui``: the control room without the rest of the command line."""

import typer

from pantheon_tui.command import tui

typer.run(tui)
