"""The morning report as one self-contained HTML page: inline CSS and SVG, no network.

Split from the Markdown (:mod:`pantheon_engine.night.report`) because the page has its own
escaping rules and its own charts; the words come from
:mod:`pantheon_engine.night.report_text`, so both reports say the same thing. Every text
from the artifacts is escaped here, as it is put into the page.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pantheon_engine.evals.curve_report import curves_html
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

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}.num{text-align:right}
.headline{font-size:1.1rem;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}
svg{background:#fafafa;border:1px solid #ddd}
svg text{font-size:11px;fill:#444}
.muted{color:#777}
.run{font-family:ui-monospace,monospace;overflow-wrap:anywhere}
pre.diff{background:#fafafa;border:1px solid #ddd;padding:.5rem;overflow-x:auto;
font-size:.85rem;white-space:pre-wrap;overflow-wrap:anywhere}
.diff .add{color:#116611;background:#e6ffec}.diff .del{color:#b31d28;background:#ffebe9}
.diff .hunk{color:#6f42c1}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
"""


def _svg_chart(
    title: str,
    points: list[tuple[float, float]],
    color: str,
    *,
    t_range: tuple[float, float] | None = None,
    width: int = 520,
    height: int = 220,
) -> str:
    """A line chart of ``(t, value)`` points, sorted by ``t``, as inline SVG (no xmlns:
    HTML5 does not need it). ``t_range`` shares one time axis between charts."""
    esc = html.escape
    left, right, top, bottom = 48, 12, 24, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>',
        f'<text x="{left}" y="16">{esc(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
    ]
    if not points:
        parts.append(
            f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" '
            'text-anchor="middle">no data</text></svg>'
        )
        return "".join(parts)
    t0, t1 = t_range or (points[0][0], points[-1][0])
    y_max = max(v for _, v in points)
    y_max = y_max if y_max > 0 else 1.0
    span = t1 - t0

    def xy(t: float, v: float) -> tuple[float, float]:
        x = left + (plot_w * (t - t0) / span if span > 0 else plot_w / 2)
        y = top + plot_h - plot_h * max(v, 0.0) / y_max
        return x, y

    coords = [xy(t, v) for t, v in points]
    if len(coords) == 1:
        x, y = coords[0]
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
    else:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{y_max:.4g}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>')

    def clock(t: float) -> str:
        try:
            return datetime.fromtimestamp(t, UTC).strftime("%H:%M")
        except (OverflowError, OSError, ValueError):
            return f"{t:.0f}"

    parts.append(f'<text x="{left}" y="{height - 8}">{esc(clock(t0))}</text>')
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{esc(clock(t1))} UTC</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _html_table(header: list[str], rows: Iterable[Iterable[str]]) -> str:
    """Rows of already-escaped cells (callers escape; see :func:`render_html`)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text_table(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """A table of plain values: every header and cell escaped here."""
    return _html_table(
        [html.escape(h) for h in header], [[html.escape(str(c)) for c in row] for row in rows]
    )


def _diff_html(diff: str) -> str:
    """A unified diff as a ``<pre>``, added and removed lines marked (escaped here)."""
    lines = []
    for line in diff.rstrip("\n").split("\n"):
        cls = ""
        if line.startswith("+") and not line.startswith("+++"):
            cls = "add"
        elif line.startswith("-") and not line.startswith("---"):
            cls = "del"
        elif line.startswith("@@"):
            cls = "hunk"
        text = html.escape(line)
        lines.append(f'<span class="{cls}">{text}</span>' if cls else text)
    return '<pre class="diff">' + "\n".join(lines) + "</pre>"


def _merged_html(summary: Summary, link: Callable[[str, str], str]) -> list[str]:
    """Each merged change: its title, where it is, and its diff."""
    e = html.escape
    body = [f"<h2>Merged ({len(summary.prs)})</h2>"]
    if not summary.prs:
        return [*body, "<p>Nothing merged.</p>"]
    for pr in summary.prs:
        body.append(f"<h3>{e(title_text(pr.title))}</h3>")
        where = [f'run <span class="run">{e(pr.run_id)}</span>', e(pr.flow)]
        if pr.branch:
            where.append(f'branch <span class="run">{e(pr.branch)}</span>')
        if pr.commit:
            where.append(f'commit <span class="run">{e(pr.commit[:12])}</span>')
        where.append(e(change_text(pr)))
        body.append(f"<p>{' · '.join(where)}</p>")
        if pr.diff:
            body.append(_diff_html(pr.diff))
        note = diff_note(pr)
        if note is not None and pr.diff_omitted and (pr.diff_source or "").startswith("runs/"):
            source = pr.diff_source or ""
            body.append(f'<p class="muted">{pr.diff_omitted} more lines in '
                        f"{link(source, source)}</p>")
        elif note is not None:
            body.append(f'<p class="muted">{e(note)}</p>')
    return body


def _red_bins_html(summary: Summary, link: Callable[[str, str], str]) -> list[str]:
    """Each bin, then its failures by document: run, title, the error's first line."""
    e = html.escape
    body = ["<h2>Red bins (failures of the work)</h2>"]
    if not summary.red_bins:
        return [*body, "<p>No failures.</p>"]
    for red in summary.red_bins:
        body.append(f"<h3>{e(red.agent)} · {e(red.node)} · {e(red.error_kind)} "
                    f"({red.count})</h3>")
        rows = [[f'<span class="run">{link(f.path, f.run_id)}</span>', e(title_text(f.title)),
                 e(f.error or "-")] for f in red.failures]
        body.append(_html_table([e(h) for h in ("run", "document", "error")], rows))
    return body


