"""The Report screen: the morning report's red bins, triaged from the keyboard.

Above the bins, three panels show the report's honest numbers as the engine's summary
has them (nothing is computed here): each agent's pass rate from its checks with the
95 % interval, the reviewers' canary record and κ, and the merges the gate refused with
the gate's reason.

Everything on disk is read in one thread worker (:func:`load_report`: the summary, the
failure bins, each failure's detail and the triage marks) that hands its result back as a
:class:`ReportScreen.Loaded` message; the table is filled from it on the event loop. Marks
and requeues are written in thread workers too and come back as messages, so a slow disk or
a busy queue file never stalls the keyboard. Nothing here reads the wall clock for what it
draws: times go through the room's clock and time zone, so snapshots are stable.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from pantheon_engine.errors import PantheonError
from pantheon_engine.night.report import (
    Summary,
    build_summary,
    gate_kappa_text,
    gate_text,
    interval_text,
    kappa_text,
    percent,
)
from pantheon_engine.night.triage import (
    Failure,
    FailureBin,
    Mark,
    TriageLog,
    TriageMark,
    failure_bins,
    failure_detail,
    requeue_run,
)
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.screens.viewer import ArtifactViewer

if TYPE_CHECKING:  # the fix machinery loads when a fix is asked for, not with the room
    from pantheon_engine.specialize.fixes import FixResult, FixTarget

MARKS = ("open", "triaged", "requeued", "ignored")
MARK_COLOURS = {  # theme variables
    "open": "warning",
    "triaged": "success",
    "requeued": "primary",
    "ignored": "foreground-muted",
}
# A bin header shows agent, node, error kind and count in the columns its failures use
# for run, node, started and mark.
COLUMNS = (("bin / run", "what"), ("node", "node"), ("error / started", "started"),
           ("mark", "mark"))
STARTED_FORMAT = "%m-%d %H:%M"
BIN_PREFIX = "bin:"
# A reload of a big folder costs CPU the event loop shares (the GIL): the next one waits
# at least this many times as long as the last one took.
POLL_BACKOFF = 5.0


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class FailureInfo:
    """One failure with what the detail pane shows; ``started`` is a unix time."""

    failure: Failure
    detail: dict[str, Any]
    started: float | None


@dataclass(frozen=True)
class ReportData:
    """What one read of the artifacts folder found (built off the event loop)."""

    summary: Summary
    bins: list[FailureBin]
    failures: dict[str, FailureInfo]  # failure key -> info
    marks: dict[str, TriageMark]
    seconds: float  # how long the read took


def load_report(artifacts: Path) -> ReportData:
    """Read the summary, bins, failure details and marks of ``artifacts`` (blocking)."""
    began = time.perf_counter()
    summary = build_summary(artifacts)
    bins = failure_bins(summary)
    failures: dict[str, FailureInfo] = {}
    for group in bins:
        for failure in group.failures:
            detail = failure_detail(artifacts, failure)
            failures[failure.key] = FailureInfo(failure, detail, _timestamp(detail["started_at"]))
    marks = TriageLog(artifacts).marks()
    return ReportData(summary, bins, failures, marks, time.perf_counter() - began)


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def resolve_colour(variables: dict[str, str], name: str) -> str:
    """Theme variable ``name`` as an opaque ``#rrggbb`` (alpha laid over the background),
    the form Rich styles take; the foreground when the variable is not a plain colour."""
    background = Color.parse(variables.get("background", "#000000"))
    try:
        colour = Color.parse(variables[name])
    except (KeyError, ColorParseError):
        colour = Color.parse(variables.get("foreground", "#ffffff"))
    return (background + colour).hex6


def mark_of(marks: dict[str, TriageMark], key: str) -> str:
    found = marks.get(key)
    return found.mark if found is not None else "open"


@dataclass(frozen=True)
class RowSpec:
    """One table row as plain data: a bin header (``failure`` is None) or a failure."""

    key: str
    cells: tuple[str, str, str, str]
    mark: str  # the mark of a failure row, "bin" for a header
    failure: Failure | None = None


def bin_key(group: FailureBin) -> str:
    return f"{BIN_PREFIX}{group.agent}|{group.node}|{group.error_kind}"


def build_rows(data: ReportData, marks: dict[str, TriageMark], *, hide_done: bool,
               clock_text: Callable[[float | None, str], str]) -> list[RowSpec]:
    """The rows of the table: each bin's header, then its failures (open ones only when
    ``hide_done``); a bin left with nothing to show is left out."""
    rows: list[RowSpec] = []
    for group in data.bins:
        members = [(f, mark_of(marks, f.key)) for f in group.failures]
        open_count = sum(mark == "open" for _, mark in members)
        shown = [(f, m) for f, m in members if m == "open" or not hide_done]
        if not shown:
            continue
        count = f"{len(members)} · {open_count} open"
        rows.append(RowSpec(bin_key(group), (group.agent, group.node, group.error_kind, count),
                            "bin"))
        for failure, mark in shown:
            info = data.failures.get(failure.key)
            started = clock_text(info.started if info else None, STARTED_FORMAT)
            rows.append(RowSpec(failure.key, (f"  {failure.run_id}", failure.node, started, mark),
                                mark, failure))
    return rows


def summary_line(data: ReportData, marks: dict[str, TriageMark], *, hide_done: bool,
                 read_at: str) -> str:
    """Runs, ok, failed, κ overall and pairs, merged PRs; then the triage counts."""
    t = data.summary.totals
    k = data.summary.kappa
    parts = [f"{t.runs} runs", f"{t.ok} ok", f"{t.failed} failed"]
    if t.running:
        parts.append(f"{t.running} running")
    parts += [f"κ {kappa_text(k.overall)} ({k.pairs} pairs)", f"{len(data.summary.prs)} merged"]
    if t.refused:
        parts.append(f"{t.refused} refused")
    counts = Counter(mark_of(marks, key) for key in data.failures)
    triage = [f"{counts[m]} {m}" for m in MARKS if counts[m] or m == "open"]
    if hide_done:
        triage.append("hiding done")
    return " · ".join(parts) + "  │  " + " · ".join(triage) + f"  │  read {read_at}"


def _of(part: int | None, whole: int | None) -> str:
    return "?" if whole is None else f"{'?' if part is None else part}/{whole}"


def rates_text(summary: Summary, bold: str = "bold", muted: str = "dim") -> Text:
    """Per agent@version: pass rate from checks with its 95 % interval, graded counts."""
    if not summary.pass_rates:
        return Text("No run graded by a check yet.", style=muted)
    lines = []
    for rate in summary.pass_rates:
        head = Text(rate.agent, style=bold)
        if rate.graded:
            head.append(f"  {percent(rate.rate)} {interval_text(rate)}")
            counts = f"  {rate.passed}/{rate.graded} passed"
        else:
            counts = "  no run graded"
        if rate.not_graded:
            counts += f", {rate.not_graded} not graded"
        lines += [head, Text(counts, style=muted)]
    return Text("\n").join(lines)


def reviewers_text(summary: Summary, bold: str = "bold", muted: str = "dim") -> Text:
    """Per reviewer: canary accuracy, false-pass rate, κ; then the gate's κ and limits."""
    reviewers = summary.reviewers
    lines = []
    if reviewers.source is None:
        lines.append(Text("no reviewers.json: canaries not measured", style=muted))
    for row in reviewers.rows:
        lines.append(Text(row.agent, style=bold))
        if row.canaries is not None or row.accuracy is not None:
            lines.append(Text(f"  canaries {_of(row.correct, row.canaries)} right "
                              f"({percent(row.accuracy)})"))
            lines.append(Text(f"  false passes {_of(row.false_passes, row.bad_seen)} "
                              f"({percent(row.false_pass_rate)})"))
        if row.kappa_pairs:
            lines.append(Text(f"  κ {kappa_text(row.kappa)} over {row.kappa_pairs} run pairs"))
    if reviewers.kappa is not None:
        lines.append(Text(f"gate {gate_kappa_text(reviewers.kappa)}"))
    gate = gate_text(reviewers)
    if gate:
        lines.append(Text(f"gate: {gate}", style=muted))
    if not lines:
        lines.append(Text("No reviews yet.", style=muted))
    return Text("\n").join(lines)


