"""The morning summary in words: the shared text of the Markdown and HTML reports.

Both renderers (:mod:`pantheon_engine.night.report`, :mod:`pantheon_engine.night.report_html`)
and the control room say a pass rate, a κ or the reviewer gate the same way; the wording
lives here once, below both renderers, so neither imports the other for it. Nothing here
escapes: each renderer escapes for its own format.
"""

from __future__ import annotations

import os
from pathlib import Path

from pantheon_engine.night.summary_model import (
    EndpointRow,
    KappaSummary,
    NightStats,
    PassRate,
    PullRequest,
    QueueJobs,
    ReviewerRow,
    Reviewers,
    Summary,
)

__all__ = [
    "ENDPOINT_HEADER",
    "REVIEWER_HEADER",
    "change_text",
    "diff_note",
    "endpoint_cells",
    "gate_text",
    "headline",
    "interval_text",
    "jobs_text",
    "kappa_figure",
    "kappa_text",
    "link_target",
    "night_rows",
    "pass_rate_text",
    "percent",
    "reviewer_cells",
    "reviewer_notes",
    "scope_text",
    "title_text",
]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    """``0.25`` as ``25 %``; ``n/a`` for None."""
    return "n/a" if value is None else f"{value * 100:.0f} %"


def kappa_text(value: float | None, digits: int = 2) -> str:
    """κ for people: ``undefined`` when there is none (no pairs, or no variation in the
    verdicts, where chance agreement is 1 and κ is 0/0), never a made-up 1.0."""
    return "undefined" if value is None else f"{value:.{digits}f}"


def interval_text(rate: PassRate) -> str:
    """``[9 %, 53 %]``: the Wilson 95 % interval of a pass rate (``n/a`` when none)."""
    if rate.low is None or rate.high is None:
        return "n/a"
    return f"[{percent(rate.low)}, {percent(rate.high)}]"


def pass_rate_text(rate: PassRate) -> str:
    """``3/12 passed checks  25 % [9 %, 53 %]`` (and how many runs were not graded)."""
    if rate.graded:
        text = (
            f"{rate.passed}/{rate.graded} passed checks  {percent(rate.rate)} {interval_text(rate)}"
        )
    else:
        text = "no run graded"
    if rate.not_graded:
        text += f"  ({rate.not_graded} not graded)"
    return text


def gate_text(reviewers: Reviewers) -> str | None:
    """The night's reviewer gate in words, or None when the file names none."""
    gate = reviewers.gate
    if gate is None:
        return None
    parts = []
    if gate.false_pass_max is not None:
        parts.append(f"false-pass rate ≤ {percent(gate.false_pass_max)}")
    if gate.kappa_min is not None:
        parts.append(f"κ ≥ {gate.kappa_min:g}")
    if gate.min_canaries is not None:
        parts.append(f"at least {gate.min_canaries} canaries")
    return ", ".join(parts) or None


def kappa_figure(kappa: KappaSummary) -> str:
    """The summary's one κ, as every rendering says it: ``κ 0.42 over 12 review pairs``
    (``κ undefined over …`` when the verdicts do not vary; ``κ: no review pairs``)."""
    if not kappa.pairs:
        return "κ: no review pairs"
    noun = "pair" if kappa.pairs == 1 else "pairs"
    return f"κ {kappa_text(kappa.overall)} over {kappa.pairs} review {noun}"


def title_text(title: str | None) -> str:
    """What a run was about (its document's path or its spec's title); ``-`` when its
    input names neither."""
    return title or "-"


def change_text(pr: PullRequest) -> str:
    """``+2 −2 in 1 file``: the size of a merged change."""
    files = "file" if pr.files_changed == 1 else "files"
    return f"+{pr.lines_added} −{pr.lines_removed} in {pr.files_changed} {files}"


def diff_note(pr: PullRequest) -> str | None:
    """What to say under a merged change's diff: how much was left out and where the
    whole change is; None when the diff is whole (or there is none)."""
    if pr.diff is None:
        return "no diff: no node left a diff.patch and git could not show the commit"
    if pr.diff_omitted:
        return f"{pr.diff_omitted} more lines in {pr.diff_source}"
    return None


