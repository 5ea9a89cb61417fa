"""The morning report's "Learning curves" section, as Markdown lines and as HTML.

Per curve: the measured points (N, passed/total, pass rate with its Wilson 95 % interval),
the fitted ``p(N) = p₀ + (p̄ − p₀)(1 − e^(−αN))`` and the N it needs for the target pass
rate; in HTML also one chart per agent with all its scopes (:mod:`.curve_svg`). The section
is left out of a report when there is no curve file and no broken one.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from pantheon_engine.evals.curve import LearningCurve, fit_text, target_text
from pantheon_engine.evals.curve_svg import curves_svg, scope_colours

__all__ = ["POINT_HEADER", "TITLE", "curves_html", "curves_markdown", "point_rows"]

TITLE = "Learning curves"
POINT_HEADER = ["N", "passed", "pass rate", "95 % interval", "version", "train time"]
INTRO = (
    "Holdout pass rate after training on N examples, one curve per agent and task scope, "
    "fitted with p(N) = p₀ + (p̄ − p₀)(1 − e^(−αN)); a larger α learns faster. "
    "Interval: Wilson 95 %."
)


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def point_rows(curve: LearningCurve) -> list[list[str]]:
    """The table of a curve's points, as text cells under :data:`POINT_HEADER`."""
    return [
        [
            str(p.examples),
            f"{p.passed}/{p.total}",
            _pct(p.pass_rate),
            f"[{_pct(p.interval[0])}, {_pct(p.interval[1])}]",
            p.version or "-",
            _seconds(p.train_seconds),
        ]
        for p in curve.points
    ]


def _heading(curve: LearningCurve) -> str:
    text = f"{curve.agent} · scope {curve.scope} · {curve.suite} {curve.split}"
    return f"{text} ({curve.description})" if curve.description else text


def _facts(curve: LearningCurve) -> list[str]:
    lines = [("Fit: " + fit_text(curve.fit)) if curve.fit else f"No fit: {curve.fit_reason}."]
    if curve.fit is not None and curve.fit.note:
        lines.append(f"Note: {curve.fit.note}.")
    target = target_text(curve)
    if target:
        lines.append(target[0].upper() + target[1:] + ".")
    return lines


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def curves_markdown(curves: Sequence[LearningCurve], problems: Sequence[str]) -> list[str]:
    """The section as Markdown lines (empty when there is nothing to say)."""
    if not curves and not problems:
        return []
    out = ["", f"## {TITLE}", "", INTRO]
    for curve in curves:
        out += ["", f"### {_md_cell(_heading(curve))}", ""]
        out += [line + "  " for line in _facts(curve)]
        out.append("")
        out.append("| " + " | ".join(POINT_HEADER) + " |")
        out.append("|" + "---|" * len(POINT_HEADER))
        out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in point_rows(curve)]
    if problems:
        out += ["", "Curve files that could not be read:", ""]
        out += [f"- {_md_cell(problem)}" for problem in problems]
    return out


def _table(rows: list[list[str]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in POINT_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def curves_html(curves: Sequence[LearningCurve], problems: Sequence[str]) -> str:
    """The section as HTML: per agent one chart, then each scope's facts and points."""
    if not curves and not problems:
        return ""
    esc = html.escape
    colours = scope_colours(curves)
    body = [f"<h2>{TITLE}</h2>", f"<p>{esc(INTRO)}</p>"]
    by_agent: dict[str, list[LearningCurve]] = {}
    for curve in curves:
        by_agent.setdefault(curve.agent, []).append(curve)
    for agent, group in by_agent.items():
        body.append(f'<div class="charts">{curves_svg(group, colours, title=agent)}</div>')
        for curve in group:
            swatch = f'<span style="color:{colours[curve.scope]}">&#9632;</span> '
            body.append(f"<h3>{swatch}{esc(_heading(curve))}</h3>")
            body.append("<p>" + "<br>".join(esc(line) for line in _facts(curve)) + "</p>")
            body.append(_table(point_rows(curve)))
    if problems:
        body.append("<p>Curve files that could not be read:</p><ul>")
        body += [f"<li>{esc(problem)}</li>" for problem in problems]
        body.append("</ul>")
    return "\n".join(body)