def render_html(summary: Summary, *, links_from: Path | str | None = None) -> str:
    """One self-contained HTML page: inline CSS, tables, two inline SVG charts."""
    e = html.escape
    base = Path(links_from) if links_from is not None else None
    t = summary.totals
    k = summary.kappa

    def link(rel: str, text: str) -> str:
        return f'<a href="{e(quote(link_target(summary, rel, base)))}">{e(text)}</a>'

    body = [
        f"<h1>Morning report ({e(scope_text(summary))})</h1>",
        f'<p class="headline">{e(headline(summary))}</p>',
        *([f"<p>{e(summary.search.line())}</p>"] if summary.search is not None else []),
        f'<p class="muted">generated {e(summary.generated_at)} from {e(summary.artifacts)}</p>',
        _text_table(
            ["runs", "ok", "failed", "running", "merged", "κ", "review pairs"],
            [[t.runs, t.ok, t.failed, t.running, len(summary.prs), kappa_text(k.overall),
              k.pairs]],
        ),
        *([f"<p>{e(jobs_text(summary.jobs))}</p>"] if summary.jobs is not None else []),
    ]
    body += _merged_html(summary, link)
    body += _red_bins_html(summary, link)

    body.append("<h2>Refused by the merge gate</h2>")
    if summary.refused:
        body.append(
            _text_table(
                ["kind", "count", "what it means"],
                [[g.error_kind, g.count, g.meaning] for g in summary.refused],
            )
        )
        rows = [
            [
                f'<span class="run">{e(r.run_id)}</span>',
                e(title_text(r.title)),
                e(r.error_kind),
                e(r.reason or ""),
                link(r.path, r.path.rsplit("/", 1)[-1]),
            ]
            for g in summary.refused
            for r in g.refusals
        ]
        body.append(
            _html_table([e(h) for h in ("run", "document", "kind", "reason", "artifact")], rows)
        )
    else:
        body.append("<p>The gate refused nothing.</p>")

    body.append("<h2>Pass rate per agent (from checks)</h2>")
    if summary.pass_rates:
        body.append(
            "<p>A run counts for the agents its checks graded; <em>not graded</em>: the work "
            "failed before a check ran. Interval: Wilson 95 %.</p>"
        )
        body.append(
            _text_table(
                ["agent", "graded", "passed", "pass rate", "95 % interval", "not graded"],
                [
                    [r.agent, r.graded, r.passed, percent(r.rate), interval_text(r), r.not_graded]
                    for r in summary.pass_rates
                ],
            )
        )
    else:
        body.append("<p>No run was graded by a check.</p>")
    if summary.curves or summary.curve_problems:
        body.append(curves_html(summary.curves, summary.curve_problems))

    body.append("<h2>Reviewers (canaries)</h2>")
    body.append(f"<p>{e(' '.join(reviewer_notes(summary)))}</p>")
    if summary.reviewers.rows:
        body.append(
            _text_table(REVIEWER_HEADER, [reviewer_cells(r) for r in summary.reviewers.rows])
        )

    body.append("<h2>Reviewer agreement (Cohen's κ)</h2>")
    if k.pairs:
        body.append(f"<p>{e(kappa_figure(k))} (raw agreement {e(percent(k.agreement))}).</p>")
        body.append(
            _text_table(
                ["flow", "pairs", "κ"],
                [[f.flow, f.pairs, kappa_text(f.kappa)] for f in k.by_flow],
            )
        )
        body.append(
            _text_table(
                ["reviewer agent", "pairs", "κ"],
                [[a.agent, a.pairs, kappa_text(a.kappa)] for a in k.by_agent],
            )
        )
    else:
        body.append("<p>No run had two reviews.</p>")

    night = summary.night
    body.append("<h2>Throughput and queue</h2>")
    if night is not None:
        body.append(
            _html_table([e("metric"), e("value")], [[e(a), e(b)] for a, b in night_rows(night)])
        )
        if night.endpoints:
            body.append("<h3>Model servers</h3>")
            body.append(_html_table([e(h) for h in ENDPOINT_HEADER],
                                    [[e(c) for c in endpoint_cells(r)] for r in night.endpoints]))
        tps = [(p.t, p.tokens_per_s) for p in night.series if p.tokens_per_s is not None]
        queue = [(p.t, p.queue_depth) for p in night.series if p.queue_depth is not None]
    else:
        body.append('<p class="muted">No night named: no engine metrics.</p>')
        tps, queue = [], []
    ts = [p.t for p in night.series] if night is not None else []
    t_range = (min(ts), max(ts)) if ts else None
    body.append(
        '<div class="charts">'
        + _svg_chart("throughput (tokens/s)", tps, "#1f77b4", t_range=t_range)
        + _svg_chart("queue depth", queue, "#d62728", t_range=t_range)
        + "</div>"
    )

    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e('Pantheon morning report - ' + scope_text(summary))}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
