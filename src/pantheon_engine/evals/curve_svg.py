"""Learning curves as one inline SVG chart: no script, no external asset, no ``xmlns``
(HTML5 does not need it).

One chart per agent, every scope of that agent on it in its own colour: each measured
point with its Wilson 95 % interval as a bar, the fitted ``p(N)`` as a line, the target
pass rate as a dashed line and, where the fit reaches the target, a dotted mark at the N
it needs. Hovering a point shows its numbers (an SVG ``<title>``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

from pantheon_engine.evals.curve import LearningCurve

__all__ = ["PALETTE", "curves_svg", "legend_label", "nice_step", "scope_colours", "x_axis"]

#: colour-blind friendly (Okabe–Ito), dark enough on the report's light background
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
TARGET_COLOUR = "#555555"
FIT_SAMPLES = 96
#: a target N further out than this many times the largest N measured is not drawn
TARGET_REACH = 2.0

Scale = Callable[[float], float]  # data value -> SVG coordinate


def scope_colours(curves: Sequence[LearningCurve]) -> dict[str, str]:
    """One colour per scope name, the same in every chart of a report."""
    scopes = sorted({c.scope for c in curves})
    return {scope: PALETTE[i % len(PALETTE)] for i, scope in enumerate(scopes)}


def nice_step(span: float, ticks: int = 5) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``ticks`` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power: float = 10 ** math.floor(math.log10(raw))  # an int from 1 up: keeps ticks whole
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return max(1.0, factor * power)
    return max(1.0, 10 * power)


def x_axis(curves: Sequence[LearningCurve]) -> tuple[float, float]:
    """The N axis of a chart of ``curves``: its end and its tick step.

    It spans the N measured and, when not too far beyond (:data:`TARGET_REACH`), the N a
    fit needs for its target; the end is rounded up to a whole tick.
    """
    measured = max((p.examples for c in curves for p in c.points), default=0)
    reach = max(measured, 1) * TARGET_REACH
    wanted = [c.n_for_target for c in curves if c.n_for_target is not None]
    far = float(max([measured, *[n for n in wanted if n <= reach], 1]))
    step = nice_step(far)
    return math.ceil(far / step) * step, step


def legend_label(curve: LearningCurve) -> str:
    """``rule: one rule per task`` (the scope and, when given, its description)."""
    return f"{curve.scope}: {curve.description}" if curve.description else curve.scope


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def curves_svg(
    curves: Sequence[LearningCurve],
    colours: dict[str, str] | None = None,
    *,
    title: str | None = None,
    width: int = 560,
    height: int = 320,
) -> str:
    """The chart of ``curves`` (normally one agent's scopes) as an ``<svg>`` element."""
    esc = html.escape
    colours = colours or scope_colours(curves)
    name = title or ", ".join(dict.fromkeys(c.agent for c in curves)) or "learning curve"
    left, right, top, bottom = 56, 20, 44, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max, step = x_axis(curves)

    def x_of(n: float) -> float:
        return left + plot_w * min(max(n, 0.0), x_max) / x_max

    def y_of(p: float) -> float:
        return top + plot_h - plot_h * min(max(p, 0.0), 1.0)

    label = f"{name}: holdout pass rate against training examples"
    parts = [
        f'<svg class="curve" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{esc(label)}"><title>{esc(label)}</title>',
        f'<text x="{left}" y="16" font-weight="600">{esc(name)}</text>',
    ]
    # grid and axes
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     'stroke="#e4e4e4"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{esc(_pct(tick))}</text>")
    n_ticks = round(x_max / step)
    for i in range(n_ticks + 1):
        value = i * step
        x = x_of(value)
        parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" '
                     f'y2="{top + plot_h + 4}" stroke="#999"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                     f"{value:g}</text>")
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}" stroke="#999"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                 "training examples (N)</text>")
    splits = ", ".join(dict.fromkeys(c.split for c in curves)) or "holdout"
    mid_y = top + plot_h / 2
    parts.append(f'<text x="14" y="{mid_y:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {mid_y:.1f})">pass rate ({esc(splits)})</text>')

    # targets: one dashed line per distinct target
    for target in sorted({c.target for c in curves if c.target is not None}):
        y = y_of(target)
        parts.append(f'<line class="target" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                     f'y2="{y:.1f}" stroke="{TARGET_COLOUR}" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{left + plot_w - 2}" y="{y - 4:.1f}" text-anchor="end">'
                     f"target {esc(_pct(target))}</text>")

    legend_x = left
    for curve in curves:
        colour = colours.get(curve.scope, PALETTE[0])
        parts.append(_fit_line(curve, colour, x_max, x_of, y_of))
        parts += _points(curve, colour, x_of, y_of)
        n = curve.n_for_target
        if n is not None and curve.target is not None and n <= x_max:
            x, y = x_of(n), y_of(curve.target)
            parts.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{y:.1f}" '
                         f'stroke="{colour}" stroke-dasharray="2 3"/>')
        legend = legend_label(curve)
        parts.append(f'<rect x="{legend_x}" y="25" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="34">{esc(legend)}</text>')
        legend_x += 28 + 7 * len(legend)
    parts.append("</svg>")
    return "".join(parts)


def _fit_line(curve: LearningCurve, colour: str, x_max: float, x_of: Scale, y_of: Scale) -> str:
    fit = curve.fit
    if fit is None:
        return ""
    coords = []
    for i in range(FIT_SAMPLES + 1):
        n = x_max * i / FIT_SAMPLES
        coords.append(f"{x_of(n):.1f},{y_of(fit.predict(n)):.1f}")
    return (f'<polyline class="fit" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(coords)}"/>')


def _points(curve: LearningCurve, colour: str, x_of: Scale, y_of: Scale) -> list[str]:
    esc = html.escape
    parts = []
    for p in curve.points:
        x = x_of(p.examples)
        low, high = p.interval
        y_low, y_high, y = y_of(low), y_of(high), y_of(p.pass_rate)
        parts.append(f'<line x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" '
                     f'stroke="{colour}"/>')
        for cap in (y_low, y_high):
            parts.append(f'<line x1="{x - 3:.1f}" y1="{cap:.1f}" x2="{x + 3:.1f}" '
                         f'y2="{cap:.1f}" stroke="{colour}"/>')
        tip = (f"{curve.scope}, N = {p.examples}: {p.passed}/{p.total} passed, "
               f"{_pct(p.pass_rate)} [{_pct(low)}, {_pct(high)}]")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                     f'fill="{colour}"><title>{esc(tip)}</title></circle>')
    return parts
