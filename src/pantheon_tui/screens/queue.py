"""The Queue screen: every job of the queue file, filtered, with the operator's commands.

Reading happens in a thread worker (the queue may hold tens of thousands of jobs, and a
night may hold its write lock for a moment); the thread builds the rows and posts them,
and only the UI thread touches widgets. The queue is read again every ``ctx.poll_s``
seconds while the screen is shown, and right after each command.

Filters: ``f`` cycles the state shown (all, queued, running, done, failed, cancelled; the
keys ``0``-``5`` pick one), ``/`` focuses a text filter matched against the id, flow,
title, run id and error of each job (every word must match).

At most ``MAX_ROWS`` rows are put in the table, the first in claim order; the counts line
says so when the filter leaves more.

The columns grow with the window (:func:`column_widths`): past their narrowest, the run
column first, until a run id fits whole, then the flow, then title and error share the
rest. ``enter`` opens the job: the job itself, then every node of its run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from rich.markup import escape
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from pantheon_engine.errors import PantheonError
from pantheon_engine.night.jobqueue import STATES, Job, JobQueue, QueueError, default_queue_path
from pantheon_tui.context import RoomContext
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.screens.viewer import ArtifactViewer

MAX_ROWS = 2_000  # rows put in the table at most; a filter narrows the rest
CHUNK = 250  # rows added to the table at a time
FILL_PAUSE_S = 0.01
STATE_STYLE = {"queued": "cyan", "running": "bold yellow", "done": "green",
               "failed": "bold red", "cancelled": "dim"}
STATE_FILTERS: tuple[str | None, ...] = (None, *STATES)
# name and narrowest width of each column; the table never moves as jobs come and go,
# only when the window is resized (see column_widths)
COLUMNS = (("id", 5), ("state", 9), ("pri", 3), ("flow", 10), ("tries", 5), ("age", 4),
           ("title", 22), ("run", 16), ("error", 24))
WIDTH = dict(COLUMNS)
# past its narrowest a column grows to its cap, in this order; title and error share the
# rest. A run id (``20261120T220512Z-spec2code-3f2a1b``) is 33 wide: whole, it can be copied.
GROWS = (("run", 33), ("flow", 16))
CELL_PADDING = 2  # the table pads each cell by one on each side
SCROLLBAR = 2  # kept free for the table's vertical scrollbar

Cell = str  # Rich markup; text from jobs is escaped


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as the table shows it, with the lower-case text the filter searches.

    ``texts`` are the columns' plain text, whole: :func:`row_cells` clips them to the
    columns' widths of the moment.
    """

    id: int
    state: str
    texts: tuple[str, ...]
    haystack: str


def column_widths(width: int) -> dict[str, int]:
    """The columns' widths for a table ``width`` cells wide (never below the narrowest)."""
    widths = dict(WIDTH)
    spare = width - SCROLLBAR - sum(widths.values()) - CELL_PADDING * len(widths)
    for name, cap in GROWS:
        grow = max(0, min(spare, cap - widths[name]))
        widths[name] += grow
        spare -= grow
    if spare > 0:
        widths["title"] += spare // 2
        widths["error"] += spare - spare // 2
    return widths


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def job_title(job: Job) -> str:
    """What a job is about: its input's title (or path, for document tasks)."""
    try:
        data = json.loads(job.input_json)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    value = data.get("title") or data.get("path") or ""
    return str(value)


def job_error(job: Job) -> str:
    """The error of a job in few words: the message, led by its kind unless it says it."""
    message = job.error or ""
    kind = job.error_kind or ""
    if not kind or message.startswith(kind):
        return message or kind
    return f"{kind}: {message}"


def job_row(job: Job, ctx: RoomContext) -> JobRow:
    """What the table shows of ``job``, as plain text (see :func:`row_cells`)."""
    title = job_title(job)
    texts = (str(job.id), job.state, str(job.priority), job.flow_name,
             f"{job.attempts}/{job.max_attempts}", ctx.ago(job.created_at), title,
             job.run_id or "-", job_error(job))
    haystack = " ".join([str(job.id), job.state, job.flow_name, title, job.run_id or "",
                         job.error_kind or "", job.error or ""]).lower()
    return JobRow(job.id, job.state, texts, haystack)


