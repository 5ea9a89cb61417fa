"""The Report screen: what the night merged, and its red bins, triaged from the keyboard.

Above the table, three panels show the report's honest numbers as the engine's summary
has them (nothing is computed here): each agent's pass rate from its checks with the
95 % interval, the reviewers' canary record and the summary's κ (the one figure the
summary line shows too), and the merges the gate refused with the gate's reason.

The table starts with the changes the night merged (each change's title; its diff shows
in the side pane, ``enter`` opens the node that wrote it), then the red bins: each
failure with its run id whole on a line of its own (never cut: it can be copied), its
document or spec title under it, and its error. The columns are fitted to the window:
the first is as wide as the longest run id, the error column takes the rest.

Everything on disk is read in one thread worker (:func:`load_report`: the summary, the
failure bins, each failure's detail and the triage marks) that hands its result back as a
:class:`ReportScreen.Loaded` message; the table is filled from it on the event loop. Marks
and requeues are written in thread workers too and come back as messages, so a slow disk or
a busy queue file never stalls the keyboard. Nothing here reads the wall clock for what it
draws: times go through the room's clock and time zone, so snapshots are stable.

This module holds the screen: loading, drawing and moving. What it shows as plain data is
:mod:`pantheon_tui.screens.report_data`, the fact panels' text
:mod:`pantheon_tui.widgets.report_facts`, and the actions on a failure with their writes
:class:`pantheon_tui.screens.report_triage.TriageScreen`, its base.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from pantheon_engine.night.report_text import change_text, diff_note, title_text
from pantheon_engine.night.summary_model import PullRequest, Summary
from pantheon_engine.night.triage import Failure, TriageMark
from pantheon_tui.screens.curves import CurvesScreen
from pantheon_tui.screens.report_data import (
    COLUMNS,
    HEADS,
    NARROW_COLUMNS,
    ReportData,
    RowSpec,
    build_rows,
    load_report,
    summary_line,
    timestamp_of,
)
from pantheon_tui.screens.report_triage import TriageScreen
from pantheon_tui.screens.viewer import ArtifactViewer
from pantheon_tui.themes import resolve_colour
from pantheon_tui.widgets.report_facts import rates_text, refused_text, reviewers_text

MARK_COLOURS = {  # theme variables
    "open": "warning",
    "triaged": "success",
    "requeued": "primary",
    "ignored": "foreground-muted",
}
# A reload of a big folder costs CPU the event loop shares (the GIL): the next one waits
# at least this many times as long as the last one took.
POLL_BACKOFF = 5.0

MARK_WIDTH = 10  # "2 · 1 open", "requeued"
DETAIL_MIN = 16  # the error column never gets narrower than this
WHAT_MIN = 24  # nor the run · document column (it grows to the longest run id)
ERROR_LINES = 3  # a failure's error is cut after this many lines (the side pane has it all)
SHORT_HEIGHT = 32  # a window fewer lines high keeps the fact panels to a few lines

FACTS = (  # panel id, title
    ("report-rates", "Pass rate from checks"),
    ("report-reviewers", "Reviewers"),
    ("report-refused", "Refused by the merge gate"),
)


# --------------------------------------------------------------------------- screen


class FittedTable(DataTable[Text]):
    """The report's table; it says when its size changed, so its columns are fitted again."""

    class Resized(Message):
        """The table changed size."""

    def on_resize(self, _event: events.Resize) -> None:
        self.post_message(self.Resized())



