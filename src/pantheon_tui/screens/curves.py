"""The learning curves: each agent's holdout pass rate against its training examples.

Opened from the Report screen (``l``, shown once a curve exists). One chart per agent
with every scope it was measured at, then per scope the fit
``p(N) = p₀ + (p̄ − p₀)(1 − e^(−αN))``, the N it needs for the target pass rate and the
measured points with their Wilson 95 % intervals.

The screen only reads ``agents/<agent>/curves/*.json`` (written by the engine): in a thread
worker, again every ``poll_s`` seconds when a curve file was added, removed or rewritten
(a look at the files' sizes and times; they are read only when those changed). A file that
cannot be read is listed, never fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from pantheon_engine.evals.curve import (
    CurveSet,
    LearningCurve,
    curve_files,
    fit_text,
    read_curves,
    target_text,
)
from pantheon_engine.evals.curve_report import POINT_HEADER, point_rows
from pantheon_tui.screens.base import PinnedKeysScreen
from pantheon_tui.themes import resolve_colour
from pantheon_tui.widgets.curve_chart import POINT_CHAR, CurveChart

__all__ = ["CurvesData", "CurvesScreen", "Signature", "curves_signature", "load_curves_view"]

#: theme variables the scopes take their colours from, in order (scopes sorted by name)
SCOPE_COLOURS = ("primary", "warning", "success", "error", "accent", "secondary")
CHART_HEIGHT = 11
EMPTY = ("No learning curves yet. `pantheon specialize AGENT --suite DIR` measures one; "
         "it is kept in agents/<agent>/curves/<scope>.json under the artifacts folder.")

Signature = tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of every curve file


def curves_signature(artifacts: Path) -> Signature:
    """What the curve files look like now: a change here means they are read again."""
    found = []
    for path in curve_files(artifacts):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


@dataclass(frozen=True)
class CurvesData:
    curves: CurveSet
    signature: Signature


def load_curves_view(artifacts: Path) -> CurvesData:
    """Read every curve under ``artifacts`` (blocking: run it in a thread)."""
    signature = curves_signature(artifacts)
    return CurvesData(read_curves(artifacts), signature)


def by_agent(curves: Sequence[LearningCurve]) -> dict[str, list[LearningCurve]]:
    groups: dict[str, list[LearningCurve]] = {}
    for curve in curves:
        groups.setdefault(curve.agent, []).append(curve)
    return groups


class CurvesScreen(PinnedKeysScreen):
    """Every learning curve under the artifacts folder, as text charts and tables."""

    BINDINGS = [
        Binding("escape,backspace", "close", "Back", id="curves.close"),
        Binding("g", "reload", "Refresh", id="curves.refresh"),
    ]

    DEFAULT_CSS = """
    CurvesScreen #curves-title {
        height: 1; padding: 0 1; background: $panel; color: $foreground;
    }
    CurvesScreen #curves-body { height: 1fr; padding: 0 1; }
    """

    class Loaded(Message):
        """The curve files were read (posted from the load thread)."""

        def __init__(self, data: CurvesData) -> None:
            super().__init__()
            self.data = data

    def __init__(self, artifacts: Path, *, poll_s: float = 2.0) -> None:
        super().__init__()
        self.artifacts = Path(artifacts)
        self.poll_s = poll_s
        self.data: CurvesData | None = None
        self.loads = 0  # how many reads have been shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading the learning curves …", id="curves-title", markup=False)
        with VerticalScroll(id="curves-body"):
            yield Static("", id="curves-content")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Learning curves"
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._show())
        self.reload()
        self.set_interval(self.poll_s, self._poll)

    # --- loading -------------------------------------------------------------------------

    def reload(self, *, known: Signature | None = None) -> None:
        """Read the curve files in a thread (only if they changed from ``known``)."""
        self._load(self.artifacts, known)

    def _poll(self) -> None:
        if self.is_current:
            self.reload(known=self.data.signature if self.data is not None else None)

    @work(thread=True, exclusive=True, group="curves-load", exit_on_error=False)
    def _load(self, artifacts: Path, known: Signature | None) -> None:
        if known is not None and curves_signature(artifacts) == known:
            return
        data = load_curves_view(artifacts)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(data))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.data = message.data
        self.loads += 1
        self._show()

    # --- drawing -------------------------------------------------------------------------

    def _styles(self, curves: Sequence[LearningCurve]) -> dict[str, str]:
        variables = self.app.get_css_variables()
        scopes = sorted({c.scope for c in curves})
        return {scope: resolve_colour(variables, SCOPE_COLOURS[i % len(SCOPE_COLOURS)])
                for i, scope in enumerate(scopes)}

    def _show(self) -> None:
        if self.data is None:
            return
        found = self.data.curves
        agents = by_agent(found.curves)
        title = (f"{len(found.curves)} curve{'s' if len(found.curves) != 1 else ''} of "
                 f"{len(agents)} agent{'s' if len(agents) != 1 else ''} · {self.artifacts}")
        if found.problems:
            title += f" · {len(found.problems)} unreadable"
        self.query_one("#curves-title", Static).update(title)
        self.query_one("#curves-content", Static).update(self.render_curves(found))

    def render_curves(self, found: CurveSet) -> RenderableType:
        """The screen's content: per agent its chart, then each scope's fit and points."""
        variables = self.app.get_css_variables()
        muted = resolve_colour(variables, "foreground-muted")
        alarm = f"bold {resolve_colour(variables, 'error')}"
        styles = self._styles(found.curves)
        parts: list[RenderableType] = []
        if not found.curves:
            parts.append(Text(EMPTY, style=muted))
        for agent, group in by_agent(found.curves).items():
            parts.append(Text(agent, style="bold"))
            parts.append(CurveChart(group, CHART_HEIGHT, styles=styles, target_style=muted,
                                    axis_style=muted))
            for curve in group:
                parts.append(Text(""))
                parts += self._scope_facts(curve, styles.get(curve.scope, ""), muted)
            parts.append(Text(""))
        for problem in found.problems:
            parts.append(Text(f"unreadable: {problem}", style=alarm))
        return Group(*parts)

    def _scope_facts(self, curve: LearningCurve, style: str,
                     muted: str) -> list[RenderableType]:
        head = Text.assemble((f"{POINT_CHAR} {curve.scope}", f"bold {style}".strip()),
                             (f"  {curve.suite} {curve.split}", muted))
        if curve.description:
            head.append(f"  {curve.description}", style=muted)
        lines: list[RenderableType] = [head]
        if curve.fit is not None:
            lines.append(Text("fit " + fit_text(curve.fit)))
            if curve.fit.note:
                lines.append(Text(curve.fit.note, style=muted))
        else:
            lines.append(Text(f"no fit: {curve.fit_reason}", style=muted))
        target = target_text(curve)
        if target:
            lines.append(Text(target))
        table = Table(box=None, padding=(0, 2, 0, 0), header_style=muted, show_edge=False)
        for index, name in enumerate(POINT_HEADER):
            table.add_column(name, justify="right" if index < 3 else "left", no_wrap=True)
        for row in point_rows(curve):
            table.add_row(*row)
        lines.append(table)
        return lines

    # --- actions -------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.reload()
