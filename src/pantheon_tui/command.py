"""``pantheon tui``: the engine's command line finds this through the ``pantheon.commands``
entry point, so the engine never imports the control room (or textual) itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def tui(
    artifacts: Annotated[Path | None, typer.Option("--artifacts", help="artifacts folder")] = None,
    specs: Annotated[Path | None, typer.Option("--specs", help="folder of spec files")] = None,
    flows: Annotated[Path | None, typer.Option("--flows", help="folder of flow files")] = None,
    themes: Annotated[Path | None, typer.Option("--themes", help="folder of theme files")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="pantheon.toml to read")] = None,
    screen: Annotated[str | None, typer.Option("--screen",
                                               help="specs | queue | night | report")] = None,
) -> None:
    """Open the control room: specs, queue, the night live, the morning report."""
    from rich.console import Console

    from pantheon_engine.errors import PantheonError
    from pantheon_engine.night.lookup import require_artifacts
    from pantheon_tui.app import ROOM_SCREENS, ControlRoom
    from pantheon_tui.context import RoomContext

    if screen is not None and screen not in ROOM_SCREENS:
        Console(stderr=True).print(f"[bold red]error:[/] --screen {screen!r}: choose one of "
                                   + ", ".join(ROOM_SCREENS), highlight=False)
        raise typer.Exit(2)
    try:
        if artifacts is not None:  # a folder named by hand must exist: the room only reads
            require_artifacts(artifacts)
        ctx = RoomContext.from_folder(Path.cwd(), artifacts=artifacts, specs=specs,
                                      flows=flows, themes=themes, config=config)
    except PantheonError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from exc
    ControlRoom(ctx, mode=screen).run()
