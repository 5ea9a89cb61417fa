"""What the Report screen shows, as plain data: one read of the artifacts folder and rows.

:func:`load_report` does every blocking read (the summary, the failure bins, each
failure's detail and the triage marks) so the screen can run it in a thread worker;
:func:`build_rows` and :func:`summary_line` turn a read and the current marks into the
table's rows and the summary line. They live apart from the screen and are pure functions
of their arguments (the clock comes in as ``clock_text``), so tests check them without an
app and snapshots stay stable.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pantheon_engine.night.report_text import kappa_text
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.summary_model import Summary
from pantheon_engine.night.triage import (
    Failure,
    FailureBin,
    TriageLog,
    TriageMark,
    failure_bins,
    failure_detail,
)

__all__ = ["BIN_PREFIX", "COLUMNS", "MARKS", "STARTED_FORMAT", "FailureInfo", "ReportData",
           "RowSpec", "bin_key", "build_rows", "load_report", "mark_of", "summary_line",
           "timestamp_of"]

MARKS = ("open", "triaged", "requeued", "ignored")
# A bin header shows agent, node, error kind and count in the columns its failures use
# for run, node, started and mark.
COLUMNS = (("bin / run", "what"), ("node", "node"), ("error / started", "started"),
           ("mark", "mark"))
STARTED_FORMAT = "%m-%d %H:%M"
BIN_PREFIX = "bin:"


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
            failures[failure.key] = FailureInfo(failure, detail, timestamp_of(detail["started_at"]))
    marks = TriageLog(artifacts).marks()
    return ReportData(summary, bins, failures, marks, time.perf_counter() - began)


def timestamp_of(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError):
        return None



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