class ReportScreen(TriageScreen):
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
    ReportScreen.-short #report-facts, ReportScreen.-short .report-fact { max-height: 6; }
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

    def __init__(self) -> None:
        super().__init__()
        self.data: ReportData | None = None
        self.hide_done = False
        self.loads = 0  # how many reads have been applied
        self._rows: list[RowSpec] = []
        self._index: dict[str, int] = {}
        self._cursor_key: str | None = None
        self._colours: dict[str, str] | None = None
        self._loaded = asyncio.Event()
        self._poll_timer: Timer | None = None
        self._widths: tuple[int, ...] | None = None  # the columns' widths now

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the artifacts folder …", id="report-summary", markup=False)
        with Horizontal(id="report-facts"):
            for panel_id, title in FACTS:
                panel = Static("", id=panel_id, classes="report-fact", markup=False)
                panel.border_title = title
                yield panel
        with Horizontal(id="report-body"):
            yield FittedTable(id="report-failures", cursor_type="row",
                              cursor_foreground_priority="renderable")
            with VerticalScroll(id="report-side"):
                yield Static("", id="report-detail")
        yield Footer()

    def on_mount(self) -> None:
        self._set_columns(self._fitted_widths())
        self.query_one(DataTable).loading = True
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_resize(self, event: events.Resize) -> None:
        # a short window keeps the panels small, so the table has the most lines
        self.set_class(event.size.height < SHORT_HEIGHT, "-short")

    def on_screen_resume(self) -> None:
        # RoomScreen's handler runs too (Textual calls each class's handler): no super().
        self.reload()

    @on(FittedTable.Resized)
    def _table_resized(self) -> None:
        self._fit_columns()

    # --- columns ------------------------------------------------------------------------

    def _fitted_widths(self, rows: list[RowSpec] | None = None) -> tuple[int, ...]:
        """The columns' widths for the table's width now. The first fits the longest run
        id whole (and grows for documents while the error keeps two minimum widths), the
        mark its words, the error the rest. Where the error would get less than
        :data:`DETAIL_MIN`, two columns: the error goes under the run id and document."""
        table = self.query_one(DataTable)
        rows = self._rows if rows is None else rows
        room = table.scrollable_content_region.width
        ids = [len(row.failure.run_id) for row in rows if row.failure is not None]
        longest_id = max([WHAT_MIN, *ids])
        firsts = [len(line) for row in rows if row.kind in ("failure", "merged")
                  for line in row.cells[0].split("\n")]
        three = room - 2 * table.cell_padding * 3 - MARK_WIDTH
        top = max(longest_id, three - 2 * DETAIL_MIN)
        what = min(max([longest_id, *firsts]), top)
        if three - what >= DETAIL_MIN:
            return what, MARK_WIDTH, three - what
        return max(longest_id, room - 2 * table.cell_padding * 2 - MARK_WIDTH), MARK_WIDTH

    def _columns(self) -> tuple[tuple[str, str], ...]:
        """The columns shown: three, or in a narrow window two (see :meth:`_fitted_widths`)."""
        if self._widths is not None and len(self._widths) == 2:
            return NARROW_COLUMNS
        return COLUMNS

    def _set_columns(self, widths: tuple[int, ...]) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        self._widths = widths
        for (label, key), width in zip(self._columns(), widths, strict=True):
            table.add_column(label, key=key, width=width)
        self._rows = []  # the rows are laid out for the old widths: draw them again

    def _fit_columns(self) -> None:
        """Fit the columns to the window again (after a resize)."""
        if self._fitted_widths() != self._widths:
            self._redraw()

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
        """The row's cells for the columns shown (three, or two in a narrow window)."""
        muted = self._colour("foreground-muted")
        narrow = len(self._columns()) == 2
        what, mark, detail = row.cells
        if row.kind in HEADS:
            colour = self._colour("success" if row.kind == "merged-head" else "error")
            style = f"bold {colour}"
            if narrow:
                return Text(f"{what} · {detail}", style=style), Text(mark, style=style)
            return tuple(Text(cell, style=style) for cell in row.cells)
        if row.kind == "merged":
            title, stat = Text(what), Text(detail, style=muted)
            merged = Text(mark, style=self._colour("success"))
            return (title, merged) if narrow else (title, merged, stat)
        run_id, _, document = what.partition("\n")
        width = (self._widths or (DETAIL_MIN,))[-1 if not narrow else 0]
        limit = (width - 2) * 2 if narrow else width * ERROR_LINES
        error = detail if len(detail) <= limit else detail[: limit - 1] + "…"
        first = Text.assemble(run_id, "\n", (document, muted))
        marked = Text(mark, style=self._colour(MARK_COLOURS.get(mark, "foreground")))
        if narrow:
            return Text.assemble(first, "\n  ", error), marked
        return first, marked, Text(error)

    def _redraw(self) -> None:
        """Show the current data and marks: the summary line, the table, the detail."""
        if self.data is None:
            return
        self.query_one("#report-summary", Static).update(summary_line(
            self.data, self.marks, hide_done=self.hide_done,
            read_at=self.ctx.clock_text(self.ctx.clock())))
        self._show_facts(self.data.summary)
        rows = build_rows(self.data, self.marks, hide_done=self.hide_done)
        table = self.query_one(DataTable)
        if 0 <= table.cursor_row < len(self._rows):  # where the cursor is now, even when
            self._cursor_key = self._rows[table.cursor_row].key  # its message is on its way
        widths = self._fitted_widths(rows)
        if widths != self._widths:  # a longer run id came, or the window changed
            self._set_columns(widths)
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
            for (_, column), old_cell, new_cell in zip(self._columns(), self._cells(old),
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
                # a failure's rows fit their text: its run id over its document, its error
                cells = self._cells(row)
                table.add_row(*cells, key=row.key,
                              height=None if row.kind in ("failure", "bin") else 1)
        self._rows = rows
        self._index = {row.key: i for i, row in enumerate(rows)}
        target = self._index.get(keep) if keep is not None else None
        if target is None:
            target = self._stop_near(max(0, min(old_row, len(rows) - 1)))
        if rows:
            table.move_cursor(row=target)
            self._cursor_key = rows[target].key

    def _stop_near(self, index: int) -> int:
        """``index`` or the first failure row after it (else before it); with no failure,
        the first merged change."""
        for step in (1, -1):
            i = index
            while 0 <= i < len(self._rows):
                if self._rows[i].failure is not None:
                    return i
                i += step
        return next((i for i, row in enumerate(self._rows) if row.kind not in HEADS), index)

    @on(DataTable.RowHighlighted, "#report-failures")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # posted before the table was filled again or the cursor moved on
        self._cursor_key = event.row_key.value
        self._show_detail()

    def _show_detail(self) -> None:
        detail = self.query_one("#report-detail", Static)
        row = self._current_row()
        if row is None:
            detail.update(Text("Nothing merged, nothing to triage." if self.data is not None
                               else ""))
        elif row.change is not None:
            detail.update(self._change_detail(row.change))
        elif row.failure is None:
            detail.update(self._head_detail(row))
        else:
            detail.update(self._failure_detail(row.failure))

    def _head_detail(self, row: RowSpec) -> Text:
        if row.kind == "merged-head":
            return Text.assemble(
                (f"The night merged {row.cells[2]}.", f"bold {self._colour('success')}"),
                "\n\n", ("j/k or ↑/↓ move to each change and its diff.",
                          self._colour("foreground-muted")))
        return Text.assemble(
            (f"{row.cells[0]} · {row.cells[2]}", f"bold {self._colour('error')}"), "\n",
            f"{row.cells[1]}", "\n\n",
            ("j/k or ↑/↓ move to its failures.", self._colour("foreground-muted")))

    def _change_detail(self, pr: PullRequest) -> Table:
        """A merged change: what it was about, where it is, and its diff."""
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in (
            ("title", title_text(pr.title)), ("run", pr.run_id), ("flow", pr.flow),
            ("branch", pr.branch), ("commit", pr.commit[:12] if pr.commit else None),
            ("change", change_text(pr)), ("diff", pr.diff_source),
        ):
            if value is not None:
                grid.add_row(label, Text(value))
        body = Table.grid()
        body.add_column(overflow="fold")
        body.add_row(grid)
        body.add_row(Text(""))
        body.add_row(self._diff_text(pr))
        return body

    def _diff_text(self, pr: PullRequest) -> Text:
        added, removed = self._colour("success"), self._colour("error")
        muted = self._colour("foreground-muted")
        text = Text()
        for line in (pr.diff or "").rstrip("\n").split("\n") if pr.diff else []:
            style = ""
            if line.startswith("+") and not line.startswith("+++"):
                style = added
            elif line.startswith("-") and not line.startswith("---"):
                style = removed
            elif line.startswith("@@"):
                style = muted
            text.append(line + "\n", style=style)
        note = diff_note(pr)
        if note is not None:
            text.append(note, style=f"italic {muted}")
        return text

    def _failure_detail(self, failure: Failure) -> Table:
        info = self.data.failures.get(failure.key) if self.data else None
        detail = info.detail if info else {}
        mark = self.marks.get(failure.key)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        when = info.started if info else None
        started = self.ctx.clock_text(when, "%Y-%m-%d %H:%M:%S")
        red = info.red if info else None
        for label, value in (
            ("run", failure.run_id), ("document", title_text(red.title if red else None)),
            ("node", failure.node), ("agent", failure.agent),
            ("error", failure.error_kind), ("message", detail.get("message")),
            ("hint", detail.get("hint")), ("attempts", detail.get("attempts")),
            ("flow", detail.get("flow")), ("job", detail.get("job_id")),
            ("night", detail.get("night_id")),
            ("started", f"{started} ({self.ctx.ago(when)} ago)" if when else None),
            ("finished", self.ctx.clock_text(timestamp_of(detail.get("finished_at")),
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
        return [f"{row.cells[0]} · {row.cells[2]} · {row.cells[1].split(' · ')[0]}"
                for row in self._rows if row.kind == "bin"]

    def shown_merged(self) -> list[str]:
        """The merged changes the table shows, top to bottom, as ``run_id: title``."""
        return [f"{row.change.run_id}: {row.cells[0]}" for row in self._rows
                if row.change is not None]

    @property
    def highlighted_change(self) -> PullRequest | None:
        """The merged change under the cursor (None elsewhere)."""
        row = self._current_row()
        return row.change if row is not None else None

    def focus_failure(self, key: str) -> None:
        """Put the cursor on failure ``key`` (when shown)."""
        index = self._index.get(key)
        if index is not None:
            self.query_one(DataTable).move_cursor(row=index)
            self._cursor_key = key
            self._show_detail()

    # --- actions -------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        """Move to the next merged change or failure up or down, stepping over headers."""
        if not self._rows:
            return
        table = self.query_one(DataTable)
        index = table.cursor_row + step
        while 0 <= index < len(self._rows) and self._rows[index].kind in HEADS:
            index += step
        if 0 <= index < len(self._rows):
            table.move_cursor(row=index)

    def _change_node(self, pr: PullRequest) -> str | None:
        """The node folder whose diff.patch the change was read from (None: from git)."""
        parts = (pr.diff_source or "").split("/")
        return parts[2] if len(parts) == 4 and parts[0] == "runs" else None

    def action_open(self) -> None:
        """A merged change: the files of the node that wrote it; a failure: its node's."""
        pr = self.highlighted_change
        if pr is None:
            super().action_open()
            return
        node = self._change_node(pr)
        if node is None:
            self.notify(f"{pr.run_id}: no node wrote its diff ({pr.diff_source or 'none'})",
                        severity="warning", markup=False)
            return
        self.app.push_screen(ArtifactViewer(self.ctx.artifacts, pr.run_id, node))

    def action_copy_path(self) -> None:
        """A merged change: its diff.patch; a failure: its node's folder."""
        pr = self.highlighted_change
        if pr is None:
            super().action_copy_path()
        elif self._change_node(pr) is not None and pr.diff_source:
            self.room.copy_path(str((self.ctx.artifacts / pr.diff_source).absolute()))
        else:
            self.room.copy_path(pr.run_id)

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
        self.app.push_screen(CurvesScreen(self.ctx.artifacts, poll_s=self.ctx.poll_s))
