"""``pantheon runs show RUN_ID``: one run as the room's viewer shows it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from pantheon_engine.cli.options import (
    ArtifactsOption,
    JsonOption,
    console,
    examples,
    fail,
    print_json,
    say,
)
from pantheon_engine.errors import PantheonError

if TYPE_CHECKING:
    from pantheon_engine.night.run_detail import RunDetail

runs_app = typer.Typer(no_args_is_help=True, help="Look at one run: its nodes, files and change.")

STATUS_STYLE = {"ok": "green", "failed": "bold red", "running": "yellow"}


def _facts(run: RunDetail) -> Table:
    """The run's header: what it was about, how it ended, where it is."""
    from pantheon_engine.night.summary_read import first_line

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    status = Text(run.status, style=STATUS_STYLE.get(run.status, ""))
    if run.failed_node:
        status.append(f" at {run.failed_node}")
        if run.error_kind:
            status.append(f" ({run.error_kind})")
    seconds = f" ({run.seconds:.1f} s)" if run.seconds is not None else ""
    night = run.night_id or "-"
    if run.job_id is not None:
        night += f" (job {run.job_id})"
    branch = run.branch or "-"
    if run.commit:
        branch += f" at {run.commit[:12]}"
    failed = next((n for n in run.nodes if n.node == run.failed_node), None)
    rows: list[tuple[str, Text | str | None]] = [
        ("flow", run.flow), ("document", run.title or "-"), ("status", status),
        ("error", first_line(failed.error) if failed else None),
        ("hint", failed.hint if failed else None),
        ("night", night), ("started", run.started_at or "-"),
        ("finished", f"{run.finished_at}{seconds}" if run.finished_at else "-"),
        ("branch", branch), ("workspace", run.workspace), ("folder", run.folder),
    ]
    for label, value in rows:
        if value is not None:
            grid.add_row(label, value if isinstance(value, Text) else Text(value))
    return grid


def _nodes(run: RunDetail) -> Table:
    from pantheon_engine.night.summary_read import first_line

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("node", "agent", "status"):
        table.add_column(name, no_wrap=True)
    table.add_column("error", overflow="fold")
    for node in run.nodes:
        error = first_line(node.error) or ""
        if node.error_kind and not error.startswith(node.error_kind):
            error = f"{node.error_kind}: {error}" if error else node.error_kind
        table.add_row(Text(node.node), Text(node.agent),
                      Text(node.status, style=STATUS_STYLE.get(node.status, "dim")), Text(error))
    return table


def _files(run: RunDetail) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row("(run)", Text("  ".join(run.files) or "-"))
    for node in run.nodes:
        grid.add_row(Text(node.node), Text("  ".join(node.files) or "-"))
    return grid


def _diff(diff: str) -> Text:
    """A unified diff, added lines green and removed ones red (plain when not a terminal)."""
    text = Text()
    for line in diff.rstrip("\n").split("\n"):
        style = ""
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        text.append(line + "\n", style=style)
    return text


@runs_app.command("show", epilog=examples(
    "pantheon runs show 20261120T221503Z-docops-a1b2c3",
    "pantheon runs show RUN_ID --json | jq .nodes",
))
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID",
                                          help="a run id, as queue list and report print it")],
    artifacts: ArtifactsOption = Path("artifacts"),
    as_json: JsonOption = False,
) -> None:
    """One run as the room's viewer shows it: what it was about and how it ended, its nodes
    with status and error, each node's artifact files, and the change it made as a diff.
    An unknown run is an error (exit 2) naming runs that exist. --json: the same, as one
    object (the diff whole)."""
    from pantheon_engine.night.run_detail import read_run

    try:
        run = read_run(artifacts, run_id)
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print_json(run.model_dump(mode="json"))
        return
    console.print(Text.assemble(("run ", "bold"), run.run_id), soft_wrap=True)
    console.print(_facts(run))
    say("")
    console.print(Text("nodes", style="bold"))
    console.print(_nodes(run))
    console.print(Text("artifacts", style="bold"))
    console.print(_files(run))
    say("")
    if run.diff is None:
        say("change: none (no node wrote a diff.patch)")
        return
    console.print(Text.assemble(("change", "bold"), f" ({run.diff_source})"), soft_wrap=True)
    console.print(_diff(run.diff), soft_wrap=True, highlight=False)