def headline(summary: Summary) -> str:
    """The one line above the report: runs by status, checks, refusals, merges."""
    t = summary.totals
    text = f"{t.runs} runs: {t.ok} ok, {t.failed} failed, {t.running} running; "
    if t.checks_passed or t.checks_failed or t.not_graded:
        text += (
            f"checks {t.checks_passed} passed, {t.checks_failed} failed, "
            f"{t.not_graded} not graded; "
        )
    if t.refused:
        text += f"{t.refused} refused by the merge gate; "
    return text + f"{len(summary.prs)} merged"


def jobs_text(jobs: QueueJobs) -> str:
    """The queue's count of the report's jobs, each once: ``jobs (from the queue, each
    counted once): 12: done 11, failed 1; workers: a 6, b 6; 1 claimed again``."""
    text = f"jobs (from the queue, each counted once): {jobs.jobs}"
    if jobs.states:
        text += ": " + ", ".join(f"{state} {n}" for state, n in jobs.states.items())
    if jobs.workers:
        text += "; workers: " + ", ".join(f"{host} {n}" for host, n in jobs.workers.items())
    if jobs.claimed_again:
        text += f"; {jobs.claimed_again} claimed again"
    if jobs.not_in_queue:
        text += f"; {jobs.not_in_queue} no longer in the queue"
    return text


def scope_text(summary: Summary) -> str:
    """Which runs the summary covers: ``night N, since T``, or ``all runs``."""
    parts = []
    if summary.night_id:
        parts.append(f"night {summary.night_id}")
    if summary.since:
        parts.append(f"since {summary.since}")
    return ", ".join(parts) or "all runs"


def night_rows(night: NightStats) -> list[tuple[str, str]]:
    """The night's engine metrics as (metric, value) rows of the throughput table."""
    return [
        ("metric records", str(night.records)),
        ("average batch size", _fmt(night.avg_batch_size)),
        ("average tokens/s", _fmt(night.avg_tokens_per_s, 1)),
        ("max queue depth", _fmt(night.max_queue_depth, 0)),
        ("last ρ", _fmt(night.last_rho, 3)),
        ("mean p_wait", _fmt(night.mean_p_wait, 3)),
        ("mean wait (s)", _fmt(night.mean_wait, 2)),
    ]


#: the per-server table of a night that used several model servers
ENDPOINT_HEADER = ["endpoint", "serves", "requests", "errors", "times down",
                   "avg tokens/s", "at the end"]


def endpoint_cells(row: EndpointRow) -> list[str]:
    """One model server's row: what it serves, its counters, and its state at the end."""
    state = "up" if row.up else "down" + (f" ({row.last_error})" if row.last_error else "")
    return [row.url, ", ".join(row.models) or "?", str(row.requests), str(row.errors),
            str(row.downs), _fmt(row.avg_tokens_per_s, 1), state]


def link_target(summary: Summary, rel: str, links_from: Path | None) -> str:
    """A link to ``rel`` (relative to the artifacts folder) from the folder ``links_from``
    the report will live in, so the written files' links work where they are written."""
    if links_from is None:
        return rel
    target = Path(summary.artifacts) / rel
    return Path(os.path.relpath(target.resolve(), links_from.resolve())).as_posix()


def reviewer_cells(row: ReviewerRow) -> list[str]:
    """One row of the reviewers table (:data:`REVIEWER_HEADER`); ``n/a``: not measured."""

    def n(value: int | None) -> str:
        return "n/a" if value is None else str(value)

    return [
        row.agent,
        n(row.canaries),
        n(row.correct),
        percent(row.accuracy),
        n(row.bad_seen),
        n(row.false_passes),
        percent(row.false_pass_rate),
        n(row.window),
        str(row.pairs),
    ]


REVIEWER_HEADER = [
    "reviewer",
    "canaries",
    "correct",
    "accuracy",
    "bad seen",
    "false passes",
    "false-pass rate",
    "window",
    "review pairs",
]


def reviewer_notes(summary: Summary) -> list[str]:
    """What the reviewers section says before its table: where the canaries come from,
    the gate, and the summary's one κ (:func:`kappa_figure`)."""
    reviewers = summary.reviewers
    if reviewers.source is None:
        notes = ["No reviewers.json: the reviewers' canaries were not measured."]
    else:
        notes = [f"From {reviewers.source}."]
        gate = gate_text(reviewers)
        if gate:
            notes.append(f"Gate: {gate}.")
    notes.append(f"Agreement between the two reviewers: {kappa_figure(summary.kappa)}.")
    return notes
