"""What the commands share: the consoles, ``fail``, and the options several commands take.

One declaration each, so ``pantheon eval``, ``pantheon harvest`` and the like spell, default
and explain them the same way, and every command reports an error (and picks its exit
status) the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from pantheon_engine.errors import PantheonError

__all__ = ["JsonOption", "console", "err_console", "escape", "examples", "fail", "labelled",
           "print_json", "say", "say_err"]

# Text from users and models (file names, rule keys, error messages) passes through these
# consoles: no `:date:` turns into an emoji, and such text goes in as Text (or `escape`d),
# never as markup, so `[vllm]` is printed as written.
console = Console(emoji=False)
"""What a command prints for the user (stdout)."""
err_console = Console(stderr=True, emoji=False)
"""Progress, notes and errors (stderr), so stdout stays the command's answer."""


def labelled(label: str, style: str, text: str) -> Text:
    """``label`` in ``style``, then ``text`` exactly as written (no markup read in it)."""
    return Text.assemble((label, style), " ", text)


def fail(exc: PantheonError) -> NoReturn:
    """Print ``error: …`` (with its hint) and exit with the error's status (2 bad input,
    3 refused by the night policy, 1 otherwise)."""
    err_console.print(labelled("error:", "bold red", str(exc)), highlight=False,
                      soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def say(text: str) -> None:
    """One line on stdout as it is: no markup, no emoji codes, no highlighting, no wrapping."""
    console.print(text, highlight=False, soft_wrap=True, markup=False, emoji=False)


def say_err(text: str) -> None:
    """:func:`say`, on stderr (notes and progress)."""
    err_console.print(text, highlight=False, soft_wrap=True, markup=False, emoji=False)


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (what ``--json`` prints), nothing else."""
    print(json.dumps(data, indent=2, ensure_ascii=False))


def examples(*lines: str) -> str:
    """A command's ``Examples:`` block for its ``--help`` (``epilog=``), kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _search(value: int) -> int:
    from pantheon_engine.run.search import check_search

    try:
        return check_search(value)
    except PantheonError as exc:
        raise typer.BadParameter(str(exc)) from exc


SearchOption = Annotated[int, typer.Option(
    "--search", callback=_search, metavar="K",
    help="up to K candidates of each model node that feeds a check (test.pytest, "
         "check.rules); the check keeps the first that passes. Candidate 1 is the run "
         "without search; 1: no search")]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="print JSON (the shape of the files it reads) instead of a table")]
NightOption = Annotated[bool, typer.Option("--night/--day", help="policy (night by default)")]
EngineOption = Annotated[str | None, typer.Option("--engine",
                                                  help="openvino | openai | replay")]
ModelOption = Annotated[str | None, typer.Option("--model",
                                                 help="catalogue name, GGUF or IR path")]
BaseUrlOption = Annotated[list[str] | None, typer.Option(
    "--base-url", help="OpenAI-compatible server (repeat for several: each request goes to "
    "the least busy one serving its model)")]
ReplayOption = Annotated[str | None, typer.Option("--replay",
                                                  help="run folder or replies JSONL")]
ArtifactsOption = Annotated[Path, typer.Option("--artifacts", help="artifacts folder")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="pantheon.toml to read")]
QueueOption = Annotated[str | None, typer.Option(
    "--queue", metavar="URL|FILE", show_default=False,
    help="the night queue: a PostgreSQL URL (postgresql://user@host:5432/db) that workers on "
         "several machines share, or an SQLite file [default: [queue] url in pantheon.toml, "
         "else ARTIFACTS/queue.sqlite]")]


def queue_named(queue: str | None, config: Path | None = None) -> str | None:
    """The queue a command was given: ``--queue``, else ``[queue] url`` of pantheon.toml
    (None: the artifacts folder's own)."""
    if queue is not None and queue.strip():
        return queue
    from pantheon_engine.config import load_settings

    return load_settings(config).queue.url
