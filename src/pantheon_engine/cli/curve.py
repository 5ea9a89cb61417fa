"""``pantheon curve``: show learning curves, or add a point measured by ``pantheon eval``.

``pantheon specialize`` measures a curve from its own checkpoints. A curve point can also
come from any holdout eval of a version trained on N examples (a training of your own, an
earlier night): ``pantheon curve add AGENT --scope S --examples N --eval EVAL_JSON``.

Exit status: 0 done, 2 for bad input (an eval of another agent or suite, a train split, a
scope or agent that cannot name a file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import ArtifactsOption, err_console, fail, say
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.evals.curve import LearningCurve

curve_app = typer.Typer(no_args_is_help=True,
                        help="Learning curves: pass rate against training examples.")


@curve_app.command("show")
def curve_show(artifacts: ArtifactsOption = Path("artifacts")) -> None:
    """Every learning curve under the artifacts folder: points, fit, N for the target."""
    from pantheon_engine.evals.curve import read_curves, render_text

    found = read_curves(artifacts)
    for problem in found.problems:
        err_console.print(f"skipped {problem}", highlight=False, soft_wrap=True, markup=False)
    if not found.curves:
        say(f"no learning curve under {artifacts} yet (pantheon specialize measures one)")
        return
    for curve in found.curves:
        say(render_text(curve))


def add_point(artifacts: Path, agent: str, scope: str, examples: int, eval_json: Path, *,
              target: float | None = None, description: str | None = None
              ) -> tuple[LearningCurve, Path]:
    """Add the eval in ``eval_json`` as the point at ``examples`` of ``agent``'s ``scope``
    curve (created when missing); returns the curve and its file."""
    from pantheon_engine.atomic import read_json
    from pantheon_engine.evals.curve import (
        CurvePoint,
        curve_path,
        make_curve,
        save_curve,
    )
    from pantheon_engine.evals.results import EvalResult

    if examples < 0:
        raise ConfigError(f"--examples must be 0 or more, got {examples}")
    try:
        result = EvalResult.model_validate(read_json(eval_json))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--eval {eval_json}: not an eval.json ({exc})") from None
    if AgentRef.name_of(result.agent) != agent:
        raise ConfigError(f"--eval {eval_json} measured {result.agent}, not {agent}")
    if result.split != "holdout":
        raise ConfigError(f"--eval {eval_json} ran on the {result.split} split",
                          hint="a curve point is measured on holdout tasks")
    # pass_rate and interval follow from passed and total (the model's validator)
    point = CurvePoint.model_validate({
        "examples": examples, "passed": result.passed_samples, "total": result.total_samples,
        "version": result.agent, "eval_id": result.eval_id})
    path = curve_path(artifacts, agent, scope)
    if path.is_file():
        curve = LearningCurve.model_validate(read_json(path))
        if curve.suite != result.suite:
            raise ConfigError(f"the {scope} curve of {agent} is measured on {curve.suite}; "
                              f"this eval ran on {result.suite}",
                              hint="points of one curve share their holdout tasks")
        if target is not None or description is not None:
            curve = curve.model_copy(update={
                "target": target if target is not None else curve.target,
                "description": description or curve.description})
        curve = curve.with_point(point)
    else:
        curve = make_curve(agent, scope, result.suite, [point], target=target,
                           description=description)
    return curve, save_curve(artifacts, curve)


@curve_app.command("add")
def curve_add(
    agent: Annotated[str, typer.Argument(help="the agent the curve is about")],
    scope: Annotated[str, typer.Option("--scope", help="the task scope, e.g. file or rule")],
    examples: Annotated[int, typer.Option(
        "--examples", help="training examples the evaluated version learnt from (N)")],
    eval_json: Annotated[Path, typer.Option("--eval", help="the version's holdout eval.json")],
    target: Annotated[float | None, typer.Option(
        "--target", help="pass rate whose N the fit predicts")] = None,
    description: Annotated[str | None, typer.Option(
        "--description", help="the scope in words, for the report")] = None,
    artifacts: ArtifactsOption = Path("artifacts"),
) -> None:
    """Add one measured point (N examples → an eval's pass rate) to a learning curve."""
    from pantheon_engine.evals.curve import render_text

    try:
        curve, path = add_point(artifacts, AgentRef.parse(agent).name, scope, examples,
                                eval_json, target=target, description=description)
    except PantheonError as exc:
        fail(exc)
    say(render_text(curve))
    say(f"curve: {path}")
