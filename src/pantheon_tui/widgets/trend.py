"""A compact trend panel: title, current value, min/max and a multi-row block chart.

Rendering is a pure function of :class:`TrendData` and the panel size
(:func:`render_trend`), so tests check the text without running an app; the widget only
supplies the size and the theme's colours.

The chart shows the whole series it is given: a series longer than the chart is cut into
as many buckets as the chart has columns, and each bucket becomes one column. A bucket is
reduced with ``aggregate``: ``mean`` by default, ``max`` for a series where high is bad
(ρ) and ``min`` for one where low is bad (κ), so one bad sample is never averaged out of
sight. The vertical scale runs from the lowest to the highest column, stretched to take in
the threshold, so the threshold line is always on the chart. A series that does not move
(every column the same, say a schema-error rate that stays 0) has no scale to stand on:
it is drawn as a flat line along the bottom, not as bars of an arbitrary height.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

__all__ = [
    "BLOCKS",
    "THRESHOLD_CHAR",
    "Trend",
    "TrendData",
    "TrendStyles",
    "chart_rows",
    "downsample",
    "format_number",
    "render_trend",
    "threshold_row",
]

BLOCKS = " ▁▂▃▄▅▆▇█"  # index = eighths of a cell filled
THRESHOLD_CHAR = "┄"
NO_VALUE = "-"

Aggregate = Literal["mean", "max", "min"]
Bad = Literal["above", "below"]


def format_number(value: float) -> str:
    """Whole numbers without decimals; others with two decimals below 10, one above.

    Trailing zeros go: ``5.5``, ``0.33``, ``12.3``, ``400``.
    """
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return text.rstrip("0").rstrip(".")


@dataclass(frozen=True)
class TrendData:
    """Everything a panel shows; the widget re-renders when it is replaced."""

    title: str
    values: tuple[float | None, ...] = ()  # oldest first; None: a sample without the field
    current: float | None = None
    fmt: Callable[[float], str] = format_number
    detail: str = ""  # a second fact for the panel's second line ("failed 3")
    threshold: float | None = None
    bad: Bad | None = None  # which side of the threshold is bad
    aggregate: Aggregate = "mean"

    def is_bad(self, value: float | None) -> bool:
        if value is None or self.threshold is None or self.bad is None:
            return False
        return value > self.threshold if self.bad == "above" else value < self.threshold

    def text(self, value: float | None) -> str:
        return NO_VALUE if value is None else self.fmt(value)


@dataclass(frozen=True)
class TrendStyles:
    """Rich styles for the parts of a panel (the widget takes them from the theme)."""

    title: Style = field(default_factory=lambda: Style(bold=True))
    value: Style = field(default_factory=lambda: Style(bold=True))
    dim: Style = field(default_factory=lambda: Style(dim=True))
    bar: Style = field(default_factory=Style)
    bad: Style = field(default_factory=lambda: Style(bold=True))
    threshold: Style = field(default_factory=Style)


# --- pure helpers ------------------------------------------------------------------------


def _reduce(bucket: Sequence[float | None], how: Aggregate) -> float | None:
    present = [v for v in bucket if v is not None]
    if not present:
        return None
    if how == "max":
        return max(present)
    if how == "min":
        return min(present)
    return math.fsum(present) / len(present)


def downsample(values: Sequence[float | None], width: int,
               how: Aggregate = "mean") -> list[float | None]:
    """``values`` as at most ``width`` columns: one per value, or one per bucket of values.

    Buckets are contiguous and as even as integer division allows; a bucket with no value
    at all stays ``None`` (an empty column).
    """
    if width <= 0:
        return []
    n = len(values)
    if n <= width:
        return list(values)
    return [_reduce(values[i * n // width:(i + 1) * n // width], how) for i in range(width)]


def _scale(columns: Sequence[float | None], threshold: float | None) -> tuple[float, float]:
    present = [v for v in columns if v is not None]
    if threshold is not None:
        present.append(threshold)
    return min(present), max(present)


def _eighths(value: float, lo: float, hi: float, height: int) -> int:
    """How many eighths of the chart's height ``value`` fills (at least one: a flat
    series, ``hi == lo``, is a line along the bottom)."""
    frac = 0.0 if hi <= lo else (value - lo) / (hi - lo)
    return max(1, min(height * 8, round(frac * height * 8)))


def threshold_row(threshold: float, lo: float, hi: float, height: int) -> int:
    """The chart row (0 = top) that holds the threshold's level (the bottom one on a flat
    scale, where the series' line is)."""
    frac = 0.0 if hi <= lo else (threshold - lo) / (hi - lo)
    from_bottom = max(0, min(height - 1, int(frac * height)))
    return height - 1 - from_bottom


