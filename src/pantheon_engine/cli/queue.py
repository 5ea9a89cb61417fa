"""``pantheon queue add`` and ``pantheon queue list``: the night queue (SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from pantheon_engine.cli.options import (
    JsonOption,
    console,
    err_console,
    examples,
    fail,
    print_json,
)
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.night.jobqueue import Job

queue_app = typer.Typer(no_args_is_help=True, help="The night queue (SQLite).")


@queue_app.command("add", epilog=examples(
    "pantheon queue add docops --input task.json      # one job (a JSONL file: one per line)",
    "pantheon queue add docops --rules rules.yaml --each 'docs/**/*.md'   # one job per file",
    "pantheon queue add spec2code --input inputs/ --priority 5   # a folder of input JSON",
))
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
    """Queue jobs; every input is checked first (its fields against the flow's entry agent,
    every path it names in its workspace), and nothing is queued unless all of them fit.

    An input's workspace is its "workspace" (relative to the input file), else the current
    folder."""
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
            # an input that names no workspace works on the current folder, as with `run`
            added = enqueue(artifacts, flow, read_inputs(input_path), priority=priority,
                            workspace=Path.cwd())
            with JobQueue.for_artifacts(artifacts) as queue:
                depth = queue.depth()
            what = ""
    except PantheonError as exc:
        fail(exc)
    console.print(f"queued {len(added)} job(s) on {flow.name}{what} (ids {added[0].id}–"
                  f"{added[-1].id}); queue depth {depth}", highlight=False, soft_wrap=True)


def _read_queue(artifacts: Path, states: list[str] | None,
                limit: int) -> tuple[list[Job], dict[str, int]]:
    """The jobs and counts of the queue of ``artifacts``, read without creating anything:
    a missing folder is an error, a missing queue file an empty queue (said on stderr)."""
    from pantheon_engine.night.jobqueue import STATES, JobQueue, default_queue_path
    from pantheon_engine.night.lookup import require_artifacts

    unknown = [s for s in states or [] if s not in STATES]
    if unknown:
        raise ConfigError(f"--state {', '.join(unknown)}: unknown state",
                          hint=f"states: {', '.join(STATES)}")
    queue = JobQueue.open_existing(require_artifacts(artifacts))
    if queue is None:
        err_console.print(f"no queue yet: {default_queue_path(artifacts)} does not exist "
                          "(pantheon queue add or pantheon demo creates it)",
                          highlight=False, soft_wrap=True)
        return [], dict.fromkeys(STATES, 0)
    with queue:
        return queue.list(states=states, limit=limit), queue.counts()


@queue_app.command("list")
def queue_list(
    state: Annotated[list[str] | None, typer.Option("--state", help="filter (repeat)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    as_json: JsonOption = False,
) -> None:
    """Jobs in claim order, with counts per state (it only reads: a missing --artifacts
    folder is an error, and no queue file is created). --json: {"jobs": [...], "counts":
    {...}}, each job a row of the queue's jobs table."""
    try:
        jobs, counts = _read_queue(artifacts, state, limit)
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print_json({"jobs": [job.model_dump(mode="json") for job in jobs], "counts": counts})
        return
    table = Table()
    for col in ("id", "state", "prio", "flow", "tries", "run", "error"):
        table.add_column(col)
    for job in jobs:
        table.add_row(str(job.id), job.state, str(job.priority), job.flow_name,
                      str(job.attempts), job.run_id or "", job.error_kind or "")
    console.print(table)
    console.print(" · ".join(f"{k} {v}" for k, v in counts.items()))
