"""The Report screen's three fact panels as Rich text: pass rates, reviewers, refusals.

Each is a pure function of the engine's summary (nothing is computed here: the numbers
and the words are the engine's, :mod:`pantheon_engine.night.report_text`), so the panels
say what the written report says and tests read their text without running an app. The
screen passes in its theme's styles.
"""

from __future__ import annotations

from rich.text import Text

from pantheon_engine.night.report_text import (
    gate_text,
    interval_text,
    kappa_figure,
    percent,
)
from pantheon_engine.night.summary_model import Summary

__all__ = ["rates_text", "refused_text", "reviewers_text"]


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
    """Per reviewer: canary accuracy, false-pass rate, review pairs; then the summary's
    one κ (the figure of the summary line and the written report) and the gate's limits."""
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
        if row.pairs:
            lines.append(Text(f"  {row.pairs} review pair{'' if row.pairs == 1 else 's'} "
                              "in the runs", style=muted))
    if summary.kappa.pairs:
        lines.append(Text(kappa_figure(summary.kappa)))
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