def chart_rows(columns: Sequence[float | None], height: int,
               threshold: float | None = None) -> list[str]:
    """Block-character rows (top first) for ``columns``, with the threshold line dashed in.

    The dashes take the empty cells of the threshold's row; a bar that reaches into that
    row keeps its block there. No columns: blank rows.
    """
    width = len(columns)
    if height <= 0:
        return []
    if not any(v is not None for v in columns):
        return [" " * width for _ in range(height)]
    lo, hi = _scale(columns, threshold)
    filled = [0 if v is None else _eighths(v, lo, hi, height) for v in columns]
    line = threshold_row(threshold, lo, hi, height) if threshold is not None else -1
    rows = []
    for row in range(height):
        from_bottom = height - 1 - row
        cells = []
        for eighths in filled:
            fill = max(0, min(8, eighths - from_bottom * 8))
            cells.append(THRESHOLD_CHAR if fill == 0 and row == line else BLOCKS[fill])
        rows.append("".join(cells))
    return rows


def _fit(text: Text, width: int) -> Text:
    text.truncate(width, overflow="ellipsis")
    return text


def _head(data: TrendData, width: int, styles: TrendStyles) -> Text:
    value = Text(data.text(data.current),
                 style=styles.bad if data.is_bad(data.current) else styles.value)
    title = Text(data.title, style=styles.title)
    title.truncate(max(0, width - len(value) - 1), overflow="ellipsis")
    gap = max(1, width - len(title) - len(value))
    return _fit(Text.assemble(title, " " * gap, value), width)


def _range_line(data: TrendData, width: int, styles: TrendStyles) -> Text:
    present = [v for v in data.values if v is not None]
    lo = min(present) if present else None
    hi = max(present) if present else None
    return _fit(Text(f"min {data.text(lo)}  max {data.text(hi)}", style=styles.dim), width)


def _chart(data: TrendData, width: int, height: int, styles: TrendStyles) -> list[Text]:
    columns = downsample(data.values, width, data.aggregate)
    rows = chart_rows(columns, height, data.threshold)
    cell_styles = [styles.bad if data.is_bad(value) else styles.bar for value in columns]
    texts = []
    for row in rows:
        text = Text()
        run, run_style = "", None
        for char, bar_style in zip(row, cell_styles, strict=True):
            style = styles.threshold if char == THRESHOLD_CHAR else bar_style
            if style is not run_style and run:
                text.append(run, run_style)
                run = ""
            run, run_style = run + char, style
        if run:
            text.append(run, run_style)
        texts.append(text)
    return texts


def render_trend(data: TrendData, width: int, height: int,
                 styles: TrendStyles | None = None) -> Text:
    """The panel as text: title and value, the detail, min and max, then the chart.

    The chart gets every row below the text lines (at least one); the detail line is left
    out when there is none.
    """
    styles = styles or TrendStyles()
    width = max(1, width)
    lines = [_head(data, width, styles)]
    if data.detail:
        lines.append(_fit(Text(data.detail), width))
    lines.append(_range_line(data, width, styles))
    lines += _chart(data, width, max(1, height - len(lines)), styles)
    return Text("\n").join(lines)


# --- the widget ----------------------------------------------------------------------------


class Trend(Widget):
    """One panel of the night screen; set :attr:`data` to change what it shows."""

    DEFAULT_CSS = """
    Trend {
        height: 1fr;
        min-height: 5;
        border: round $primary 40%;
        background: $surface;
        padding: 0 1;
    }
    Trend > .trend--title { color: $foreground; text-style: bold; }
    Trend > .trend--value { color: $primary; text-style: bold; }
    Trend > .trend--dim { color: $foreground 60%; }
    Trend > .trend--bar { color: $primary; }
    Trend > .trend--bad { color: $error; text-style: bold; }
    Trend > .trend--threshold { color: $warning; }
    """

    COMPONENT_CLASSES = {
        "trend--title", "trend--value", "trend--dim", "trend--bar", "trend--bad",
        "trend--threshold",
    }

    data: reactive[TrendData] = reactive(TrendData(""), layout=False)

    def __init__(self, data: TrendData, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(Trend.data, data)

    def styles_from_theme(self) -> TrendStyles:
        get = self.get_component_rich_style
        return TrendStyles(
            title=get("trend--title"), value=get("trend--value"), dim=get("trend--dim"),
            bar=get("trend--bar"), bad=get("trend--bad"), threshold=get("trend--threshold"),
        )

    def render(self) -> Text:
        size = self.content_size
        return render_trend(self.data, size.width, size.height, self.styles_from_theme())
