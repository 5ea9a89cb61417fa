"""``pantheon queue``: add and list jobs, and the housekeeping the room does (cancel,
requeue), plus clear; the rules are the queue's own (:class:`JobQueue`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from pantheon_engine.cli.options import (
    ArtifactsOption,
    JsonOption,
    QueueOption,
    console,
    err_console,
    examples,
    fail,
    print_json,
    queue_named,
    say,
)
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.night.jobqueue import Job
    from pantheon_engine.night.queue_base import JobQueueBase
    from pantheon_engine.night.queue_open import Location

queue_app = typer.Typer(no_args_is_help=True, help="The night queue (SQLite, or PostgreSQL "
                                                   "shared by several machines).")


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
    queue: QueueOption = None,
) -> None:
    """Queue jobs; every input is checked first (its fields against the flow's entry agent,
    every path it names in its workspace), and nothing is queued unless all of them fit.

    An input's workspace is its "workspace" (relative to the input file), else the current
    folder."""
    from pantheon_engine.night.fanout import queue_each, shared_input
    from pantheon_engine.night.queue_open import open_queue, queue_location
    from pantheon_engine.night.specs import FlowInput, enqueue, read_inputs

    try:
        where = queue_location(artifacts, queue_named(queue))
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
                              shared=shared_input(rules_file=rules, input_file=input_path),
                              queue=where)
            added, depth = made.jobs, made.depth
            what = f", one per file matching {each!r} in {made.workspace}"
        else:
            assert input_path is not None  # refused above without --input or --each
            # an input that names no workspace works on the current folder, as with `run`
            added = enqueue(artifacts, flow, read_inputs(input_path), priority=priority,
                            workspace=Path.cwd(), queue=where)
            with open_queue(where) as opened:
                depth = opened.depth()
            what = ""
    except PantheonError as exc:
        fail(exc)
    console.print(f"queued {len(added)} job(s) on {flow.name}{what} (ids {added[0].id}–"
                  f"{added[-1].id}); queue depth {depth}", highlight=False, soft_wrap=True)


def _where(artifacts: Path, queue: str | None) -> Location:
    """The queue a command acts on; the artifacts folder must exist when it is the
    folder's own queue file (a typo must not read as an empty queue)."""
    from pantheon_engine.night.lookup import require_artifacts
    from pantheon_engine.night.queue_open import queue_location

    named = queue_named(queue)
    if named is None:
        require_artifacts(artifacts)
    return queue_location(artifacts, named)


def _absent(where: Location) -> str:
    from pantheon_engine.night.queue_open import describe, is_postgres

    if is_postgres(where):
        return f"{describe(where)} holds no queue tables"
    return f"{where} does not exist"


def _read_queue(artifacts: Path, queue: str | None, states: list[str] | None,
                limit: int) -> tuple[list[Job], dict[str, int]]:
    """The jobs and counts of the queue, read without creating anything: a missing folder
    is an error, a missing queue file (or tables) an empty queue (said on stderr)."""
    from pantheon_engine.night.jobqueue import STATES
    from pantheon_engine.night.queue_open import open_existing_queue

    unknown = [s for s in states or [] if s not in STATES]
    if unknown:
        raise ConfigError(f"--state {', '.join(unknown)}: unknown state",
                          hint=f"states: {', '.join(STATES)}")
    where = _where(artifacts, queue)
    opened = open_existing_queue(where)
    if opened is None:
        err_console.print(f"no queue yet: {_absent(where)} "
                          "(pantheon queue add or pantheon demo creates it)",
                          highlight=False, soft_wrap=True)
        return [], dict.fromkeys(STATES, 0)
    with opened:
        return opened.list(states=states, limit=limit), opened.counts()


def job_title(job: Job) -> str:
    """What a job is about: its input's title, else its path (``-``: neither)."""
    from pantheon_engine.night.summary_read import input_title

    try:
        return input_title(job.input) or "-"
    except ValueError:  # input_json that is not JSON: written by something else
        return "-"


def job_error(job: Job) -> str:
    """A job's error in one line, led by its kind unless the message says it."""
    from pantheon_engine.night.summary_read import first_line

    message = first_line(job.error) or ""
    kind = job.error_kind or ""
    if not kind or message.startswith(kind):
        return message or kind
    return f"{kind}: {message}"


#: the narrowest document and error columns beside a whole run id; narrower terminals get
#: each job's document and error on a line of their own, under its run id
_DOCUMENT_MIN, _ERROR_MIN = 16, 24


def jobs_table(jobs: list[Job], width: int) -> Table:
    """The jobs as ``queue list`` prints them in ``width`` columns. A run id is never cut
    or folded (it can be copied whole): where the document and error do not fit beside it
    they go on a line under it, and where even that does not fit, each job is a few lines
    (id, then its state, flow, priority and tries, its run id, its document and error)."""
    fixed = ("id", "state", "prio", "flow", "tries")
    rows = [(str(j.id), j.state, str(j.priority), j.flow_name, f"{j.attempts}/{j.max_attempts}",
             j.run_id or "-", job_title(j), job_error(j)) for j in jobs]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate((*fixed, "run"))]
    stacked = sum(widths) + 2 * len(fixed)
    if stacked > width:
        return _job_lines(rows)
    side_by_side = stacked + 4 + _DOCUMENT_MIN + _ERROR_MIN <= width
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in fixed:
        table.add_column(name, no_wrap=True)
    if side_by_side:
        table.add_column("run", no_wrap=True, min_width=widths[-1])
        table.add_column("document", overflow="fold", min_width=_DOCUMENT_MIN)
        table.add_column("error", overflow="fold", min_width=_ERROR_MIN)
    else:
        table.add_column("run · document · error", overflow="fold", min_width=widths[-1])
    for *cells, run, title, error in rows:
        text = [Text(c) for c in cells]
        if side_by_side:
            table.add_row(*text, Text(run), Text(title), Text(error))
        else:
            table.add_row(*text, Text(run) + "\n" + _below(title, error))
    return table


