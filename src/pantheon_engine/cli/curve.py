"""``pantheon curve``: show learning curves, or add a point measured by ``pantheon eval``.

``pantheon specialize`` measures a curve from its own checkpoints. A curve point can also
come from any holdout eval of a version trained on N examples (a training of your own, an
earlier night): ``pantheon curve add AGENT --scope S --examples N --eval EVAL_JSON``.

Exit status: 0 done, 2 for bad input (an eval of another agent or suite, a train split, a
scope or agent that cannot name a file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from pantheon_engine import file_problems
from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import (
    ArtifactsOption,
    JsonOption,
    fail,
    print_json,
    say,
    say_err,
)
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.evals.curve import LearningCurve

M = TypeVar("M", bound=BaseModel)

curve_app = typer.Typer(no_args_is_help=True,
                        help="Learning curves: pass rate against training examples.")


@curve_app.command("show")
def curve_show(artifacts: ArtifactsOption = Path("artifacts"),
               as_json: JsonOption = False) -> None:
    """Every learning curve under the artifacts folder: points, fit, N for the target
    (--json: a list of the curve files' contents)."""
    from pantheon_engine.evals.curve import read_curves, render_text

    found = read_curves(artifacts)
    for problem in found.problems:
        say_err(f"skipped {problem}")
    if as_json:
        print_json([curve.model_dump(mode="json") for curve in found.curves])
        return
    if not found.curves:
        say(f"no learning curve under {artifacts} yet (pantheon specialize measures one)")
        return
    for curve in found.curves:
        say(render_text(curve))


def read_model(path: Path, model: type[M], *, what: str, hint: str) -> M:
    """A JSON file as ``model``; a :class:`ConfigError` of one line (the file, the line,
    what is wrong) when it is missing, not JSON or not ``what``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read {what}: {why}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(str(file_problems.json_syntax_problem(exc, str(path))),
                          hint=hint) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = file_problems.validation_problems(
            exc, file=str(path), data=data, lines=file_problems.yaml_lines(text))
        raise ConfigError(file_problems.one_line(problems, lead=f"not {what}"),
                          hint=hint) from None


def add_point(artifacts: Path, agent: str, scope: str, examples: int, eval_json: Path, *,
              target: float | None = None, description: str | None = None
              ) -> tuple[LearningCurve, Path]:
    """Add the eval in ``eval_json`` as the point at ``examples`` of ``agent``'s ``scope``
    curve (created when missing); returns the curve and its file."""
    from pantheon_engine.evals.curve import (
        CurvePoint,
        curve_path,
        make_curve,
        save_curve,
    )
    from pantheon_engine.evals.results import EvalResult

    if examples < 0:
        raise ConfigError(f"--examples must be 0 or more, got {examples}")
    result = read_model(eval_json, EvalResult, what="an eval.json",
                        hint="give the eval.json that `pantheon eval` wrote (it prints its path)")
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
        curve = read_model(path, LearningCurve, what="a learning curve",
                           hint="move the file away to start the curve again")
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
