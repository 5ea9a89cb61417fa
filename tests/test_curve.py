"""The learning curve: the fit of p(N) = p0 + (p_bar − p0)(1 − e^(−αN)), the N for a
target, the curve files, and the report's section and chart."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest

from pantheon_engine.evals.curve import (
    CurveError,
    CurveFit,
    CurvePoint,
    LearningCurve,
    curve_path,
    fit_curve,
    fit_or_reason,
    load_curves,
    make_curve,
    n_for_target,
    read_curves,
    render_text,
    save_curve,
    solve_target,
)
from pantheon_engine.evals.curve_svg import curves_svg, nice_step, x_axis
from pantheon_engine.evals.stats import wilson_interval

SIZES = (0, 25, 50, 100, 200, 400, 800)


def model(p0: float, p_bar: float, alpha: float, n: float) -> float:
    return p0 + (p_bar - p0) * (1 - math.exp(-alpha * n))


def exact_points(p0: float, p_bar: float, alpha: float, sizes: tuple[int, ...] = SIZES,
                 total: int = 1_000_000) -> list[CurvePoint]:
    """Points on the curve itself (to one part in a million)."""
    return [CurvePoint(examples=n, passed=round(model(p0, p_bar, alpha, n) * total),
                       total=total) for n in sizes]


def noisy_points(p0: float, p_bar: float, alpha: float, total: int, seed: int,
                 sizes: tuple[int, ...] = SIZES) -> list[CurvePoint]:
    """Each point a binomial draw of ``total`` tasks, as an eval on a holdout gives."""
    rng = random.Random(seed)
    points = []
    for n in sizes:
        p = model(p0, p_bar, alpha, n)
        points.append(CurvePoint(examples=n, passed=sum(rng.random() < p for _ in range(total)),
                                 total=total))
    return points


# --------------------------------------------------------------------------- points


def test_a_point_carries_its_rate_and_wilson_interval() -> None:
    point = CurvePoint(examples=100, passed=3, total=12)
    assert point.pass_rate == 0.25
    assert point.interval == wilson_interval(3, 12)
    assert CurvePoint(examples=0, passed=0, total=0).interval == (0.0, 1.0)
    with pytest.raises(ValueError, match="more than total"):
        CurvePoint(examples=0, passed=5, total=4)
    with pytest.raises(ValueError):
        CurvePoint(examples=-1, passed=0, total=4)


# --------------------------------------------------------------------------- the fit


@pytest.mark.parametrize(
    ("p0", "p_bar", "alpha"),
    [(0.0, 0.7, 0.012), (0.05, 0.8, 0.004), (0.2, 0.95, 0.05), (0.1, 0.6, 0.0015)],
)
def test_the_fit_recovers_the_parameters_of_noiseless_points(p0: float, p_bar: float,
                                                             alpha: float) -> None:
    fit = fit_curve(exact_points(p0, p_bar, alpha))
    assert fit is not None and fit.points_used == len(SIZES) and fit.note is None
    assert fit.p0 == pytest.approx(p0, abs=1e-4)
    assert fit.p_bar == pytest.approx(p_bar, abs=1e-4)
    assert fit.alpha == pytest.approx(alpha, rel=1e-3)
    assert fit.rmse < 1e-5
    assert fit.predict(0) == pytest.approx(p0, abs=1e-4)
    assert fit.n_half() == pytest.approx(math.log(2) / alpha, rel=1e-3)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_recovers_the_parameters_of_noisy_points(seed: int) -> None:
    """200 holdout tasks per point, as the docops suite has: the noise is binomial."""
    fit = fit_curve(noisy_points(0.02, 0.7, 0.01, total=200, seed=seed))
    assert fit is not None
    assert fit.p0 == pytest.approx(0.02, abs=0.05)
    assert fit.p_bar == pytest.approx(0.7, abs=0.06)
    assert 0.006 < fit.alpha < 0.016
    assert 0.005 < fit.rmse < 0.06  # about the binomial noise of 200 tasks, not zero


def test_points_weigh_by_their_number_of_tasks() -> None:
    """A point of 4 tasks that disagrees moves the fit far less than one of 4000 would."""
    points = exact_points(0.0, 0.6, 0.02, total=4000)
    odd = CurvePoint(examples=300, passed=0, total=4)
    light = fit_curve([*points, odd])
    heavy = fit_curve([*points, odd.model_copy(update={"passed": 0, "total": 4000})])
    assert light is not None and heavy is not None
    assert light.p_bar == pytest.approx(0.6, abs=0.01)
    assert heavy.p_bar < 0.5


def test_the_fit_keeps_rates_between_zero_and_one() -> None:
    # a drop below zero and a rise above one, if the line were followed
    falling = [CurvePoint(examples=n, passed=p, total=100)
               for n, p in ((0, 2), (100, 1), (200, 0), (400, 0))]
    fit = fit_curve(falling)
    assert fit is not None and 0.0 <= fit.p0 <= 1.0 and 0.0 <= fit.p_bar <= 1.0
    rising = [CurvePoint(examples=n, passed=p, total=100)
              for n, p in ((0, 90), (10, 99), (20, 100), (40, 100))]
    fit = fit_curve(rising)
    assert fit is not None and fit.p_bar == 1.0 and 0.85 <= fit.p0 <= 0.95


def test_too_few_points_give_no_fit_and_say_why() -> None:
    two = [CurvePoint(examples=n, passed=10, total=50) for n in (0, 100)]
    repeated = [*two, CurvePoint(examples=100, passed=12, total=50)]
    unmeasured = [*two, CurvePoint(examples=200, passed=0, total=0)]
    for points in (two, repeated, unmeasured, []):
        fit, reason = fit_or_reason(points)
        assert fit is None and reason is not None and "at least 3 points" in reason
        assert fit_curve(points) is None


def test_alpha_not_pinned_down_is_said() -> None:
    step = fit_curve(exact_points(0.0, 0.9, 2.0, sizes=(0, 50, 100, 200)))
    assert step is not None and step.note and "step" in step.note
    assert step.p_bar == pytest.approx(0.9, abs=1e-3)
    flat = fit_curve([CurvePoint(examples=n, passed=20, total=200) for n in (0, 50, 100)])
    assert flat is not None and flat.p0 == pytest.approx(0.1) and flat.p_bar == pytest.approx(0.1)
    assert flat.note and "no change" in flat.note


# --------------------------------------------------------------------------- the target


def test_n_for_target_inverts_the_curve() -> None:
    fit = CurveFit(p0=0.1, p_bar=0.7, alpha=0.01, rmse=0.0, points_used=5)
    n = n_for_target(fit, 0.5)
    assert n == pytest.approx(math.log(0.6 / 0.2) / 0.01)
    assert fit.predict(n) == pytest.approx(0.5)
    assert n_for_target(fit, 0.4) == pytest.approx(fit.n_half())  # half of the gain


def test_unreachable_targets_have_no_n_and_say_which() -> None:
    fit = CurveFit(p0=0.1, p_bar=0.7, alpha=0.01, rmse=0.0, points_used=5)
    for target in (0.7, 0.9):
        solved = solve_target(fit, target)
        assert solved.n is None and solved.reason and "asymptote" in solved.reason
        assert n_for_target(fit, target) is None
    for target in (0.1, 0.05):
        solved = solve_target(fit, target)
        assert solved.n is None and solved.reason and "p₀" in solved.reason
    falling = CurveFit(p0=0.3, p_bar=0.1, alpha=0.01, rmse=0.0, points_used=5)
    assert "asymptote" in (solve_target(falling, 0.5).reason or "")
    with pytest.raises(CurveError, match="between 0 and 1"):
        solve_target(fit, 50)


def test_make_curve_fits_and_solves_for_the_target() -> None:
    points = exact_points(0.0, 0.7, 0.012, sizes=(400, 0, 100, 50, 200))
    curve = make_curve("doc.frontmatter", "rule", "suites/docops-7", points, target=0.5)
    assert [p.examples for p in curve.points] == [0, 50, 100, 200, 400]
    assert curve.fit is not None and curve.fit_reason is None
    assert curve.n_for_target == pytest.approx(math.log(0.7 / 0.2) / 0.012, rel=1e-3)
    high = make_curve("doc.frontmatter", "rule", "s", points, target=0.9)
    assert high.n_for_target is None and "asymptote" in (high.target_reason or "")
    short = make_curve("doc.frontmatter", "rule", "s", points[:2], target=0.5)
    assert short.fit is None and "at least 3 points" in (short.fit_reason or "")
    # a point measured again replaces the old one and the curve is fitted again
    again = curve.with_point(CurvePoint(examples=100, passed=0, total=1_000_000))
    assert [p.passed for p in again.points if p.examples == 100] == [0]
    assert again.fit is not None and again.fit.rmse > 0.05


def test_a_curve_written_without_reasons_gets_them() -> None:
    points = exact_points(0.0, 0.7, 0.012, sizes=(0, 100))
    curve = LearningCurve(agent="a", scope="rule", suite="s", points=points)
    assert curve.fit is None and "at least 3 points" in (curve.fit_reason or "")
    fit = CurveFit(p0=0.1, p_bar=0.4, alpha=0.01, rmse=0.0, points_used=3)
    curve = LearningCurve(agent="a", scope="rule", suite="s", points=points, fit=fit,
                          target=0.5)
    assert "asymptote" in (curve.target_reason or "")


# --------------------------------------------------------------------------- files


def _curve(scope: str = "rule", target: float | None = 0.5) -> LearningCurve:
    points = [
        CurvePoint(examples=n, passed=p, total=200, version=f"doc.frontmatter@{i + 1}",
                   train_seconds=12.5 * n, eval_id=f"e{i}")
        for i, (n, p) in enumerate(((0, 0), (50, 61), (100, 98), (200, 126), (400, 141)))
    ]
    return make_curve("doc.frontmatter", scope, "suites/docops-7", points, target=target,
                      description="one rule per task" if scope == "rule" else None)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    rule, file = _curve("rule"), _curve("file", target=None)
    path = save_curve(tmp_path, rule)
    assert path == tmp_path / "agents" / "doc.frontmatter" / "curves" / "rule.json"
    save_curve(tmp_path, file)
    assert not list(path.parent.glob("*.tmp"))
    assert json.loads(path.read_text())["fit"]["alpha"] == rule.fit.alpha  # type: ignore[union-attr]
    assert load_curves(tmp_path) == [file, rule]  # sorted by agent, then scope
    # saving the same scope again replaces it
    save_curve(tmp_path, rule.with_point(CurvePoint(examples=800, passed=150, total=200)))
    assert [len(c.points) for c in load_curves(tmp_path)] == [5, 6]


def test_a_broken_curve_file_is_reported_not_fatal(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    save_curve(tmp_path, _curve("rule"))
    curves = tmp_path / "agents" / "doc.frontmatter" / "curves"
    (curves / "torn.json").write_text('{"agent": "doc.fr')
    (curves / "odd.json").write_text('{"agent": "x"}')
    (curves / "list.json").write_text("[1, 2]")
    found = read_curves(tmp_path)
    assert [c.scope for c in found.curves] == ["rule"]
    assert len(found.problems) == 3
    problems = "\n".join(found.problems)
    assert "agents/doc.frontmatter/curves/torn.json: not valid JSON" in problems
    assert "odd.json: not a learning curve" in problems
    assert [c.scope for c in load_curves(tmp_path)] == ["rule"]
    assert "torn.json" in caplog.text
    assert read_curves(tmp_path / "missing").curves == []


def test_names_that_would_leave_the_curves_folder_are_refused(tmp_path: Path) -> None:
    for agent, scope in (("../x", "rule"), ("a", "../../etc"), ("a", ".hidden"), ("a/b", "r"),
                         ("a", "")):
        with pytest.raises(CurveError, match="cannot name a curve file"):
            curve_path(tmp_path, agent, scope)
    with pytest.raises(CurveError):
        make_curve("doc.frontmatter", "a/b", "s", [])


def test_render_text_shows_points_fit_and_target() -> None:
    text = render_text(_curve("rule"))
    assert text.splitlines()[0] == "doc.frontmatter · scope rule · suites/docops-7 holdout"
    assert "61/200" in text and "[25 %, 37 %]" in text
    assert "fit: p(N) = 0 % + (" in text and "half the gain by N ≈" in text
    assert re.search(r"target 50 %: N ≈ \d+ examples", text)
    short = render_text(make_curve("a", "file", "s", _curve().points[:2], target=0.5))
    assert "fit: none (needs at least 3 points" in short
    assert "target 50 %: no fit yet" in short


# --------------------------------------------------------------------------- the chart


def test_nice_axis() -> None:
    assert [nice_step(s) for s in (400, 1000, 7, 0)] == [100, 200, 2, 1]
    assert x_axis([_curve("rule")]) == (400, 100)
    assert x_axis([]) == (1, 1)


def test_the_chart_shows_points_intervals_fit_and_target() -> None:
    rule, file = _curve("rule"), _curve("file")
    svg = curves_svg([rule, file], {"rule": "#111111", "file": "#222222"},
                     title="doc.frontmatter")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script" not in svg and "href" not in svg and "http" not in svg
    assert svg.count('class="point"') == 10
    assert svg.count('class="fit"') == 2 and svg.count('class="target"') == 1
    assert 'stroke-dasharray="6 4"' in svg and "target 50 %" in svg
    assert "training examples (N)" in svg and "pass rate (holdout)" in svg
    assert "#111111" in svg and "#222222" in svg
    assert "rule, N = 50: 61/200 passed, 30 % [25 %, 37 %]" in svg
    # a curve not fitted yet: its points, no line
    short = curves_svg([make_curve("a", "rule", "s", rule.points[:2], target=0.5)])
    assert short.count('class="point"') == 2 and 'class="fit"' not in short
