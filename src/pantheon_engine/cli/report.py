"""``pantheon report``: the morning report, as Markdown, JSON or HTML."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown, MarkdownElement, TableElement
from rich.table import Table
from rich.text import Text

from pantheon_engine.cli.options import QueueOption, console, err_console, fail, queue_named
from pantheon_engine.errors import ConfigError, PantheonError


class _FoldedTable(TableElement):
    """A Markdown table whose cells fold instead of ending in ``…``, and whose ``run``
    column is as wide as its longest id: on a narrow terminal a path or an error folds, a
    run id is printed whole on one line, so it can be copied."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rendered: Iterator[Any] = iter(super().__rich_console__(console, options))
        for part in rendered:
            if isinstance(part, Table):
                for column in part.columns:
                    column.overflow = "fold"
                    header = column.header.plain if isinstance(column.header, Text) else ""
                    if header == "run":
                        column.no_wrap = True
                        column.min_width = max((len(c.plain) for c in column.cells
                                                if isinstance(c, Text)), default=None)
            yield part


class FoldedMarkdown(Markdown):
    """Rich's Markdown with :class:`_FoldedTable` tables (what ``pantheon report`` prints)."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements, "table_open": _FoldedTable}


def _since(text: str) -> Any:
    """``24h``, ``90m``, ``7d`` ago, or an ISO date-time."""
    import datetime as dt

    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return dt.datetime.now(dt.UTC) - dt.timedelta(**{units[text[-1]]: float(text[:-1])})
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--since {text!r}: expected e.g. 24h, 90m, 7d or a date") from exc


def report_cmd(
    since: Annotated[str | None, typer.Option(
        "--since", help="24h, 90m, 7d or a date (default: 24h; with --night: the whole "
        "night)")] = None,
    night_id: Annotated[str | None, typer.Option("--night", help="one night's runs")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | json | html")] = "md",
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    out: Annotated[Path | None, typer.Option("--out", help="write the three files here")]
    = None,
    queue: QueueOption = None,
) -> None:
    """The morning report: what merged (each change's title and diff), what failed (by
    document, with the error), what the gate refused, pass rates, κ, throughput.

    Jobs are counted from the queue, each once, whichever workers ran it (a night several
    workers shared over a PostgreSQL --queue is counted once).

    A missing --artifacts folder or an unknown --night is an error (exit 2) that says what
    exists, never an empty report."""
    from pantheon_engine.night.lookup import require_artifacts, require_night
    from pantheon_engine.night.queue_open import open_existing_queue, queue_location
    from pantheon_engine.night.report import render_markdown, write_report
    from pantheon_engine.night.report_html import render_html
    from pantheon_engine.night.summary import build_summary

    try:
        if fmt not in {"md", "json", "html"}:
            raise ConfigError(f"--format {fmt!r}: expected md, json or html")
        require_artifacts(artifacts)  # a typo must not read as an empty morning
        if night_id is not None:
            require_night(artifacts, night_id)
        if since is None and night_id is None:
            since = "24h"
        jobs = open_existing_queue(queue_location(artifacts, queue_named(queue)))
        try:
            summary = build_summary(artifacts, night_id=night_id,
                                    since=_since(since) if since is not None else None,
                                    queue=jobs)
        finally:
            if jobs is not None:
                jobs.close()
    except PantheonError as exc:
        fail(exc)
    if out is not None:
        for path in write_report(artifacts, summary, out):
            err_console.print(f"wrote {path}", highlight=False)
    if fmt == "json":
        print(summary.model_dump_json(indent=2))
    elif fmt == "html":
        print(render_html(summary))
    else:
        console.print(FoldedMarkdown(render_markdown(summary)))
