"""The learning curve: holdout pass rate against the number of training examples.

The seeds model how a narrow agent improves with ``N`` good examples as

    p(N) = p₀ + (p̄ − p₀)(1 − e^(−αN))

``p₀`` is the pass rate with no training (the base), ``p̄`` the asymptote the agent tends
to with unlimited examples, and ``α`` how fast it gets there: half of the gain is reached
at ``N = ln 2 / α``. A tighter task scope is expected to learn faster (larger ``α``), which
is why a curve is kept per agent *and* scope (one rule per task, every rule of a file, …).

Each point is one adapter trained on ``examples`` examples and evaluated on the suite's
holdout split: ``passed`` of ``total`` tasks, with the Wilson 95 % interval.
:func:`fit_curve` fits the three parameters by weighted least squares; :func:`solve_target`
says how many examples the fit needs to reach a target pass rate.

Layout under the artifacts folder::

    agents/<agent>/curves/<scope>.json   one LearningCurve per agent and scope

Writes are atomic; :func:`read_curves` skips (and reports) a file it cannot read, so a
broken file never takes the morning report or the control room down.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from pantheon_engine.artifacts import utc_now
from pantheon_engine.atomic import atomic_write_json, read_json
from pantheon_engine.errors import UserError
from pantheon_engine.evals.stats import wilson_interval

__all__ = [
    "CURVES_DIR",
    "MIN_POINTS",
    "CurveError",
    "CurveFit",
    "CurvePoint",
    "CurveSet",
    "LearningCurve",
    "TargetN",
    "curve_files",
    "curve_path",
    "fit_curve",
    "fit_or_reason",
    "fit_text",
    "load_curves",
    "make_curve",
    "n_for_target",
    "read_curves",
    "render_text",
    "save_curve",
    "solve_target",
    "target_text",
]

log = logging.getLogger(__name__)

CURVES_DIR = "curves"
FORMAT = 1
#: three parameters need at least three distinct N
MIN_POINTS = 3
#: the α search spans g = 1 − e^(−αN) from 1 % of the way at the largest N (nearly a
#: straight line) to e^(−20) short of the asymptote at the smallest positive N (a step)
ALPHA_LOW_GAIN = 0.01
ALPHA_HIGH_EXPONENT = 20.0
GRID_POINTS = 240
REFINE_STEPS = 80

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CurveError(UserError):
    """A curve that cannot be stored as asked: a bad agent or scope name, a bad target."""


# --------------------------------------------------------------------------- models


class CurvePoint(BaseModel):
    """One measured point: an agent trained on ``examples`` examples, evaluated on the
    holdout. ``pass_rate`` and ``interval`` (Wilson 95 %) follow from ``passed`` and
    ``total`` when not given."""

    examples: int = Field(ge=0)
    passed: int = Field(ge=0)
    total: int = Field(ge=0)
    pass_rate: float
    interval: tuple[float, float]
    version: str | None = None  # the agent@N that was evaluated
    train_seconds: float | None = None
    eval_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _rate_and_interval(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        passed, total = data.get("passed"), data.get("total")
        if isinstance(passed, int) and isinstance(total, int) and passed > total >= 0:
            raise ValueError(f"passed ({passed}) is more than total ({total})")
        if isinstance(passed, int) and isinstance(total, int) and 0 <= passed <= total:
            data = dict(data)
            data.setdefault("pass_rate", passed / total if total else 0.0)
            data.setdefault("interval", wilson_interval(passed, total))
        return data

    @model_validator(mode="after")
    def _consistent(self) -> CurvePoint:
        if self.passed > self.total:
            raise ValueError(f"passed ({self.passed}) is more than total ({self.total})")
        return self


class CurveFit(BaseModel):
    """``p(N) = p0 + (p_bar − p0)(1 − e^(−alpha·N))`` fitted to a curve's points.

    ``rmse`` is the root mean square of the pass-rate residuals, weighted by each point's
    number of tasks as the fit is; ``note`` says when the points do not pin ``alpha``
    down (the best ``alpha`` lies at an end of the range searched).
    """

    p0: float
    p_bar: float
    alpha: float
    rmse: float
    points_used: int
    note: str | None = None

    def predict(self, examples: float) -> float:
        """The fitted pass rate after ``examples`` examples."""
        return self.p0 + (self.p_bar - self.p0) * -math.expm1(-self.alpha * examples)

    def n_half(self) -> float:
        """The N at which half of the gain ``p_bar − p0`` is reached: ``ln 2 / alpha``."""
        return math.log(2) / self.alpha


class TargetN(BaseModel):
    """How many examples the fit needs to reach ``target`` (``n``), or why it has no
    answer (``reason``)."""

    target: float
    n: float | None = None
    reason: str | None = None


class LearningCurve(BaseModel):
    """An agent's pass rate on a suite's split against training examples, for one scope."""

    format: int = FORMAT
    agent: str
    scope: str  # e.g. "rule" (one rule per task) or "file" (every rule of a file)
    description: str | None = None  # the scope in words, for the report's legend
    suite: str
    split: str = "holdout"
    points: list[CurvePoint] = Field(default_factory=list)
    fit: CurveFit | None = None
    fit_reason: str | None = None  # why there is no fit
    target: float | None = None
    n_for_target: float | None = None
    target_reason: str | None = None  # why there is no N for the target
    created_at: str = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _reasons(self) -> LearningCurve:
        """Say why there is no fit, or no N for the target, when the writer did not."""
        if self.fit is None and self.fit_reason is None:
            self.fit_reason = fit_or_reason(self.points)[1] or "not fitted"
        if (self.fit is not None and self.target is not None and self.n_for_target is None
                and self.target_reason is None and 0.0 <= self.target <= 1.0):
            self.target_reason = solve_target(self.fit, self.target).reason
        return self

    def with_point(self, point: CurvePoint) -> LearningCurve:
        """This curve with ``point`` added (replacing one at the same N), fitted again."""
        kept = [p for p in self.points if p.examples != point.examples]
        return make_curve(
            self.agent, self.scope, self.suite, [*kept, point], split=self.split,
            target=self.target, description=self.description,
        )


class CurveSet(BaseModel):
    """Every readable curve under an artifacts folder, and a line per file that was not."""

    curves: list[LearningCurve] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- the fit


def _weighted(points: Iterable[CurvePoint]) -> list[tuple[float, float, float]]:
    """(N, pass rate, weight) of the points that measured anything."""
    return [(float(p.examples), p.passed / p.total, float(p.total)) for p in points if p.total]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _solve_linear(
    data: Sequence[tuple[float, float, float]], alpha: float
) -> tuple[float, float, float]:
    """For a fixed ``alpha`` the model is linear in ``p0`` and ``p_bar``:
    ``p = p0·a + p_bar·b`` with ``a = e^(−αN)``, ``b = 1 − a``. Returns the weighted least
    squares ``(p0, p_bar, sse)`` with both kept in [0, 1] (the normal equations when their
    solution is inside the box, else the best point on its edges: the objective is a convex
    quadratic, so that is the box's optimum)."""
    rows = [(math.exp(-alpha * n), -math.expm1(-alpha * n), y, w) for n, y, w in data]
    saa = sum(w * a * a for a, _, _, w in rows)
    sab = sum(w * a * b for a, b, _, w in rows)
    sbb = sum(w * b * b for _, b, _, w in rows)
    say = sum(w * a * y for a, _, y, w in rows)
    sby = sum(w * b * y for _, b, y, w in rows)

    def sse(p0: float, pb: float) -> float:
        return sum(w * (p0 * a + pb * b - y) ** 2 for a, b, y, w in rows)

    det = saa * sbb - sab * sab
    if det > 1e-12 * max(saa * sbb, 1e-300):
        p0 = (say * sbb - sby * sab) / det
        pb = (sby * saa - say * sab) / det
        if 0.0 <= p0 <= 1.0 and 0.0 <= pb <= 1.0:
            return p0, pb, sse(p0, pb)
    candidates = []
    for edge in (0.0, 1.0):
        pb = _clamp((sby - sab * edge) / sbb) if sbb > 0 else edge
        candidates.append((edge, pb))
        p0 = _clamp((say - sab * edge) / saa) if saa > 0 else edge
        candidates.append((p0, edge))
    best = min(candidates, key=lambda c: sse(*c))
    return best[0], best[1], sse(*best)


def fit_or_reason(points: Sequence[CurvePoint]) -> tuple[CurveFit | None, str | None]:
    """:func:`fit_curve`'s fit, or ``None`` and why there is none."""
    data = _weighted(points)
    distinct = sorted({n for n, _, _ in data})
    if len(distinct) < MIN_POINTS:
        return None, (
            f"needs at least {MIN_POINTS} points at different N with tasks evaluated, "
            f"has {len(distinct)}"
        )
    positive = [n for n in distinct if n > 0]
    low = math.log(ALPHA_LOW_GAIN / distinct[-1])
    high = math.log(ALPHA_HIGH_EXPONENT / positive[0])

    def cost(log_alpha: float) -> float:
        return _solve_linear(data, math.exp(log_alpha))[2]

    grid = [low + (high - low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]
    costs = [cost(x) for x in grid]
    best = min(range(GRID_POINTS), key=costs.__getitem__)
    # golden-section search between the best grid point's neighbours
    a, b = grid[max(0, best - 1)], grid[min(GRID_POINTS - 1, best + 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = cost(c), cost(d)
    for _ in range(REFINE_STEPS):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = cost(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = cost(d)
    log_alpha = min((c, fc), (d, fd), (grid[best], costs[best]), key=lambda t: t[1])[0]
    alpha = math.exp(log_alpha)
    p0, p_bar, sse = _solve_linear(data, alpha)
    weight = sum(w for _, _, w in data)
    note = None
    if abs(p_bar - p0) < 1e-6:
        note = "no change with N (p̄ = p₀): α means nothing here"
    elif best == 0:
        note = "the rise is close to a straight line over these N: α is not pinned down"
    elif best == GRID_POINTS - 1:
        note = "the rise is a step before the smallest N measured: α is not pinned down"
    return CurveFit(p0=p0, p_bar=p_bar, alpha=alpha, rmse=math.sqrt(sse / weight),
                    points_used=len(data), note=note), None


def fit_curve(points: Sequence[CurvePoint]) -> CurveFit | None:
    """Fit ``p(N) = p0 + (p_bar − p0)(1 − e^(−alpha·N))`` to ``points`` (None with fewer
    than three distinct N; :func:`fit_or_reason` says why).

    Least squares on the pass rates, each point weighted by its number of tasks. For a
    fixed ``alpha`` the model is linear in ``p0`` and ``p_bar``, which are solved in closed
    form (kept in [0, 1]); ``alpha`` is searched on a log grid spanning the N measured,
    then refined by golden-section search around the best grid point.
    """
    return fit_or_reason(points)[0]


def solve_target(fit: CurveFit, target: float) -> TargetN:
    """The N at which the fit reaches ``target``: ``ln((p̄ − p₀) / (p̄ − target)) / α``.

    No answer when the target is at or below ``p0`` (the untrained agent is already there)
    or at or above the asymptote ``p_bar`` (no number of examples reaches it).
    """
    if not 0.0 <= target <= 1.0:
        raise CurveError(f"target pass rate {target} is not between 0 and 1",
                         hint="give it as a fraction: 0.5 for 50 %")
    if target <= fit.p0:
        return TargetN(target=target, reason=(
            f"at or below p₀ = {_pct(fit.p0)}: reached with no training"))
    if target >= fit.p_bar:
        return TargetN(target=target, reason=(
            f"at or above the asymptote p̄ = {_pct(fit.p_bar)}: more examples of this "
            "kind do not reach it"))
    n = math.log((fit.p_bar - fit.p0) / (fit.p_bar - target)) / fit.alpha
    return TargetN(target=target, n=n)


def n_for_target(fit: CurveFit, target: float) -> float | None:
    """The examples needed to reach ``target``, or None (:func:`solve_target` says why)."""
    return solve_target(fit, target).n


def make_curve(
    agent: str,
    scope: str,
    suite: str,
    points: Iterable[CurvePoint],
    *,
    split: str = "holdout",
    target: float | None = None,
    description: str | None = None,
) -> LearningCurve:
    """A curve from measured points: sorted by N, fitted, and solved for ``target``."""
    _check_name("agent", agent)
    _check_name("scope", scope)
    if target is not None and not 0.0 <= target <= 1.0:
        raise CurveError(f"target pass rate {target} is not between 0 and 1",
                         hint="give it as a fraction: 0.5 for 50 %")
    ordered = sorted(points, key=lambda p: p.examples)
    fit, fit_reason = fit_or_reason(ordered)
    solved = solve_target(fit, target) if fit is not None and target is not None else None
    return LearningCurve(
        agent=agent, scope=scope, description=description, suite=suite, split=split,
        points=ordered, fit=fit, fit_reason=fit_reason, target=target,
        n_for_target=solved.n if solved else None,
        target_reason=solved.reason if solved else None,
    )


# --------------------------------------------------------------------------- files


def _check_name(what: str, name: str) -> None:
    if not _NAME.match(name) or ".." in name:
        raise CurveError(f"{what} {name!r} cannot name a curve file",
                         hint="letters, digits, '.', '_' and '-', not starting with '.'")


def curve_path(artifacts: Path | str, agent: str, scope: str) -> Path:
    """``<artifacts>/agents/<agent>/curves/<scope>.json``."""
    _check_name("agent", agent)
    _check_name("scope", scope)
    return Path(artifacts) / "agents" / agent / CURVES_DIR / f"{scope}.json"


def save_curve(artifacts: Path | str, curve: LearningCurve) -> Path:
    """Write ``curve`` atomically to its file (replacing the scope's previous curve)."""
    path = curve_path(artifacts, curve.agent, curve.scope)
    atomic_write_json(path, curve.model_dump(mode="json"))
    return path


def curve_files(artifacts: Path | str) -> list[Path]:
    """Every curve file under ``artifacts``, sorted (agent, then scope)."""
    root = Path(artifacts) / "agents"
    try:
        return sorted(p for p in root.glob(f"*/{CURVES_DIR}/*.json") if p.is_file())
    except OSError:
        return []


def read_curves(artifacts: Path | str) -> CurveSet:
    """Every readable curve under ``artifacts``; a file that is not valid JSON, or not a
    curve, is left out with a line in ``problems``."""
    found = CurveSet()
    base = Path(artifacts)
    for path in curve_files(base):
        rel = path.relative_to(base).as_posix()
        try:
            curve = LearningCurve.model_validate(read_json(path))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            found.problems.append(f"{rel}: {_why(exc)}")
            continue
        found.curves.append(curve)
    return found


def load_curves(artifacts: Path | str) -> list[LearningCurve]:
    """The readable curves under ``artifacts``; each unreadable file is logged and skipped."""
    found = read_curves(artifacts)
    for problem in found.problems:
        log.warning("learning curve skipped: %s", problem)
    return found.curves


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "file"
        return f"not a learning curve ({where}: {err['msg']})"
    if isinstance(exc, ValueError):  # json.JSONDecodeError is one
        return f"not valid JSON ({exc})"
    return str(exc)


# --------------------------------------------------------------------------- text


def _pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def fit_text(fit: CurveFit) -> str:
    """``p(N) = 2 % + (71 % − 2 %)(1 − e^(−0.0120·N))`` and how well it fits."""
    return (
        f"p(N) = {_pct(fit.p0)} + ({_pct(fit.p_bar)} − {_pct(fit.p0)})"
        f"(1 − e^(−{fit.alpha:.3g}·N)); half the gain by N ≈ {fit.n_half():.0f}; "
        f"rmse {fit.rmse:.3f} over {fit.points_used} points"
    )


def target_text(curve: LearningCurve) -> str | None:
    """``target 50 %: N ≈ 120 examples`` (or why not), None when the curve has no target."""
    if curve.target is None:
        return None
    head = f"target {_pct(curve.target)}: "
    if curve.n_for_target is not None:
        return head + f"N ≈ {math.ceil(curve.n_for_target)} examples"
    if curve.fit is None:
        return head + "no fit yet"
    return head + (curve.target_reason or "not reached")


def render_text(curve: LearningCurve) -> str:
    """A few lines for a terminal: the points, the fit, the N for the target."""
    where = f"{curve.suite} {curve.split}"
    lines = [f"{curve.agent} · scope {curve.scope} · {where}"]
    if curve.description:
        lines.append(f"  {curve.description}")
    lines.append(f"  {'N':>6}  {'passed':>9}  {'rate':>5}  95 % interval")
    for p in curve.points:
        low, high = p.interval
        lines.append(
            f"  {p.examples:>6}  {f'{p.passed}/{p.total}':>9}  {_pct(p.pass_rate):>5}  "
            f"[{_pct(low)}, {_pct(high)}]"
        )
    lines.append("  fit: " + (fit_text(curve.fit) if curve.fit else f"none ({curve.fit_reason})"))
    if curve.fit is not None and curve.fit.note:
        lines.append(f"  note: {curve.fit.note}")
    target = target_text(curve)
    if target:
        lines.append(f"  {target}")
    return "\n".join(lines)
