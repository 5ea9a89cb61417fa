"""What the Report screen shows, as plain data: one read of the artifacts folder and rows.

:func:`load_report` does every blocking read (the summary, the failure bins, each
failure's detail and the triage marks) so the screen can run it in a thread worker;
:func:`build_rows` and :func:`summary_line` turn a read and the current marks into the
table's rows and the summary line. The table starts with what the night merged (each
change's title; its diff shows beside it), then the red bins with each failure's run id,
document and error. They live apart from the screen and are pure functions
of their arguments (the clock comes in as ``clock_text``), so tests check them without an
app and snapshots stay stable.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pantheon_engine.night.report_text import change_text, kappa_figure, title_text
from pantheon_engine.night.summary import build_summary
from pantheon_engine.night.summary_model import PullRequest, RedFailure, Summary
from pantheon_engine.night.triage import (
    Failure,
    FailureBin,
    TriageLog,
    TriageMark,
    failure_bins,
    failure_detail,
)

__all__ = ["BIN_PREFIX", "COLUMNS", "HEADS", "MARKS", "MERGED_KEY", "MERGED_ROWS", "NARROW_COLUMNS",
           "FailureInfo", "ReportData", "RowSpec", "bin_key", "build_rows", "load_report",
           "mark_of", "summary_line", "timestamp_of"]

MARKS = ("open", "triaged", "requeued", "ignored")
# A failure shows its run id (whole, on a line of its own) over its document, its mark and
# its error; a merged change its title, "merged" and its size; a bin header its agent and
# node, its counts and its error kind, in the same three columns.
COLUMNS = (("run · document", "what"), ("mark", "mark"), ("error · change", "detail"))
#: in a window too narrow for the error beside them, it goes under the run and document
NARROW_COLUMNS = (("run · document · error", "what"), ("mark", "mark"))
BIN_PREFIX = "bin:"
MERGED_KEY = "merged"  # the header row of the merged changes; each change: merged:<run_id>
HEADS = ("merged-head", "bin")  # the kinds of header rows (the cursor steps over them)
MERGED_ROWS = 200  # merged changes listed at most (a week of nights merges thousands)


@dataclass(frozen=True)
class FailureInfo:
    """One failure with what the detail pane shows; ``started`` is a unix time;
    ``red`` is the summary's entry for it (its document and error)."""

    failure: Failure
    detail: dict[str, Any]
    started: float | None
    red: RedFailure | None = None


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
    reds = {(f.run_id, red.node): f for red in summary.red_bins for f in red.failures}
    for group in bins:
        for failure in group.failures:
            detail = failure_detail(artifacts, failure)
            failures[failure.key] = FailureInfo(failure, detail, timestamp_of(detail["started_at"]),
                                                reds.get((failure.run_id, failure.node)))
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
    """One table row as plain data: a header (``kind`` ``merged-head`` or ``bin``), a
    merged change (``merged``, with its ``change``) or a failure (``failure``)."""

    key: str
    kind: str
    cells: tuple[str, str, str]  # run · document, mark, error · change (see COLUMNS)
    mark: str  # the mark of a failure row, else the kind
    failure: Failure | None = None
    change: PullRequest | None = None


def bin_key(group: FailureBin) -> str:
    return f"{BIN_PREFIX}{group.agent}|{group.node}|{group.error_kind}"


def _merged_rows(summary: Summary) -> list[RowSpec]:
    """The merged changes, newest last; at most :data:`MERGED_ROWS` of them (the newest)."""
    if not summary.prs:
        return []
    count = len(summary.prs)
    what = f"{count:,} change{'' if count == 1 else 's'}"
    if count > MERGED_ROWS:
        what += f", the newest {MERGED_ROWS} here (pantheon report lists them all)"
    rows = [RowSpec(MERGED_KEY, "merged-head", ("merged", "", what), "merged-head")]
    for pr in summary.prs[-MERGED_ROWS:]:
        rows.append(RowSpec(f"{MERGED_KEY}:{pr.run_id}", "merged",
                            (title_text(pr.title), "merged", change_text(pr)), "merged",
                            change=pr))
    return rows


def build_rows(data: ReportData, marks: dict[str, TriageMark], *,
               hide_done: bool) -> list[RowSpec]:
    """The rows of the table: what merged (a header, then each change), then each red
    bin's header and its failures (open ones only when ``hide_done``); a bin left with
    nothing to show is left out."""
    rows = _merged_rows(data.summary)
    for group in data.bins:
        members = [(f, mark_of(marks, f.key)) for f in group.failures]
        open_count = sum(mark == "open" for _, mark in members)
        shown = [(f, m) for f, m in members if m == "open" or not hide_done]
        if not shown:
            continue
        count = f"{len(members)} · {open_count} open"
        rows.append(RowSpec(bin_key(group), "bin",
                            (f"{group.agent} · {group.node}", count, group.error_kind), "bin"))
        for failure, mark in shown:
            info = data.failures.get(failure.key)
            red = info.red if info else None
            document = title_text(red.title if red else None)
            error = (red.error if red else None) or failure.error_kind
            rows.append(RowSpec(failure.key, "failure",
                                (f"{failure.run_id}\n  {document}", mark, error), mark,
                                failure))
    return rows


def summary_line(data: ReportData, marks: dict[str, TriageMark], *, hide_done: bool,
                 read_at: str) -> str:
    """Runs, ok, failed, the summary's κ, merged changes; then the triage counts."""
    t = data.summary.totals
    parts = [f"{t.runs} runs", f"{t.ok} ok", f"{t.failed} failed"]
    if t.running:
        parts.append(f"{t.running} running")
    parts += [kappa_figure(data.summary.kappa), f"{len(data.summary.prs)} merged"]
    if t.refused:
        parts.append(f"{t.refused} refused")
    counts = Counter(mark_of(marks, key) for key in data.failures)
    triage = [f"{counts[m]} {m}" for m in MARKS if counts[m] or m == "open"]
    if hide_done:
        triage.append("hiding done")
    return " · ".join(parts) + "  │  " + " · ".join(triage) + f"  │  read {read_at}"