def _below(title: str, error: str) -> Text:
    return Text(title, style="bold") + (Text(f" · {error}") if error else Text())


def _job_lines(rows: Sequence[tuple[str, ...]]) -> Table:
    """Each job as lines beside its id, for a terminal too narrow for the table."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, justify="right")
    grid.add_column(overflow="fold")
    for job_id, state, prio, flow, tries, run, title, error in rows:
        head = Text(f"{state} · {flow} · prio {prio} · tries {tries}")
        grid.add_row(Text(job_id), head + "\n" + Text(run) + "\n" + _below(title, error))
    return grid


@queue_app.command("list", epilog=examples(
    "pantheon queue list --state failed      # what failed, by document, with its error",
    "pantheon queue list --json",
))
def queue_list(
    state: Annotated[list[str] | None, typer.Option("--state", help="filter (repeat)")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    artifacts: Annotated[Path, typer.Option("--artifacts")] = Path("artifacts"),
    queue: QueueOption = None,
    as_json: JsonOption = False,
) -> None:
    """Jobs in claim order, each with its document (or spec title), run id and error in
    one line, then the counts per state. It only reads: a missing --artifacts folder is an
    error, and no queue file is created. --json: {"jobs": [...], "counts": {...}}, each job
    a row of the queue's jobs table."""
    try:
        jobs, counts = _read_queue(artifacts, queue, state, limit)
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print_json({"jobs": [job.model_dump(mode="json") for job in jobs], "counts": counts})
        return
    console.print(jobs_table(jobs, console.width))
    say(" · ".join(f"{k} {v}" for k, v in counts.items()))


def _open_queue(artifacts: Path, queue: str | None,
                job_ids: list[int] | None = None) -> JobQueueBase:
    """The queue for a command that changes it; no queue file or tables (or no folder) is
    an error that names the jobs asked for: nothing is created."""
    from pantheon_engine.night.queue_open import open_existing_queue

    where = _where(artifacts, queue)
    opened = open_existing_queue(where)
    if opened is None:
        what = f"no job {', '.join(map(str, job_ids))}: " if job_ids else ""
        raise ConfigError(f"{what}there is no queue yet ({_absent(where)})",
                          hint="pantheon queue add or pantheon demo creates it")
    return opened


def _done(verb: str, jobs: list[Job], counts: dict[str, int]) -> None:
    for job in jobs:
        say(f"{verb} job {job.id} ({job.flow_name} · {job_title(job)})")
    say(" · ".join(f"{k} {v}" for k, v in counts.items()))


JobIds = Annotated[list[int], typer.Argument(metavar="JOB_ID", help="ids from queue list")]


@queue_app.command("cancel", epilog=examples("pantheon queue cancel 12 13"))
def queue_cancel(job_ids: JobIds, artifacts: ArtifactsOption = Path("artifacts"),
                 queue: QueueOption = None) -> None:
    """Cancel queued or running jobs, as the room's c key does (a night drops a cancelled
    job at its next heartbeat). All of them or none: an unknown id, or a job that is over,
    is an error (exit 2) naming them, and nothing changes."""
    try:
        with _open_queue(artifacts, queue, job_ids) as opened:
            jobs = opened.cancel_many(job_ids)
            counts = opened.counts()
    except PantheonError as exc:
        fail(exc)
    _done("cancelled", jobs, counts)


@queue_app.command("requeue", epilog=examples(
    "pantheon queue requeue 7              # a failed or cancelled job, attempts reset",
    "pantheon queue requeue $(pantheon queue list --state failed --json | jq '.jobs[].id')",
))
def queue_requeue(job_ids: JobIds, artifacts: ArtifactsOption = Path("artifacts"),
                  queue: QueueOption = None) -> None:
    """Queue failed or cancelled jobs again with their attempts reset, as the room's R key
    does. All of them or none: an unknown id, or a job that is not failed or cancelled, is
    an error (exit 2) naming them, and nothing changes."""
    try:
        with _open_queue(artifacts, queue, job_ids) as opened:
            jobs = opened.requeue_many(job_ids)
            counts = opened.counts()
    except PantheonError as exc:
        fail(exc)
    _done("requeued", jobs, counts)


@queue_app.command("clear", epilog=examples(
    "pantheon queue clear                  # the jobs that are over: done, failed, cancelled",
    "pantheon queue clear --state failed",
    "pantheon queue clear --state queued   # drop what is waiting (it never ran)",
))
def queue_clear(
    state: Annotated[list[str] | None, typer.Option(
        "--state", help="only jobs in this state (repeat): queued, done, failed or "
                        "cancelled")] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    queue: QueueOption = None,
) -> None:
    """Remove jobs from the queue: by default those that are over (done, failed,
    cancelled; their runs stay under runs/). Running jobs are never cleared (a night holds
    them: cancel them first); an unknown state is an error (exit 2) and nothing changes."""
    try:
        with _open_queue(artifacts, queue) as opened:
            removed = opened.clear(state) if state else opened.clear()
            counts = opened.counts()
    except PantheonError as exc:
        fail(exc)
    total = sum(removed.values())
    detail = ", ".join(f"{k} {v}" for k, v in removed.items())
    say(f"removed {total} job{'' if total == 1 else 's'} ({detail})")
    say(" · ".join(f"{k} {v}" for k, v in counts.items()))
