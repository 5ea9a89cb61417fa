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

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pantheon_engine.atomic import atomic_write_json, atomic_write_text
from pantheon_engine.evals.curve_report import curves_markdown
from pantheon_engine.night.report_html import render_html
from pantheon_engine.night.report_text import (
    ENDPOINT_HEADER,
    REVIEWER_HEADER,
    change_text,
    diff_note,
    endpoint_cells,
    headline,
    interval_text,
    jobs_text,
    kappa_figure,
    kappa_text,
    link_target,
    night_rows,
    percent,
    reviewer_cells,
    reviewer_notes,
    scope_text,
    title_text,
)
from pantheon_engine.night.summary_model import Summary

__all__ = ["render_markdown", "write_report"]


def _md_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


#: characters that mean something inline in Markdown: escaped in text from users and
#: models (a title, an error), so it reads as written wherever the Markdown is drawn
#: (an ``_`` inside a word, as in ``max_steps``, means nothing and stays as it is)
_MD_SPECIAL = re.compile(r"([`*\[\]<>~&#!]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def _md_text(text: Any) -> str:
    """User or model text for a Markdown line or cell: printed as written."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), _md_cell(text))


def _md_table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_target(target: str) -> str:
    return f"<{target}>" if any(c in target for c in " ()<>") else target


def _md_code(text: str) -> str:
    """``text`` as inline code (an id, a branch): never reflowed into Markdown."""
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_fence(text: str, lang: str) -> list[str]:
    """A fenced code block longer than any run of backticks in ``text``."""
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return [f"{fence}{lang}", *text.rstrip("\n").split("\n"), fence]


def _md_reviewers(summary: Summary) -> list[str]:
    reviewers = summary.reviewers
    out = [" ".join(reviewer_notes(summary))]
    if reviewers.rows:
        out.append("")
        out += _md_table(REVIEWER_HEADER, [reviewer_cells(r) for r in reviewers.rows])
    return out


def _md_merged(summary: Summary, base: Path | None) -> list[str]:
    """Each merged change: its title, where it is, and its diff."""
    out = ["", f"## Merged ({len(summary.prs)})", ""]
    if not summary.prs:
        return [*out, "Nothing merged."]
    for pr in summary.prs:
        out += [f"### {_md_text(title_text(pr.title))}", ""]
        where = [f"run {_md_code(pr.run_id)}", _md_text(pr.flow)]
        if pr.branch:
            where.append(f"branch {_md_code(pr.branch)}")
        if pr.commit:
            where.append(f"commit {_md_code(pr.commit[:12])}")
        where.append(change_text(pr))
        out += [" · ".join(where), ""]
        if pr.diff:
            out += [*_md_fence(pr.diff, "diff"), ""]
        note = diff_note(pr)
        if note is not None and pr.diff_omitted and (pr.diff_source or "").startswith("runs/"):
            target = _md_target(link_target(summary, pr.diff_source or "", base))
            note = f"{pr.diff_omitted} more lines in [{_md_text(pr.diff_source)}]({target})"
            out += [f"*{note}*", ""]
        elif note is not None:
            out += [f"*{_md_text(note)}*", ""]
    return out[:-1]


def _md_red_bins(summary: Summary, base: Path | None) -> list[str]:
    """Each bin, then its failures by document: run, title, the error's first line."""
    out = ["", "## Red bins (failures of the work)", ""]
    if not summary.red_bins:
        return [*out, "No failures."]
    for red in summary.red_bins:
        head = " · ".join(_md_text(x) for x in (red.agent, red.node, red.error_kind))
        out += [f"### {head} ({red.count})", "", *_md_table(["run", "document", "error"], [])]
        for failure in red.failures:  # the links are Markdown already: not escaped again
            target = _md_target(link_target(summary, failure.path, base))
            out.append(f"| [{_md_cell(failure.run_id)}]({target}) | "
                       f"{_md_text(title_text(failure.title))} | "
                       f"{_md_text(failure.error or '-')} |")
        out.append("")
    return out[:-1]


def _md_refused(summary: Summary, base: Path | None) -> list[str]:
    out = ["", "## Refused by the merge gate", ""]
    if not summary.refused:
        return [*out, "The gate refused nothing."]
    out += _md_table(
        ["kind", "count", "what it means"],
        [[g.error_kind, g.count, g.meaning] for g in summary.refused],
    )
    out.append("")
    out += _md_table(["run", "document", "kind", "reason", "artifact"], [])
    for group in summary.refused:
        for r in group.refusals:
            target = _md_target(link_target(summary, r.path, base))
            link = f"[{_md_cell(r.path.rsplit('/', 1)[-1])}]({target})"
            cells = " | ".join((_md_cell(r.run_id), _md_text(title_text(r.title)),
                                _md_cell(r.error_kind), _md_text(r.reason or "")))
            out.append(f"| {cells} | {link} |")
    return out


def render_markdown(summary: Summary, *, links_from: Path | str | None = None) -> str:
    """The report as Markdown: what merged (each change with its diff) first, then what
    failed (by document), what the gate refused, pass rates, reviewers, κ, throughput.

    Artifact links are relative to the artifacts folder, or to ``links_from`` (the
    folder the Markdown file will live in) when given. Text from users and models (titles,
    errors) is escaped, so it reads as written.
    """
    base = Path(links_from) if links_from is not None else None
    out = [f"# Morning report ({scope_text(summary)})", "", f"**{headline(summary)}**", ""]
    if summary.search is not None:
        out += [summary.search.line(), ""]
    t = summary.totals
    k = summary.kappa
    out += _md_table(
        ["runs", "ok", "failed", "running", "merged", "κ", "review pairs"],
        [[t.runs, t.ok, t.failed, t.running, len(summary.prs), kappa_text(k.overall), k.pairs]],
    )
    if summary.jobs is not None:
        out += ["", _md_text(jobs_text(summary.jobs))]
    out += _md_merged(summary, base)
    out += _md_red_bins(summary, base)
    out += _md_refused(summary, base)

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

    out += ["", "## Reviewers (canaries)", ""]
    out += _md_reviewers(summary)

    out += ["", "## Reviewer agreement (Cohen's κ)", ""]
    if k.pairs:
        out.append(f"{kappa_figure(k)} (raw agreement {percent(k.agreement)}).")
        out.append("")
        out += _md_table(
            ["flow", "pairs", "κ"], [[f.flow, f.pairs, kappa_text(f.kappa)] for f in k.by_flow]
        )
        out.append("")
        out += _md_table(
            ["reviewer agent", "pairs", "κ"],
            [[a.agent, a.pairs, kappa_text(a.kappa)] for a in k.by_agent],
        )
    else:
        out.append("No run had two reviews.")

    if summary.night is not None:
        out += ["", f"## Throughput and queue (night {summary.night.night_id})", ""]
        out += _md_table(["metric", "value"], night_rows(summary.night))
        if summary.night.endpoints:
            out += ["", "### Model servers", ""]
            out += _md_table(ENDPOINT_HEADER,
                             [endpoint_cells(row) for row in summary.night.endpoints])
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
