"""``pantheon eval AGENT --suite DIR``: measure an agent on a suite split.

Exit status: 0 when the eval ran (whatever its pass rate), 2 for bad input (an unknown
agent, a bad suite, a split with no task for the agent), 3 when the night policy refuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.cli.options import (
    ArtifactsOption,
    BaseUrlOption,
    ConfigOption,
    EngineOption,
    ModelOption,
    NightOption,
    ReplayOption,
    SearchOption,
    err_console,
    fail,
    say,
)
from pantheon_engine.errors import ConfigError, PantheonError

if TYPE_CHECKING:
    from pantheon_engine.evals.results import EvalResult

SPLITS = ("holdout", "train", "all")
SAMPLED_TEMPERATURE = 0.8
"""Temperature used when several samples are asked for and none is given: k identical
greedy samples would make pass@k equal pass@1."""


def eval_cmd(
    agent: Annotated[str, typer.Argument(help="agent to measure: name or name@version")],
    suite: Annotated[Path, typer.Option("--suite", help="suite folder: workspace/ and "
                                        "tasks.jsonl")],
    split: Annotated[str, typer.Option("--split", help="holdout | train | all")] = "holdout",
    samples: Annotated[int, typer.Option("--samples", "-k", help="samples per task")] = 1,
    temperature: Annotated[float | None, typer.Option(
        "--temperature", "-t",
        help=f"sampling temperature (default: the agent's; {SAMPLED_TEMPERATURE} when k > 1)",
    )] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="runs at once")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="sample s runs with seed + s")] = 0,
    search: SearchOption = 1,
    night: NightOption = True,
    engine: EngineOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    replay: ReplayOption = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print eval.json to stdout")] = False,
    against: Annotated[str | None, typer.Option(
        "--against", help="another version of the agent (name@N) run on the same tasks: "
        "both pass@1 and an exact McNemar test on the paired outcomes")] = None,
    limit: Annotated[int | None, typer.Option(
        "--limit", help="only the split's first N tasks (suite order): a quicker, smaller "
        "measurement")] = None,
    baselines: Annotated[bool, typer.Option(
        "--baselines/--no-baselines", help="also run the trivial strategies (final at once, "
        "copy the rule or the stub, the train-phrasing parser) on the same tasks, through "
        "the same check")] = True,
    baselines_only: Annotated[bool, typer.Option(
        "--baselines-only", help="run only the baselines: no model is loaded")] = False,
) -> None:
    """Run an agent over a suite split; report pass@1 with its interval, pass@k, failures,
    and what trivial baselines get on the same tasks."""
    from pantheon_engine.evals.evaluate import evaluate, evaluate_baselines
    from pantheon_engine.run.serving import EngineOptions

    try:
        if split not in SPLITS:
            raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {limit}")
        if temperature is not None and temperature < 0:
            raise ConfigError(f"--temperature must be >= 0, got {temperature}")
        if samples > 1 and temperature is None:
            temperature = SAMPLED_TEMPERATURE
        if against is not None:
            name = AgentRef.parse(agent).name
            if AgentRef.parse(against).name != name:
                raise ConfigError(f"--against {against}: compare two versions of {agent}",
                                  hint=f"e.g. --against {AgentRef(name, 1)}")
        if baselines_only:
            if not baselines:
                raise ConfigError("--baselines-only and --no-baselines leave nothing to run")
            report = asyncio.run(evaluate_baselines(
                agent, suite=suite, split=split, concurrency=concurrency,
                mode="night" if night else "day", artifacts=artifacts, console=err_console,
                show_progress=not as_json, limit=limit))
            if as_json:
                print(report.model_dump_json(indent=2))
            else:
                say(report.render_text())
                say(f"baselines: {report.dir}")
            return
        options = EngineOptions(name=engine, model=model, base_url=base_url, replay=replay,
                                config=config)

        def measure(ref: str, with_baselines: bool) -> EvalResult:
            return asyncio.run(evaluate(
                ref, suite=suite, split=split, samples=samples, temperature=temperature,
                concurrency=concurrency, seed=seed, mode="night" if night else "day",
                engine=options, artifacts=artifacts, console=err_console,
                show_progress=not as_json, limit=limit, baselines=with_baselines,
                search=search))

        result = measure(agent, baselines)
        if against is not None:
            from pantheon_engine.evals.promote import compare_versions

            other = measure(against, False)  # the same tasks: the baselines are measured once
            record, path = compare_versions(artifacts, result, other)
    except PantheonError as exc:
        fail(exc)
    if against is not None:
        if as_json:
            print(record.model_dump_json(indent=2))
            return
        for each in (result, other):
            say(each.render_text())
        say(record.render_text())
        say(f"comparison: {path}")
        return
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    say(result.render_text())
    say(f"eval.json: {Path(result.dir or '.') / 'eval.json'}")
