"""The morning report: the Markdown, and the three files a night leaves behind.

:func:`write_report` writes a :class:`~pantheon_engine.night.summary_model.Summary` (from
:func:`pantheon_engine.night.summary.build_summary`) as ``summary.json``, ``report.md``
and one self-contained ``report.html`` (:mod:`pantheon_engine.night.report_html`);
:func:`render_markdown` gives the Markdown for the terminal. See docs/report.md.

The numbers are the summary's (nothing is computed here) and the words are
:mod:`pantheon_engine.night.report_text`'s, so the Markdown, the page and the control room
agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pantheon_engine.atomic import atomic_write_json, atomic_write_text
from pantheon_engine.evals.curve_report import curves_markdown
from pantheon_engine.night.report_html import render_html
from pantheon_engine.night.report_text import (
    REVIEWER_HEADER,
    headline,
    interval_text,
    kappa_text,
    link_target,
    night_rows,
    percent,
    reviewer_cells,
    reviewer_notes,
    scope_text,
)
from pantheon_engine.night.summary_model import Reviewers, Summary

__all__ = ["render_markdown", "write_report"]


def _md_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_target(target: str) -> str:
    return f"<{target}>" if any(c in target for c in " ()<>") else target


def _md_reviewers(reviewers: Reviewers) -> list[str]:
    out = [" ".join(reviewer_notes(reviewers))]
    if reviewers.rows:
        out.append("")
        out += _md_table(REVIEWER_HEADER, [reviewer_cells(r) for r in reviewers.rows])
    return out


def render_markdown(summary: Summary, *, links_from: Path | str | None = None) -> str:
    """The report as Markdown.

    Artifact links are relative to the artifacts folder, or to ``links_from`` (the
    folder the Markdown file will live in) when given.
    """
    base = Path(links_from) if links_from is not None else None
    out = [f"# Morning report ({scope_text(summary)})", "", f"**{headline(summary)}**", ""]
    t = summary.totals
    out += _md_table(
        ["runs", "ok", "failed", "running", "merged", "κ"],
        [
            [
                t.runs,
                t.ok,
                t.failed,
                t.running,
                len(summary.prs),
                kappa_text(summary.kappa.overall, 3),
            ]
        ],
    )

    out += ["", "## Pass rate per agent (from checks)", ""]
    if summary.pass_rates:
        out.append(
            "A run counts for the agents its checks graded; *not graded*: the work "
            "failed before a check ran. Interval: Wilson 95 %."
        )
        out.append("")
        out += _md_table(
            ["agent", "graded", "passed", "pass rate", "95 % interval", "not graded"],
            [
                [r.agent, r.graded, r.passed, percent(r.rate), interval_text(r), r.not_graded]
                for r in summary.pass_rates
            ],
        )
    else:
        out.append("No run was graded by a check.")
    out += curves_markdown(summary.curves, summary.curve_problems)

    out += ["", "## Merged", ""]
    if summary.prs:
        out += _md_table(
            ["run", "flow", "branch", "files", "+", "-"],
            [
                [p.run_id, p.flow, p.branch or "", p.files_changed, p.lines_added, p.lines_removed]
                for p in summary.prs
            ],
        )
    else:
        out.append("Nothing merged.")

    out += ["", "## Red bins (failures of the work)", ""]
    if summary.red_bins:
        out += _md_table(["agent", "node", "error kind", "count", "artifacts"], [])
        for red in summary.red_bins:  # the links are Markdown already: not escaped again
            links = ", ".join(
                f"[{_md_cell(p.split('/')[1])}]({_md_target(link_target(summary, p, base))})"
                for p in red.paths
            )
            cells = " | ".join(
                _md_cell(c) for c in (red.agent, red.node, red.error_kind, red.count)
            )
            out.append(f"| {cells} | {links} |")
    else:
        out.append("No failures.")

    out += ["", "## Refused by the merge gate", ""]
    if summary.refused:
        out += _md_table(
            ["kind", "count", "what it means"],
            [[g.error_kind, g.count, g.meaning] for g in summary.refused],
        )
        out.append("")
        out += _md_table(["run", "flow", "kind", "reason", "artifact"], [])
        for group in summary.refused:
            for r in group.refusals:
                target = _md_target(link_target(summary, r.path, base))
                link = f"[{_md_cell(r.path.rsplit('/', 1)[-1])}]({target})"
                cells = " | ".join(
                    _md_cell(c) for c in (r.run_id, r.flow, r.error_kind, r.reason or "")
                )
                out.append(f"| {cells} | {link} |")
    else:
        out.append("The gate refused nothing.")

    out += ["", "## Reviewers (canaries)", ""]
    out += _md_reviewers(summary.reviewers)

    k = summary.kappa
    out += ["", "## Reviewer agreement (Cohen's κ)", ""]
    if k.pairs:
        out.append(
            f"κ = {kappa_text(k.overall, 3)} over {k.pairs} verdict pairs "
            f"(raw agreement {percent(k.agreement)})."
        )
        out.append("")
        out += _md_table(
            ["flow", "pairs", "κ"], [[f.flow, f.pairs, kappa_text(f.kappa, 3)] for f in k.by_flow]
        )
        out.append("")
        out += _md_table(
            ["reviewer agent", "pairs", "κ"],
            [[a.agent, a.pairs, kappa_text(a.kappa, 3)] for a in k.by_agent],
        )
    else:
        out.append("No run had two reviews.")

    if summary.night is not None:
        out += ["", f"## Throughput and queue (night {summary.night.night_id})", ""]
        out += _md_table(["metric", "value"], night_rows(summary.night))
    return "\n".join(out) + "\n"


def write_report(artifacts: Path | str, summary: Summary, out_dir: Path | str) -> list[Path]:
    """Write ``summary.json``, ``report.md`` and ``report.html`` into ``out_dir``, each
    atomically; artifact links are relative to ``out_dir``. Returns the three paths.

    ``artifacts`` is the folder the links point into (normally ``summary.artifacts``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    linked = summary.model_copy(update={"artifacts": str(Path(artifacts))})
    paths = [out / "summary.json", out / "report.md", out / "report.html"]
    atomic_write_json(paths[0], summary.model_dump(mode="json"))
    atomic_write_text(paths[1], render_markdown(linked, links_from=out))
    atomic_write_text(paths[2], render_html(linked, links_from=out))
    return paths