def refused_text(summary: Summary, bold: str = "bold", muted: str = "dim") -> Text:
    """The merges the gate refused, by reason kind, each with the gate's own words."""
    if not summary.refused:
        return Text("The gate refused nothing.", style=muted)
    lines = []
    for group in summary.refused:
        lines.append(Text.assemble((f"{group.error_kind} ×{group.count}", bold),
                                   (f"  {group.meaning}", muted)))
        for refusal in group.refusals:
            lines.append(Text.assemble(f"  {refusal.run_id} ", (refusal.reason or "-", "")))
    return Text("\n").join(lines)


FACTS = (  # panel id, title
    ("report-rates", "Pass rate from checks"),
    ("report-reviewers", "Reviewers"),
    ("report-refused", "Refused by the merge gate"),
)


# --------------------------------------------------------------------------- screen


class ReportScreen(RoomScreen):
    """Failures by red bin; keys move, open, mark, requeue, fix by hand and copy paths."""

    SCREEN_NAME = "report"
    TITLE = "Report"
    BINDINGS = [
        Binding("down,j", "move(1)", "Down", id="report.down", show=False, priority=True),
        Binding("up,k", "move(-1)", "Up", id="report.up", show=False, priority=True),
        Binding("enter", "open", "Open", id="report.open", priority=True),
        Binding("t", "mark('triaged')", "Triaged", id="report.triaged"),
        Binding("i", "mark('ignored')", "Ignore", id="report.ignored"),
        Binding("R", "requeue", "Requeue", id="report.requeue"),
        Binding("e", "fix", "Fix by hand", id="report.fix"),
        Binding("o", "mark('open')", "Reopen", id="report.reopen"),
        Binding("y", "copy_path", "Copy path", id="report.copy"),
        Binding("h", "toggle_done", "Hide done", id="report.hide"),
        Binding("g", "reload", "Refresh", id="report.refresh"),
        Binding("l", "curves", "Curves", id="report.curves"),
    ]

    DEFAULT_CSS = """
    ReportScreen #report-summary {
        height: 1; padding: 0 1; background: $panel; color: $foreground;
    }
    ReportScreen #report-facts { height: auto; max-height: 11; }
    ReportScreen .report-fact {
        width: 1fr; height: auto; max-height: 11; padding: 0 1; overflow-y: auto;
        border: round $primary 40%; border-title-color: $foreground;
    }
    ReportScreen #report-refused { width: 3fr; }
    ReportScreen #report-rates, ReportScreen #report-reviewers { width: 2fr; }
    ReportScreen #report-body { height: 1fr; }
    ReportScreen #report-failures { width: 3fr; height: 1fr; }
    ReportScreen #report-side {
        width: 2fr; min-width: 30; height: 1fr; padding: 0 1;
        background: $surface; border-left: vkey $primary;
    }
    """

    class Loaded(Message):
        """A read of the folder finished (posted from the load thread); ``version`` is
        the screen's mark count when the read began."""

        def __init__(self, data: ReportData, version: int) -> None:
            super().__init__()
            self.data = data
            self.version = version

    class LoadFailed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Marked(Message):
        """A mark was written; ``note`` is what to tell the user, if anything."""

        def __init__(self, record: TriageMark, note: str | None = None) -> None:
            super().__init__()
            self.record = record
            self.note = note

    class ActionFailed(Message):
        def __init__(self, text: str, hint: str | None = None) -> None:
            super().__init__()
            self.text = text
            self.hint = hint

    class FixReady(Message):
        """The failed run's file is ready to edit (posted from a thread worker)."""

        def __init__(self, target: FixTarget) -> None:
            super().__init__()
            self.target = target

    class Fixed(Message):
        """A hand fix was graded (and, when it passed, recorded as a demonstration)."""

        def __init__(self, result: FixResult) -> None:
            super().__init__()
            self.result = result

    def __init__(self) -> None:
        super().__init__()
        self.data: ReportData | None = None
        self.marks: dict[str, TriageMark] = {}
        self.hide_done = False
        self.loads = 0  # how many reads have been applied
        self._rows: list[RowSpec] = []
        self._index: dict[str, int] = {}
        self._cursor_key: str | None = None
        self._colours: dict[str, str] | None = None
        self._loaded = asyncio.Event()
        self._poll_timer: Timer | None = None
        # one write at a time, so marks reach the screen in the order they reach the file
        self._write_lock = threading.Lock()
        # marks this screen wrote, numbered, so a read that began before one was written
        # does not take it back off the screen
        self._written: list[tuple[int, TriageMark]] = []
        self._version = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the artifacts folder …", id="report-summary", markup=False)
        with Horizontal(id="report-facts"):
            for panel_id, title in FACTS:
                panel = Static("", id=panel_id, classes="report-fact", markup=False)
                panel.border_title = title
                yield panel
        with Horizontal(id="report-body"):
            table: DataTable[Text] = DataTable(id="report-failures", cursor_type="row",
                                               cursor_foreground_priority="renderable")
            for label, key in COLUMNS:
                table.add_column(label, key=key)
            yield table
            with VerticalScroll(id="report-side"):
                yield Static("", id="report-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).loading = True
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_screen_resume(self) -> None:
        # RoomScreen's handler runs too (Textual calls each class's handler): no super().
        self.reload()

    # --- loading -------------------------------------------------------------------------

    def reload(self) -> Worker[None]:
        """Read the folder again in a thread; the result arrives as :class:`Loaded`."""
        self._loaded.clear()
        return self._load(self.ctx.artifacts, self._version)

    async def reload_now(self) -> None:
        """Read the folder again and return once the table shows the result (for tests)."""
        self.reload()
        await self._loaded.wait()

    @work(thread=True, exclusive=True, group="report-load", exit_on_error=False)
    def _load(self, artifacts: Path, version: int) -> None:
        try:
            data = load_report(artifacts)
        except Exception as exc:  # a worker's stray exception would end the app
            if not get_current_worker().is_cancelled:
                self.post_message(self.LoadFailed(f"reading {artifacts} failed: {exc}"))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(data, version))

    @on(Loaded)
    def _loaded_data(self, message: Loaded) -> None:
        self.data = message.data
        self.marks = dict(message.data.marks)
        self._written = [(v, record) for v, record in self._written if v > message.version]
        for _, record in self._written:
            self._apply_mark(record)
        self.loads += 1
        self.query_one(DataTable).loading = False
        self._redraw()
        self._schedule_poll(message.data.seconds)
        self._loaded.set()

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.query_one(DataTable).loading = False
        self.notify(message.text, title="report", severity="error", markup=False)
        self._schedule_poll(0.0)
        self._loaded.set()

    def _schedule_poll(self, last_seconds: float) -> None:
        """Read again after ``poll_s``, or longer when reads are slow (see POLL_BACKOFF)."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
        delay = max(self.ctx.poll_s, POLL_BACKOFF * last_seconds)
        self._poll_timer = self.set_timer(delay, self._poll)

    def _poll(self) -> None:
        self._poll_timer = None
        if self.is_current:  # a hidden screen reads again when it comes back
            self.reload()

    # --- drawing -------------------------------------------------------------------------

    def _theme_changed(self, _theme: Theme) -> None:
        self._colours = None
        self._rows = []  # colours live in the cells: draw every row again
        self._redraw()

    def _colour(self, name: str) -> str:
        """A theme colour as ``#rrggbb`` for Rich styles (cached until the theme changes)."""
        if self._colours is None:
            self._colours = {}
        if name not in self._colours:
            self._colours[name] = resolve_colour(self.app.get_css_variables(), name)
        return self._colours[name]

    def _cells(self, row: RowSpec) -> tuple[Text, ...]:
        if row.failure is None:
            style = f"bold {self._colour('error')}"
            return tuple(Text(cell, style=style) for cell in row.cells)
        mark = Text(row.mark, style=self._colour(MARK_COLOURS.get(row.mark, "foreground")))
        return (Text(row.cells[0]), Text(row.cells[1]), Text(row.cells[2]), mark)

    def _redraw(self) -> None:
        """Show the current data and marks: the summary line, the table, the detail."""
        if self.data is None:
            return
        self.query_one("#report-summary", Static).update(summary_line(
            self.data, self.marks, hide_done=self.hide_done,
            read_at=self.ctx.clock_text(self.ctx.clock())))
        self._show_facts(self.data.summary)
        rows = build_rows(self.data, self.marks, hide_done=self.hide_done,
                          clock_text=self.ctx.clock_text)
        if [r.key for r in rows] == [r.key for r in self._rows]:
            self._update_rows(rows)
        else:
            self._fill(rows)
        self._show_detail()

    def _show_facts(self, summary: Summary) -> None:
        bold, muted = "bold", self._colour("foreground-muted")
        alarm = f"bold {self._colour('error')}"
        texts = (rates_text(summary, bold, muted), reviewers_text(summary, bold, muted),
                 refused_text(summary, alarm, muted))
        for (panel_id, _), text in zip(FACTS, texts, strict=True):
            self.query_one(f"#{panel_id}", Static).update(text)
        refused = summary.totals.refused
        self.query_one("#report-refused", Static).border_title = (
            f"Refused by the merge gate ({refused})" if refused else "Refused by the merge gate")

    def _update_rows(self, rows: list[RowSpec]) -> None:
        """Same rows in the same order: change only the cells that differ."""
        table = self.query_one(DataTable)
        for old, new in zip(self._rows, rows, strict=True):
            if old == new:
                continue
            for (_, column), old_cell, new_cell in zip(COLUMNS, self._cells(old),
                                                        self._cells(new), strict=True):
                if old_cell != new_cell:
                    table.update_cell(new.key, column, new_cell)
        self._rows = rows

    def _fill(self, rows: list[RowSpec]) -> None:
        """Fill the table in one go and keep the highlighted row where it can be kept."""
        table = self.query_one(DataTable)
        keep, old_row = self._cursor_key, table.cursor_row
        with self.app.batch_update():
            table.clear()
            for row in rows:
                table.add_row(*self._cells(row), key=row.key)
        self._rows = rows
        self._index = {row.key: i for i, row in enumerate(rows)}
        target = self._index.get(keep) if keep is not None else None
        if target is None:
            target = self._failure_near(max(0, min(old_row, len(rows) - 1)))
        if rows:
            table.move_cursor(row=target)
            self._cursor_key = rows[target].key

    def _failure_near(self, index: int) -> int:
        """``index`` or the first failure row after it (else before it)."""
        for step in (1, -1):
            i = index
            while 0 <= i < len(self._rows):
                if self._rows[i].failure is not None:
                    return i
                i += step
        return index

    @on(DataTable.RowHighlighted, "#report-failures")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._cursor_key = event.row_key.value
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#report-detail", Static)
        row = self._current_row()
        if row is None:
            detail.update(Text("Nothing to triage." if self.data is not None else ""))
        elif row.failure is None:
            detail.update(self._bin_detail(row))
        else:
            detail.update(self._failure_detail(row.failure))

    def _bin_detail(self, row: RowSpec) -> Text:
        return Text.assemble(
            (" · ".join(row.cells[:3]), f"bold {self._colour('error')}"), "\n",
            f"{row.cells[3]}", "\n\n",
            ("j/k or ↑/↓ move to its failures.", self._colour("foreground-muted")))

    def _failure_detail(self, failure: Failure) -> Table:
        info = self.data.failures.get(failure.key) if self.data else None
        detail = info.detail if info else {}
        mark = self.marks.get(failure.key)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        when = info.started if info else None
        started = self.ctx.clock_text(when, "%Y-%m-%d %H:%M:%S")
        for label, value in (
            ("run", failure.run_id), ("node", failure.node), ("agent", failure.agent),
            ("error", failure.error_kind), ("message", detail.get("message")),
            ("hint", detail.get("hint")), ("attempts", detail.get("attempts")),
            ("flow", detail.get("flow")), ("job", detail.get("job_id")),
            ("night", detail.get("night_id")),
            ("started", f"{started} ({self.ctx.ago(when)} ago)" if when else None),
            ("finished", self.ctx.clock_text(_timestamp(detail.get("finished_at")),
                                             "%Y-%m-%d %H:%M:%S")),
            ("mark", self._mark_text(mark)), ("folder", failure.path),
        ):
            if value is not None and value != "-":
                grid.add_row(label, value if isinstance(value, Text) else Text(str(value)))
        return grid

    def _mark_text(self, mark: TriageMark | None) -> Text:
        name = mark.mark if mark else "open"
        text = Text(name, style=self._colour(MARK_COLOURS[name]))
        if mark is not None:
            job = f" (job {mark.job_id})" if mark.job_id is not None else ""
            text.append(f"{job} at {self.ctx.clock_text(mark.at, '%m-%d %H:%M')}")
        return text

    # --- what tests and the actions read ------------------------------------------------

    def _current_row(self) -> RowSpec | None:
        index = self._index.get(self._cursor_key) if self._cursor_key is not None else None
        return self._rows[index] if index is not None else None

    @property
    def highlighted(self) -> Failure | None:
        """The failure under the cursor (None on a bin header or an empty table)."""
        row = self._current_row()
        return row.failure if row is not None else None

    def shown_failures(self) -> dict[str, str]:
        """Failure key -> mark, of the rows the table shows."""
        return {row.key: row.mark for row in self._rows if row.failure is not None}

    def shown_bins(self) -> list[str]:
        """The bins the table shows, top to bottom, as ``agent · node · error_kind · count``."""
        return [" · ".join((*row.cells[:3], row.cells[3].split(" · ")[0]))
                for row in self._rows if row.failure is None]

    def focus_failure(self, key: str) -> None:
        """Put the cursor on failure ``key`` (when shown)."""
        index = self._index.get(key)
        if index is not None:
            self.query_one(DataTable).move_cursor(row=index)
            self._cursor_key = key
            self._show_detail()

    # --- actions -------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        """Move to the next failure up or down, stepping over bin headers."""
        if not self._rows:
            return
        table = self.query_one(DataTable)
        index = table.cursor_row + step
        while 0 <= index < len(self._rows) and self._rows[index].failure is None:
            index += step
        if 0 <= index < len(self._rows):
            table.move_cursor(row=index)

    def _need_failure(self) -> Failure | None:
        failure = self.highlighted
        if failure is None:
            self.notify("Move to a failure first.", severity="warning")
        return failure

    def action_open(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self.app.push_screen(ArtifactViewer(self.ctx.artifacts, failure.run_id,
                                                failure.node))

    def action_mark(self, mark: str) -> None:
        failure = self._need_failure()
        if failure is None or mark not in MARKS:
            return
        if mark_of(self.marks, failure.key) == mark:
            self.notify(f"{failure.key} is {mark} already.", markup=False)
            return
        self._write_mark(self.ctx.artifacts, self.ctx.clock, failure, cast(Mark, mark))

    def action_requeue(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self._requeue(self.ctx.artifacts, self.ctx.clock, failure)

    def action_fix(self) -> None:
        """Open the failure's document in $EDITOR; a fix that passes its check becomes data."""
        failure = self._need_failure()
        if failure is not None:
            self._prepare_fix(self.ctx.artifacts, failure)

    def action_copy_path(self) -> None:
        failure = self._need_failure()
        if failure is not None:
            self.room.copy_path(str((self.ctx.artifacts / failure.path).absolute()))

    def action_toggle_done(self) -> None:
        self.hide_done = not self.hide_done
        self._redraw()

    def action_reload(self) -> None:
        self.reload()

    def has_curves(self) -> bool:
        """Whether the last read found a learning curve (or a broken curve file)."""
        summary = self.data.summary if self.data is not None else None
        return summary is not None and bool(summary.curves or summary.curve_problems)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the curves key shows in the footer only once there is a curve to look at
        return self.has_curves() if action == "curves" else True

    @on(Loaded)
    def _curves_known(self, message: Loaded) -> None:
        self.refresh_bindings()

    def action_curves(self) -> None:
        from pantheon_tui.screens.curves import CurvesScreen  # it borrows resolve_colour

        self.app.push_screen(CurvesScreen(self.ctx.artifacts, poll_s=self.ctx.poll_s))

    # --- writes (thread workers; results come back as messages) -------------------------

    @work(thread=True, group="report-write", exit_on_error=False)
    def _write_mark(self, artifacts: Path, clock: Callable[[], float], failure: Failure,
                    mark: Mark) -> None:
        with self._write_lock:
            try:
                record = TriageLog(artifacts, clock=clock).mark(failure.run_id, failure.node,
                                                                mark)
            except OSError as exc:
                self.post_message(self.ActionFailed(f"{failure.key}: mark not written: {exc}"))
                return
            self.post_message(self.Marked(record))

    @work(thread=True, group="report-write", exit_on_error=False)
    def _requeue(self, artifacts: Path, clock: Callable[[], float], failure: Failure) -> None:
        """Requeue the failure's run, then mark it ``requeued`` with the job id."""
        with self._write_lock:
            self._requeue_locked(artifacts, clock, failure)

    def _requeue_locked(self, artifacts: Path, clock: Callable[[], float],
                        failure: Failure) -> None:
        try:
            job = requeue_run(artifacts, failure.run_id)
        except PantheonError as exc:
            self.post_message(self.ActionFailed(exc.message, exc.hint))
            return
        except (OSError, sqlite3.Error) as exc:
            self.post_message(self.ActionFailed(f"{failure.run_id}: requeue failed: {exc}"))
            return
        try:
            record = TriageLog(artifacts, clock=clock).mark(
                failure.run_id, failure.node, "requeued", job_id=job.id)
        except OSError as exc:
            self.post_message(self.ActionFailed(
                f"job {job.id} queued again, but the mark was not written: {exc}"))
            return
        self.post_message(self.Marked(record, note=f"{failure.key}: job {job.id} queued again"))

    @work(thread=True, group="report-fix", exit_on_error=False)
    def _prepare_fix(self, artifacts: Path, failure: Failure) -> None:
        from pantheon_engine.specialize.fixes import prepare_fix

        try:
            target = prepare_fix(artifacts, failure.run_id, failure.node)
        except PantheonError as exc:
            self.post_message(self.ActionFailed(exc.message, exc.hint))
        except OSError as exc:
            self.post_message(self.ActionFailed(f"{failure.key}: cannot prepare a fix: {exc}"))
        else:
            self.post_message(self.FixReady(target))

    @on(FixReady)
    def _edit_fix(self, message: FixReady) -> None:
        """Hand the terminal to the editor (the room waits), then grade the file."""
        from pantheon_engine.specialize.fixes import editor_command

        target = message.target
        command = editor_command(target.file)
        try:
            try:
                with self.app.suspend():
                    code = subprocess.run(command, check=False).returncode
            except SuspendNotSupported:
                if not self.app.is_headless:  # no terminal to hand over (a browser)
                    self.notify(f"Edit {target.file} yourself, then run: pantheon fix "
                                f"{target.run_id} --no-edit", title="fix", markup=False)
                    return
                code = subprocess.run(command, check=False, stdin=subprocess.DEVNULL,
                                      capture_output=True).returncode
        except OSError as exc:
            self.notify(f"cannot start the editor {command[0]!r}: {exc}\nhint: set $VISUAL "
                        "or $EDITOR", title="fix", severity="error", markup=False)
            return
        if code != 0:
            self.notify(f"the editor exited with status {code}: nothing was checked; the "
                        f"file is kept at {target.file}", title="fix", severity="warning",
                        markup=False)
            return
        self._check_fix(self.ctx.artifacts, self.ctx.clock, target)

    @work(thread=True, group="report-write", exit_on_error=False)
    def _check_fix(self, artifacts: Path, clock: Callable[[], float],
                   target: FixTarget) -> None:
        from pantheon_engine.specialize.fixes import apply_fix_blocking

        with self._write_lock:
            try:
                result = apply_fix_blocking(artifacts, target, clock=clock)
            except PantheonError as exc:
                self.post_message(self.ActionFailed(exc.message, exc.hint))
                return
            except OSError as exc:
                self.post_message(self.ActionFailed(f"{target.run_id}: fix not checked: {exc}"))
                return
        self.post_message(self.Fixed(result))

    @on(Fixed)
    def _fixed(self, message: Fixed) -> None:
        result = message.result
        self.notify(result.render(), title="fix",
                    severity="information" if result.recorded else "warning", markup=False)
        if result.recorded:
            self.reload()  # the engine marked the failure triaged

    @on(Marked)
    def _marked(self, message: Marked) -> None:
        self._version += 1
        self._written.append((self._version, message.record))
        self._apply_mark(message.record)
        self._redraw()
        if message.note:
            self.notify(message.note, title="requeued", markup=False)

    def _apply_mark(self, record: TriageMark) -> None:
        if record.mark == "open":
            self.marks.pop(record.key, None)
        else:
            self.marks[record.key] = record

    @on(ActionFailed)
    def _action_failed(self, message: ActionFailed) -> None:
        text = f"{message.text}\nhint: {message.hint}" if message.hint else message.text
        self.notify(text, title="report", severity="error", markup=False)
