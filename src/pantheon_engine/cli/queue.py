"""``pantheon queue add`` and ``pantheon queue list``: the night queue (SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pantheon_engine.cli.options import console, fail
from pantheon_engine.errors import ConfigError, PantheonError

queue_app = typer.Typer(no_args_is_help=True, help="The night queue (SQLite).")


@queue_app.command("add")
def queue_add(
    flow_file: Annotated[str, typer.Argument(
        help="a built-in flow (docops, spec2code) or a flow YAML file")],
    input_path: Annotated[Path | None, typer.Option(
        "--input", "-i", help="input JSON, a JSONL file, or a folder; with --each: the JSON "
                              "object every job shares")] = None,
    each: Annotated[str | None, typer.Option(
        "--each", help="one job per file this glob matches, relative to the workspace "
                       "(** crosses folders; quote it)")] = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="with --each: house rules (YAML or JSON) every job shares")] = None,
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", help="with --each: the folder the glob is relative to (default: the "
                            "current folder)")] = None,
    priority: Annotated[int, typer.Option("--priority")] = 0,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Queue jobs; every input is validated against the flow's entry agent first, and
    nothing is queued unless all of them fit."""
    from pantheon_engine.night.fanout import queue_each, shared_input
    from pantheon_engine.night.jobqueue import JobQueue
    from pantheon_engine.night.specs import FlowInput, enqueue, read_inputs

    try:
        if each is None and (rules is not None or workspace is not None):
            raise ConfigError("--rules and --workspace go with --each GLOB",
                              hint="e.g. pantheon queue add docops --rules rules.yaml "
                                   "--each 'docs/**/*.md'")
        if each is None and input_path is None:
            raise ConfigError("nothing to queue: give --input FILE, or --each GLOB",
                              hint="e.g. pantheon queue add docops --rules rules.yaml "
                                   "--each 'docs/**/*.md'")
        flow = FlowInput(flow_file)
        if each is not None:
            made = queue_each(artifacts, flow, each, workspace=workspace, priority=priority,
                              shared=shared_input(rules_file=rules, input_file=input_path))
            added, depth = made.jobs, made.depth
            what = f", one per file matching {each!r} in {made.workspace}"
        else:
            assert input_path is not None  # refused above without --input or --each
            added = enqueue(artifacts, flow, read_inputs(input_path), priority=priority)
            with JobQueue.for_artifacts(artifacts) as queue:
                depth = queue.depth()
            what = ""
    except PantheonError as exc:
        fail(exc)
    console.print(f"queued {len(added)} job(s) on {flow.name}{what} (ids {added[0].id}–"
                  f"{added[-1].id}); queue depth {depth}", highlight=False, soft_wrap=True)


@queue_app.command("list")
def queue_list(
    state: Annotated[list[str] | None, typer.Option("--state", help="filter (repeat)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
) -> None:
    """Jobs in claim order, with counts per state."""
    from pantheon_engine.night.jobqueue import JobQueue

    try:
        with JobQueue.for_artifacts(artifacts) as queue:
            jobs = queue.list(states=state, limit=limit)
            counts = queue.counts()
    except PantheonError as exc:
        fail(exc)
    table = Table()
    for col in ("id", "state", "prio", "flow", "tries", "run", "error"):
        table.add_column(col)
    for job in jobs:
        table.add_row(str(job.id), job.state, str(job.priority), job.flow_name,
                      str(job.attempts), job.run_id or "", job.error_kind or "")
    console.print(table)
    console.print(" · ".join(f"{k} {v}" for k, v in counts.items()))
