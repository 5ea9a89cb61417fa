"""Learning curves as a character chart: pass rate (rows) against training examples N.

Every scope of an agent shares one chart, each in its own style: a measured point is ``●``
with its Wilson 95 % interval as a ``│`` bar, the fitted ``p(N)`` is a line of ``·`` and
the target pass rate a ``╌`` rule across the chart. The N axis is the report chart's
(:func:`pantheon_engine.evals.curve_svg.x_axis`), so both show the same range.

:func:`chart_lines` is a pure function of the curves and the size (tests read its text);
:class:`CurveChart` is the Rich renderable that gives it the width it is drawn at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from pantheon_engine.evals.curve import LearningCurve
from pantheon_engine.evals.curve_svg import legend_label, x_axis

__all__ = ["FIT_CHAR", "INTERVAL_CHAR", "POINT_CHAR", "TARGET_CHAR", "CurveChart",
           "chart_lines"]

POINT_CHAR = "●"
INTERVAL_CHAR = "│"
FIT_CHAR = "·"
TARGET_CHAR = "╌"
GUTTER = 5  # "100%" and the axis
MIN_PLOT_WIDTH = 12
MIN_HEIGHT = 5

Cell = tuple[str, str]  # (character, style)


def _row(rate: float, height: int) -> int:
    """Row of a pass rate: 0 is 100 % (top), ``height - 1`` is 0 %."""
    return round((1.0 - min(max(rate, 0.0), 1.0)) * (height - 1))


def _label_row(height: int) -> dict[int, str]:
    return {_row(rate, height): f"{rate * 100:.0f}%" for rate in (1.0, 0.5, 0.0)}


def chart_lines(curves: Sequence[LearningCurve], width: int, height: int = 11, *,
                styles: dict[str, str] | None = None, target_style: str = "dim",
                axis_style: str = "dim") -> list[Text]:
    """The chart of ``curves`` as ``height`` plot rows, the N axis, its labels and a legend,
    each at most ``width`` cells wide. ``styles`` maps a scope to its Rich style."""
    styles = styles or {}
    height = max(MIN_HEIGHT, height)
    plot_w = max(MIN_PLOT_WIDTH, width - GUTTER)
    x_max, step = x_axis(curves)
    grid: list[list[Cell]] = [[(" ", "")] * plot_w for _ in range(height)]

    def col(n: float) -> int:
        return round(min(max(n, 0.0), x_max) / x_max * (plot_w - 1))

    targets = sorted({c.target for c in curves if c.target is not None})
    for target in targets:
        grid[_row(target, height)] = [(TARGET_CHAR, target_style)] * plot_w
    for curve in curves:
        style = styles.get(curve.scope, "")
        if curve.fit is not None:
            for c in range(plot_w):
                row = _row(curve.fit.predict(x_max * c / (plot_w - 1)), height)
                grid[row][c] = (FIT_CHAR, style)
    for curve in curves:  # points over every fit line
        style = styles.get(curve.scope, "")
        for point in curve.points:
            c = col(point.examples)
            low, high = point.interval
            for row in range(_row(high, height), _row(low, height) + 1):
                grid[row][c] = (INTERVAL_CHAR, style)
            grid[_row(point.pass_rate, height)][c] = (POINT_CHAR, f"bold {style}".strip())

    labels = _label_row(height)
    lines = []
    for index, cells in enumerate(grid):
        line = Text(f"{labels.get(index, ''):>4}", style=axis_style)
        line.append("┤" if index in labels else "│", style=axis_style)
        for char, style in cells:
            line.append(char, style=style or None)
        lines.append(line)
    lines.append(Text(" " * (GUTTER - 1) + "└" + "─" * plot_w, style=axis_style))
    lines.append(Text(_tick_labels(x_max, step, plot_w), style=axis_style))
    lines.append(_legend(curves, styles, targets, target_style))
    return lines


def _tick_labels(x_max: float, step: float, plot_w: int) -> str:
    """``N 0    100    200``: tick values under their columns, none overlapping."""
    chars = [" "] * (GUTTER + plot_w)
    chars[:2] = list("N ")
    free_from = 2
    ticks = round(x_max / step)
    for i in range(ticks + 1):
        label = f"{i * step:g}"
        at = GUTTER + round(i * step / x_max * (plot_w - 1))
        start = min(max(at - len(label) // 2, free_from), len(chars) - len(label))
        if start < free_from:
            continue
        chars[start:start + len(label)] = list(label)
        free_from = start + len(label) + 1
    return "".join(chars).rstrip()


def _legend(curves: Sequence[LearningCurve], styles: dict[str, str], targets: list[float],
            target_style: str) -> Text:
    legend = Text(" " * GUTTER)
    for curve in curves:
        legend.append(f"{POINT_CHAR}{FIT_CHAR}{FIT_CHAR} ", style=styles.get(curve.scope) or None)
        legend.append(f"{legend_label(curve)}   ")
    for target in targets:
        legend.append(f"{TARGET_CHAR * 3} ", style=target_style)
        legend.append(f"target {target * 100:.0f} %   ")
    legend.rstrip()
    return legend


@dataclass
class CurveChart:
    """A Rich renderable drawing :func:`chart_lines` at the width it is given."""

    curves: Sequence[LearningCurve]
    height: int = 11
    styles: dict[str, str] = field(default_factory=dict)
    target_style: str = "dim"
    axis_style: str = "dim"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from chart_lines(self.curves, options.max_width, self.height, styles=self.styles,
                               target_style=self.target_style, axis_style=self.axis_style)
