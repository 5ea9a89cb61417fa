"""``pantheon demo``: a demo repository and its queued jobs, ready for ``pantheon night``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.cli.options import QueueOption, console, fail, queue_named
from pantheon_engine.errors import PantheonError


def demo_cmd(
    folder: Annotated[Path, typer.Option("--folder", "--dir",
                                         help="where to create the demo repository")]
    = Path("pantheon-demo"),
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    force: Annotated[bool, typer.Option(
        "--force", help="recreate an existing demo (its jobs still queued are replaced)")]
    = False,
    queue: QueueOption = None,
) -> None:
    """Create a demo repository (documents with house rules, a package with specs) and
    queue its jobs on the built-in flows: one docops job per document, one per spec."""
    from pantheon_engine.night.demo import create_demo
    from pantheon_engine.night.queue_open import queue_location

    try:
        made = create_demo(folder, artifacts, force=force,
                           queue=queue_location(artifacts, queue_named(queue)))
    except PantheonError as exc:
        fail(exc)
    console.print(f"demo workspace: {made.workspace} (house rules: {made.rules})",
                  highlight=False, soft_wrap=True)
    if made.replaced:
        console.print(f"removed {made.replaced} job(s) the earlier demo had left queued",
                      highlight=False)
    console.print(f"queued {made.docops} docops and {made.spec2code} spec2code jobs "
                  f"(queue depth {made.depth}); now run: pantheon night", highlight=False)