def row_cells(row: JobRow, widths: Mapping[str, int]) -> tuple[Cell, ...]:
    """The cells of ``row`` at ``widths``: Rich markup strings, the job's own text clipped
    and escaped.

    Strings, not ``Text`` objects: a large queue is tens of thousands of cells, and
    strings are invisible to the garbage collector, whose full passes over as many
    ``Text`` objects froze the screen for a few hundred milliseconds at a time.
    """
    job_id, state, priority, flow, tries, age, title, run, error = row.texts

    def plain(text: str, column: str) -> str:
        return escape(_clip(text, widths[column]))

    error_style = "red" if row.state == "failed" else "dim"
    return (
        f"{job_id:>{widths['id']}}",
        f"[{STATE_STYLE.get(state, 'default')}]{state}[/]",
        f"{priority:>{widths['pri']}}",
        plain(flow, "flow"),
        tries,
        age,
        plain(title, "title"),
        plain(run, "run"),
        f"[{error_style}]{plain(error, 'error')}[/]",
    )


def visible(rows: Iterable[JobRow], state: str | None, text: str) -> list[JobRow]:
    """The rows in ``state`` (None: any) whose text holds every word of ``text``."""
    words = text.lower().split()
    return [row for row in rows
            if (state is None or row.state == state)
            and all(word in row.haystack for word in words)]


def _step_priority(queue: JobQueue, job_id: int, step: int) -> Job:
    """Move a job's priority by ``step`` from what the queue holds now (not what is shown)."""
    job = queue.get(job_id)
    if job is None:
        raise QueueError(f"no job {job_id} in queue {queue.path}")
    return queue.reprioritise(job_id, job.priority + step)


def empty_text(queue_path: object) -> Text:
    """What an empty queue says: what to run first, and where the queue lives."""
    return Text.assemble("No jobs yet: run ", ("pantheon demo", "bold"), " (example jobs), then ",
                         ("pantheon night", "bold"), (f" · {queue_path}", "dim"))


def counts_text(counts: dict[str, int]) -> Text:
    text = Text()
    for i, state in enumerate(STATES):
        if i:
            text.append(" · ", style="dim")
        text.append(f"{state} ", style=STATE_STYLE[state])
        text.append(f"{counts.get(state, 0):,}", style="bold")
    return text


