"""The Night screen: the newest night's numbers, live from its ``metrics.jsonl``.

A thread worker (:func:`pantheon_tui.watch.follow`) reads the file as ``pantheon night``
appends to it and posts :class:`~pantheon_tui.watch.NightMetrics` messages; the screen
only collects them and applies what it collected at most ten times a second
(:data:`FLUSH_S`), so a burst of thousands of lines costs a repaint or two.

The header names the night, says when it ended once ``pantheon night`` has written
``finished_at`` to its ``night.json`` (first, so it shows on a narrow terminal), and with
no night yet, what to run first (``pantheon demo``, then ``pantheon night``). A night on
several model servers adds how many are up (and which are down) at the newest sample.

The κ panel reads ``undefined`` when the newest sample carries ``kappa`` as null (the two
reviewers gave every item the same verdict: κ is 0/0), and ``-`` when the field is absent;
its second line adds the canaries' false-pass rate when the sample has
``canary_false_pass_rate``.

Each panel keeps the last ``[tui] sample_window`` samples of its field (720 by default: an
hour of five-second samples) and draws all of them, bucketed to the chart's width (see
:mod:`pantheon_tui.widgets.trend`), not just the newest few.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.timer import Timer
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState, get_current_worker

from pantheon_engine.agents.builtins import KAPPA_THRESHOLD
from pantheon_engine.night.capacity import DEFAULT_MAX_RHO
from pantheon_engine.night.summary_read import endpoint_rows
from pantheon_tui.screens.base import RoomScreen
from pantheon_tui.watch import MetricsUpdate, NightFollower, NightMetrics, follow
from pantheon_tui.widgets.trend import Aggregate, Bad, Trend, TrendData, format_number

__all__ = ["FLUSH_S", "PANELS", "RHO_LIMIT", "NightScreen", "NullReads", "Panel", "number"]

FLUSH_S = 0.1  # collected records are applied at most this often
HEADER_S = 1.0  # "last sample 12s ago" is rewritten this often
RHO_LIMIT = DEFAULT_MAX_RHO  # ρ above this: queues grow faster than they drain


# --- numbers and how they read -----------------------------------------------------------


def number(value: object) -> float | None:
    """A finite number from a metrics field, or None (missing, text, bool, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def _fixed2(value: float) -> str:
    return f"{value:.2f}"


def _per_s(value: float) -> str:
    return f"{value:,.0f} tok/s"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def duration(seconds: float) -> str:
    """``4.2s``, ``38s``, ``1m30s``, ``2h05m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _field(record: Mapping[str, Any], name: str,
           fmt: Callable[[float], str] = format_number) -> str:
    value = number(record.get(name))
    return "-" if value is None else fmt(value)


def _no_detail(_record: Mapping[str, Any]) -> str:
    return ""


def _kappa_detail(record: Mapping[str, Any]) -> str:
    """Pairs and the gate; with canaries, their false-pass rate (FP) too (fits a panel)."""
    pairs = _field(record, "review_pairs")
    false_pass = number(record.get("canary_false_pass_rate"))
    if false_pass is None:
        return f"{pairs} pairs  gate {KAPPA_THRESHOLD}"
    return f"{pairs} pairs gate {KAPPA_THRESHOLD} FP {false_pass * 100:.0f}%"


@dataclass(frozen=True)
class NullReads(TrendData):
    """Trend data whose missing value is a value that was written as null and means
    something (κ undefined), not a sample that lacks the field."""

    null_text: str = "undefined"

    def text(self, value: float | None) -> str:
        return self.null_text if value is None else super().text(value)


# --- the panels --------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One panel: the field it charts, how its value reads, its threshold, a second fact."""

    key: str
    title: str
    field: str
    fmt: Callable[[float], str] = format_number
    threshold: float | None = None
    bad: Bad | None = None
    aggregate: Aggregate = "mean"
    detail: Callable[[Mapping[str, Any]], str] = _no_detail
    null_text: str | None = None  # how a field written as null reads (None: like absent)


PANELS: tuple[Panel, ...] = (
    Panel("batch", "Batch size", "batch_size",
          detail=lambda r: f"avg {_field(r, 'avg_batch_size')}"),
    Panel("tokens", "Tokens/s", "tokens_per_s", fmt=_per_s),
    Panel("rho", "ρ load", "rho", fmt=_fixed2, threshold=RHO_LIMIT, bad="above",
          aggregate="max",
          detail=lambda r: (f"λ {_field(r, 'lambda_per_h')}/h  μ {_field(r, 'mu_per_h')}/h"
                            f"  c {_field(r, 'c')}")),
    Panel("kappa", "κ review", "kappa", fmt=_fixed2, threshold=KAPPA_THRESHOLD,
          bad="below", aggregate="min", detail=_kappa_detail, null_text="undefined"),
    Panel("queue", "Queue depth", "queue_depth",
          detail=lambda r: f"running {_field(r, 'running')}"),
    Panel("done", "Done/failed", "done", detail=lambda r: f"failed {_field(r, 'failed')}"),
    Panel("waits", "Wait (mean)", "observed_mean_wait_s", fmt=duration,
          detail=lambda r: (f"p95 {_field(r, 'observed_p95_wait_s', duration)}"
                            f"  Erlang-C {_field(r, 'erlang_mean_wait_s', duration)}")),
    Panel("schema", "Schema errors", "schema_error_rate", fmt=_percent,
          detail=lambda r: f"P(wait) {_field(r, 'p_wait', _fixed2)}"),
)


def _empty(panel: Panel) -> TrendData:
    return TrendData(panel.title, fmt=panel.fmt, threshold=panel.threshold, bad=panel.bad,
                     aggregate=panel.aggregate)


@dataclass
class _Pending:
    """Updates collected since the last flush, merged."""

    records: deque[dict[str, Any]]
    count: int = 0
    reset: bool = False
    last: MetricsUpdate | None = None

    def add(self, update: MetricsUpdate) -> None:
        if update.reset:
            self.records.clear()
            self.count = 0
            self.reset = True
        self.records.extend(update.records)
        self.count += update.count
        self.last = update


# --- the screen ----------------------------------------------------------------------------


class NightScreen(RoomScreen):
    """Panels for the newest night (or one chosen with ``[`` and ``]``), updated live."""

    SCREEN_NAME = "night"
    TITLE = "Night"
    BINDINGS = [
        Binding("f", "follow_latest", "Newest night", id="night.latest"),
        Binding("left_square_bracket", "step_night(-1)", "Earlier night", id="night.previous"),
        Binding("right_square_bracket", "step_night(1)", "Later night", id="night.next"),
    ]

    DEFAULT_CSS = """
    NightScreen #night-header {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    NightScreen #night-grid {
        grid-size: 4 2;
        grid-gutter: 0 1;
        padding: 0 1;
        height: 1fr;
    }
    """

    def __init__(self, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.night: Path | None = None  # the night shown
        self.latest: dict[str, Any] | None = None  # its newest sample
        self.samples = 0  # samples read from its file
        self.skipped = 0  # lines of its file that were not JSON objects
        self.pinned = False  # True: chosen with [ ], not following the newest night
        self.ended_at: float | None = None  # when the night shown ended (None: it runs)
        self.flushes = 0  # times collected records were applied (the repaints they cost)
        self.series: dict[str, deque[float | None]] = {}
        self._window = 720
        self._pending = _Pending(deque())
        self._flush_timer: Timer | None = None
        self._follower: NightFollower | None = None
        self._stop = threading.Event()
        self.follower_stopped = threading.Event()  # set when the follower thread has returned
        self._settled = asyncio.Event()

    # --- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Looking for nights…"), id="night-header")
        with Grid(id="night-grid"):
            for panel in PANELS:
                yield Trend(_empty(panel), id=f"panel-{panel.key}")
        yield Footer()

    def on_mount(self) -> None:
        self._window = self.ctx.settings.sample_window
        self.series = {p.field: deque(maxlen=self._window) for p in PANELS}
        self._pending = _Pending(deque(maxlen=self._window))
        self._follower = NightFollower(self.ctx.artifacts, keep=self._window)
        self.set_interval(HEADER_S, self._show_header)
        self._follow(self._follower, self.ctx.watch)

    def on_unmount(self) -> None:
        self._stop.set()  # the follower thread returns within a second

    def panel(self, key: str) -> Trend:
        """The panel with :attr:`Panel.key` ``key`` (``tokens``, ``rho``, …)."""
        return self.query_one(f"#panel-{key}", Trend)

    # --- reading (threads) ---------------------------------------------------------------

    @work(thread=True, exclusive=True, group="night-follow", exit_on_error=False,
          description="follow the night's metrics.jsonl")
    def _follow(self, follower: NightFollower, watch: bool) -> None:
        worker = get_current_worker()
        try:
            follow(follower, self._emit, self._stop, watch=watch,
                   cancelled=lambda: worker.is_cancelled)
        finally:
            self.follower_stopped.set()

    @work(thread=True, group="night-look", exit_on_error=False)
    def _look(self, change: Callable[[NightFollower], object] | None = None) -> None:
        if self._follower is None:
            return
        if change is not None:
            change(self._follower)
        self._follower.poll(self._emit)

    def _emit(self, update: MetricsUpdate) -> None:
        """Called in a reader thread: hand the update to the UI thread as a message."""
        try:
            self.post_message(NightMetrics(update))
        except RuntimeError:  # the app's event loop is gone
            self._stop.set()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group.startswith("night-"):
            self.notify(f"reading the night's metrics failed: {event.worker.error}",
                        title="night", severity="error", timeout=10)

    def check_now(self) -> None:
        """Look at the metrics file now (in a thread) instead of waiting for the watcher."""
        self._look()

    # --- applying (UI thread) ------------------------------------------------------------

    def on_night_metrics(self, message: NightMetrics) -> None:
        self._pending.add(message.update)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_S, self.flush)

    def flush(self) -> None:
        """Apply the records collected since the last flush and redraw once."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        pending, self._pending = self._pending, _Pending(deque(maxlen=self._window))
        update = pending.last
        if update is None:
            return
        if pending.reset:
            for values in self.series.values():
                values.clear()
            self.samples = 0
            self.latest = None
        self.night, self.skipped, self.pinned = update.night, update.skipped, update.pinned
        self.ended_at = update.ended_at
        for record in pending.records:
            for name, values in self.series.items():
                values.append(number(record.get(name)))
        if pending.records:
            self.latest = pending.records[-1]
        self.samples += pending.count
        self.flushes += 1
        self._settled.set()  # before drawing: the header no longer says it is looking
        self._show()

    async def settled(self, timeout: float = 5.0) -> None:
        """Wait until the first look at the artifacts folder is on screen (for tests)."""
        await asyncio.wait_for(self._settled.wait(), timeout)

    def _show(self) -> None:
        self._show_header()
        latest = self.latest or {}
        for panel in PANELS:
            data = TrendData(
                panel.title, tuple(self.series[panel.field]),
                number(latest.get(panel.field)), panel.fmt,
                panel.detail(latest) if latest else "", panel.threshold, panel.bad,
                panel.aggregate)
            if panel.null_text is not None and panel.field in latest \
                    and latest[panel.field] is None:
                data = NullReads(**vars(data), null_text=panel.null_text)
            self.panel(panel.key).data = data

    def _show_header(self) -> None:
        self.query_one("#night-header", Static).update(self.header_text())

    def header_text(self) -> Text:
        """Night id, samples, the age of the newest sample, c, whether it ended and whether
        it is pinned."""
        if not self._settled.is_set() and self.night is None:
            return Text("Looking for nights…")
        if self.night is None:
            return Text.assemble("No night yet: run ", ("pantheon demo", "bold"),
                                 " (example jobs), then ", ("pantheon night", "bold"))
        text = Text.assemble(("Night ", "bold"), (self.night.name, "bold"))
        latest = self.latest or {}
        t = number(latest.get("t"))
        parts: list[str] = []
        if self.ended_at is not None:  # first: it must be in sight on a narrow terminal
            parts.append(f"ended {self.ctx.clock_text(self.ended_at)} "
                         f"({self.ctx.ago(self.ended_at)} ago)")
        parts.append(f"{self.samples} samples")
        if self.latest is None:
            parts[-1] = "no samples yet"
        else:
            parts.append(f"last sample {self.ctx.ago(t)} ago ({self.ctx.clock_text(t)})"
                         if t is not None else "last sample -")
            parts.append(f"c {_field(latest, 'c')}")
            servers = endpoint_rows(latest)
            if servers:  # an engine spreading requests over several model servers
                down = [row.url for row in servers if not row.up]
                parts.append(f"servers {len(servers) - len(down)}/{len(servers)} up"
                             + (f" (down: {', '.join(down)})" if down else ""))
        if self.skipped:
            parts.append(f"{self.skipped} bad lines skipped")
        if self.pinned:
            parts.append("chosen night (f: newest)")
        elif self.ended_at is None:
            parts.append("following the newest")
        text.append("  ·  " + "  ·  ".join(parts))
        return text

    # --- actions -------------------------------------------------------------------------

    def action_follow_latest(self) -> None:
        self._look(lambda follower: follower.pin(None))

    def action_step_night(self, delta: int) -> None:
        self._look(lambda follower: follower.step(delta))
