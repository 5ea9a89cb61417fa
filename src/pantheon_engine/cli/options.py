"""What the commands share: the consoles, ``fail``, and the options several commands take.

One declaration each, so ``pantheon eval``, ``pantheon harvest`` and the like spell, default
and explain them the same way, and every command reports an error (and picks its exit
status) the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from pantheon_engine.errors import PantheonError

console = Console()
"""What a command prints for the user (stdout)."""
err_console = Console(stderr=True)
"""Progress, notes and errors (stderr), so stdout stays the command's answer."""


def fail(exc: PantheonError) -> NoReturn:
    """Print ``error: …`` (with its hint) and exit with the error's status (2 bad input,
    3 refused by the night policy, 1 otherwise)."""
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def say(text: str) -> None:
    """One line on stdout as it is: no markup, no highlighting, no wrapping."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


NightOption = Annotated[bool, typer.Option("--night/--day", help="policy (night by default)")]
EngineOption = Annotated[str | None, typer.Option("--engine",
                                                  help="openvino | openai | replay")]
ModelOption = Annotated[str | None, typer.Option("--model",
                                                 help="catalogue name, GGUF or IR path")]
BaseUrlOption = Annotated[str | None, typer.Option("--base-url",
                                                   help="OpenAI-compatible server")]
ReplayOption = Annotated[str | None, typer.Option("--replay",
                                                  help="run folder or replies JSONL")]
ArtifactsOption = Annotated[Path, typer.Option("--artifacts", help="artifacts folder")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="pantheon.toml to read")]