class QueueScreen(RoomScreen):
    """The jobs of ``<artifacts>/queue.sqlite`` in claim order."""

    SCREEN_NAME = "queue"
    TITLE = "Queue"
    BINDINGS = [
        Binding("enter", "open", "Open", id="queue.open"),
        Binding("plus,equals_sign", "priority(1)", "Priority +", id="queue.raise"),
        Binding("minus", "priority(-1)", "Priority −", id="queue.lower"),
        Binding("c", "cancel", "Cancel", id="queue.cancel"),
        Binding("R,shift+r", "requeue", "Requeue", id="queue.requeue"),
        Binding("g", "reload", "Refresh", id="queue.refresh"),
        Binding("f", "cycle_state", "State", id="queue.state"),
        Binding("slash", "filter", "Filter", id="queue.filter"),
        Binding("escape", "leave_filter", "Clear filter", id="queue.clear_filter",
                show=False),
        *(Binding(str(i), f"state({i})", f"Only {state or 'all'}",
                  id=f"queue.only_{state or 'all'}", show=False)
          for i, state in enumerate(STATE_FILTERS)),
    ]
    DEFAULT_CSS = """
    QueueScreen #queue-bar { height: 1; padding: 0 1; }
    QueueScreen #queue-counts { width: 1fr; }
    QueueScreen #queue-shown { width: auto; color: $text-muted; }
    QueueScreen #queue-filters { height: 1; padding: 0 1; }
    QueueScreen #queue-state { width: auto; margin-right: 1; }
    QueueScreen #queue-filter { width: 1fr; }
    QueueScreen #queue-table { height: 1fr; }
    """

    class JobsRead(Message):
        """A read of the queue: ``seq`` orders reads that raced each other."""

        def __init__(self, seq: int, rows: list[JobRow] | None, counts: dict[str, int],
                     error: str | None) -> None:
            super().__init__()
            self.seq = seq
            self.rows = rows
            self.counts = counts
            self.error = error

    class JobRead(Message):
        """The job to open, read again from the queue (None: it is gone)."""

        def __init__(self, job_id: int, job: Job | None) -> None:
            super().__init__()
            self.job_id = job_id
            self.job = job

    class CommandDone(Message):
        """A command on one job ran: ``error`` is the engine's message when it refused."""

        def __init__(self, message: str, error: bool) -> None:
            super().__init__()
            self.message = message
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[JobRow] = []
        self._counts: dict[str, int] = dict.fromkeys(STATES, 0)
        self._read_error: str | None = None
        self._state: str | None = None
        self._target: list[JobRow] = []  # the rows the table shows, or is being filled with
        self._filled = 0  # how many of them are in the table yet
        self._fill_gen = 0  # bumped when the table is filled again from the top
        self._filling: set[int] = set()  # generations with a chunk scheduled
        self._keep: int | None = None  # job to put the cursor on once its row is added
        self._seq = 0  # last read started (under _lock)
        self._seq_shown = -1  # last read shown
        self._lock = threading.Lock()
        self._queue: JobQueue | None = None
        self._row_cache: dict[tuple[object, ...], JobRow] = {}  # rows of the last read
        self._widths: dict[str, int] = dict(WIDTH)  # the columns' widths now
        self._timer: Timer | None = None
        self._resumed = False
        self._closed = False

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="queue-bar"):
            yield Static(id="queue-counts")
            yield Static(id="queue-shown")
        with Horizontal(id="queue-filters"):
            yield Static(id="queue-state")
            text = Input(id="queue-filter", compact=True,
                         placeholder="/ filter: id, flow, title, run id, error")
            text.cursor_blink = False
            yield text
        table: DataTable[Cell] = DataTable(id="queue-table", cursor_type="row",
                                           zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#queue-table", DataTable)
        self._add_columns(table)
        self._show_filters()
        self._timer = self.set_interval(self.ctx.poll_s, self.reload)
        self.reload()
        table.focus()

    def _add_columns(self, table: DataTable[Cell]) -> None:
        for name, _narrowest in COLUMNS:
            table.add_column(name, key=name, width=self._widths[name])

    def on_resize(self, _event: events.Resize) -> None:
        self.call_after_refresh(self._fit_columns)

    def _fit_columns(self) -> None:
        """Widen (or narrow) the columns to the table's width; the rows are drawn again."""
        table = self.query_one("#queue-table", DataTable)
        widths = column_widths(table.size.width)
        if not table.size.width or widths == self._widths:
            return
        self._widths = widths
        self._keep = self.cursor_job_id()
        table.clear(columns=True)
        self._add_columns(table)
        self._fill_gen += 1
        self._filled = 0
        self._fill(self._fill_gen)

    @property
    def widths(self) -> dict[str, int]:
        """The columns' widths now."""
        return dict(self._widths)

    def on_screen_resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()
        if self._resumed:  # the first time, on_mount has just asked for a read
            self.reload()
        self._resumed = True

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_unmount(self) -> None:
        with self._lock:
            self._closed = True
            if self._queue is not None:
                self._queue.close()
                self._queue = None

    # --- reading (thread) ------------------------------------------------------------

    def reload(self) -> None:
        """Read the queue again (in a thread)."""
        self._read(self.ctx)

    @work(thread=True, exclusive=True, group="queue-read")
    def _read(self, ctx: RoomContext) -> None:
        self.post_message(self._snapshot(ctx))

    def _snapshot(self, ctx: RoomContext) -> JobsRead:
        """Read every job and build its row; runs in a thread, touches no widget."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            try:
                queue = self._open(ctx)
                if queue is None:
                    return self.JobsRead(seq, [], dict.fromkeys(STATES, 0), None)
                jobs = queue.list(limit=None)
                counts = queue.counts()
            except (PantheonError, OSError, sqlite3.Error) as exc:
                return self.JobsRead(seq, None, {}, getattr(exc, "message", str(exc)))
            return self.JobsRead(seq, self._build_rows(jobs, ctx), counts, None)

    def _build_rows(self, jobs: list[Job], ctx: RoomContext) -> list[JobRow]:
        """Rows of ``jobs``, reusing those of the last read for jobs that did not change.

        Most jobs stay as they were from one read to the next; building a row (JSON of
        the input, styled cells) costs more than the read itself on a large queue.
        """
        cache: dict[tuple[object, ...], JobRow] = {}
        rows = []
        for job in jobs:
            key = (job.id, job.state, job.priority, job.attempts, job.max_attempts,
                   job.flow_name, job.run_id, job.error_kind, job.error,
                   ctx.ago(job.created_at))
            row = self._row_cache.get(key) or job_row(job, ctx)
            cache[key] = row
            rows.append(row)
        self._row_cache = cache
        return rows

    def _open(self, ctx: RoomContext) -> JobQueue | None:
        """The queue, opened once; ``None`` while there is no queue file (not created here)."""
        if self._closed:
            return None
        if self._queue is None:
            if not default_queue_path(ctx.artifacts).is_file():
                return None
            self._queue = JobQueue.for_artifacts(ctx.artifacts)
        return self._queue

    def on_queue_screen_jobs_read(self, message: JobsRead) -> None:
        if message.seq <= self._seq_shown:
            return  # an older read that finished late
        self._seq_shown = message.seq
        self._read_error = message.error
        if message.rows is not None:
            self._rows = message.rows
            self._counts = message.counts
        self._show_rows()

    # --- commands (thread) -----------------------------------------------------------

    def _run_command(self, verb: str, command: Callable[[JobQueue, int], Job]) -> None:
        job_id = self.cursor_job_id()
        if job_id is None:
            self.notify("no job selected", severity="warning")
            return
        self._command(self.ctx, job_id, verb, command)

    @work(thread=True, group="queue-command")
    def _command(self, ctx: RoomContext, job_id: int, verb: str,
                 command: Callable[[JobQueue, int], Job]) -> None:
        """Run one command on the queue, then read it again."""
        try:
            with self._lock:
                queue = self._open(ctx)
                if queue is None:
                    raise PantheonError("there is no queue file yet")
                job = command(queue, job_id)
        except PantheonError as exc:
            self.post_message(self.CommandDone(exc.message, error=True))
            return
        except (OSError, sqlite3.Error) as exc:
            self.post_message(self.CommandDone(str(exc), error=True))
            return
        self.post_message(self.CommandDone(f"job {job.id} {verb.format(job=job)}",
                                           error=False))
        self.post_message(self._snapshot(ctx))

    def on_queue_screen_command_done(self, message: CommandDone) -> None:
        if message.error:
            self.notify(message.message, severity="error")
        else:
            self.notify(message.message)

    def action_priority(self, step: int) -> None:
        self._run_command("priority {job.priority}", partial(_step_priority, step=step))

    def action_cancel(self) -> None:
        self._run_command("cancelled", lambda queue, jid: queue.cancel(jid))

    def action_requeue(self) -> None:
        self._run_command("requeued", lambda queue, jid: queue.requeue(jid))

    def action_reload(self) -> None:
        self.reload()

    # --- opening a job ---------------------------------------------------------------

    def action_open(self) -> None:
        """The job under the cursor in the viewer: the job, then its run's files."""
        job_id = self.cursor_job_id()
        if job_id is None:
            self.notify("no job selected", severity="warning")
            return
        self._read_job(self.ctx, job_id)

    @on(DataTable.RowSelected, "#queue-table")
    def _row_selected(self) -> None:
        self.action_open()

    @work(thread=True, group="queue-open")
    def _read_job(self, ctx: RoomContext, job_id: int) -> None:
        try:
            with self._lock:
                queue = self._open(ctx)
                job = queue.get(job_id) if queue is not None else None
        except (PantheonError, OSError, sqlite3.Error) as exc:
            self.post_message(self.CommandDone(getattr(exc, "message", str(exc)), error=True))
            return
        self.post_message(self.JobRead(job_id, job))

    def on_queue_screen_job_read(self, message: JobRead) -> None:
        if message.job is None:
            self.notify(f"job {message.job_id} is no longer in the queue", severity="warning")
            return
        self.app.push_screen(ArtifactViewer.for_job(
            self.ctx.artifacts, message.job, default_queue_path(self.ctx.artifacts)))

    # --- filters ---------------------------------------------------------------------

    def action_cycle_state(self) -> None:
        index = STATE_FILTERS.index(self._state)
        self.action_state((index + 1) % len(STATE_FILTERS))

    def action_state(self, index: int) -> None:
        self._state = STATE_FILTERS[index]
        self._show_filters()
        self._show_rows()

    def action_filter(self) -> None:
        self.query_one("#queue-filter", Input).focus()

    def action_leave_filter(self) -> None:
        """Escape: from the text filter back to the table, or (in the table) clear it."""
        text = self.query_one("#queue-filter", Input)
        if text.has_focus:
            self.query_one("#queue-table", DataTable).focus()
        elif text.value:
            text.value = ""

    @on(Input.Submitted, "#queue-filter")
    def _filter_done(self) -> None:
        self.query_one("#queue-table", DataTable).focus()

    @on(Input.Changed, "#queue-filter")
    def _filter_changed(self) -> None:
        self._show_rows()

    @property
    def state_filter(self) -> str | None:
        return self._state

    def _show_filters(self) -> None:
        label = Text("state ", style="dim")
        label.append(self._state or "all", style=STATE_STYLE.get(self._state or "", "bold"))
        label.append(" (f)", style="dim")
        self.query_one("#queue-state", Static).update(label)

    # --- the table -------------------------------------------------------------------

    def cursor_job_id(self) -> int | None:
        """The id of the job under the cursor (None: the table is empty)."""
        row = self.query_one("#queue-table", DataTable).cursor_row
        return self._target[row].id if 0 <= row < self._filled else None

    def shown_ids(self) -> list[int]:
        """Ids of the jobs in the table, top to bottom."""
        return [row.id for row in self._target[: self._filled]]

    @property
    def settled(self) -> bool:
        """A read is shown and every one of its rows is in the table."""
        return self._seq_shown >= 0 and self._filled == len(self._target)

    def _show_rows(self) -> None:
        """Put the filtered rows in the table, keeping the cursor on the same job.

        When the jobs already in the table lead the new list (the usual case: states
        change, new jobs come last) only changed cells and new rows are touched;
        otherwise the table is filled again from the top.
        """
        table = self.query_one("#queue-table", DataTable)
        text = self.query_one("#queue-filter", Input).value
        matching = visible(self._rows, self._state, text)
        rows = matching[:MAX_ROWS]
        old_ids = [row.id for row in self._target]
        if [row.id for row in rows[: len(old_ids)]] == old_ids:
            self._update_cells(table, rows)
            self._target = rows
            if self._filled < len(rows) and self._fill_gen not in self._filling:
                self._fill(self._fill_gen)
        else:
            self._keep = self.cursor_job_id()
            self._fill_gen += 1
            table.clear()
            self._target, self._filled = rows, 0
            self._fill(self._fill_gen)
        self._show_counts(len(matching))

    def _fill(self, gen: int) -> None:
        """Add the next ``CHUNK`` rows, and come back for more after the screen updated.

        The table measures every new cell when it is next idle (about 0.2 ms a row), so
        thousands of rows added at once would freeze the screen; chunks keep it live.
        """
        self._filling.discard(gen)
        if gen != self._fill_gen:
            return  # the table was filled again from the top meanwhile
        table = self.query_one("#queue-table", DataTable)
        chunk = self._target[self._filled : self._filled + CHUNK]
        for row in chunk:
            table.add_row(*row_cells(row, self._widths), key=str(row.id))
        self._filled += len(chunk)
        ids = [row.id for row in chunk]
        if self._keep in ids:
            table.move_cursor(row=self._filled - len(chunk) + ids.index(self._keep),
                              animate=False)
            self._keep = None
        if self._filled < len(self._target):
            self._filling.add(gen)
            self.set_timer(FILL_PAUSE_S, partial(self._fill, gen))

    def _update_cells(self, table: DataTable[Cell], rows: list[JobRow]) -> None:
        """Change the cells of the rows in the table that differ from ``rows``."""
        for index in range(min(self._filled, len(rows))):
            if self._target[index] is rows[index]:
                continue  # the same row object: the job did not change since the last read
            old = row_cells(self._target[index], self._widths)
            new = row_cells(rows[index], self._widths)
            for column, (before, after) in enumerate(zip(old, new, strict=True)):
                if before != after:
                    table.update_cell_at(Coordinate(index, column), after)

    def _show_counts(self, matching: int) -> None:
        counts = self.query_one("#queue-counts", Static)
        shown = self.query_one("#queue-shown", Static)
        if self._read_error is not None:
            counts.update(Text(f"cannot read the queue: {self._read_error}", style="bold red"))
        elif self._seq_shown >= 0 and not self._rows and not any(self._counts.values()):
            counts.update(empty_text(default_queue_path(self.ctx.artifacts)))
            shown.update("")
            return
        else:
            counts.update(counts_text(self._counts))
        total = len(self._rows)
        note = f"showing {min(matching, MAX_ROWS):,} of {total:,}"
        if matching > MAX_ROWS:
            note = f"showing {MAX_ROWS:,} of {matching:,} — filter to narrow"
        shown.update(note)

