"""``pantheon eval AGENT --suite DIR``: measure an agent on a suite split.

Exit status: 0 when the eval ran (whatever its pass rate), 2 for bad input (an unknown
agent, a bad suite, a split with no task for the agent), 3 when the night policy refuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon_engine.cli.options import (
    ArtifactsOption,
    BaseUrlOption,
    ConfigOption,
    EngineOption,
    ModelOption,
    NightOption,
    ReplayOption,
)
from pantheon_engine.errors import ConfigError, PantheonError

SPLITS = ("holdout", "train", "all")
SAMPLED_TEMPERATURE = 0.8
"""Temperature used when several samples are asked for and none is given: k identical
greedy samples would make pass@k equal pass@1."""

_out = Console()
_err = Console(stderr=True)


def _fail(exc: PantheonError) -> None:
    _err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


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
) -> None:
    """Run an agent over a suite split; report pass@1 with its interval, pass@k, failures."""
    try:
        if split not in SPLITS:
            raise ConfigError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        if temperature is not None and temperature < 0:
            raise ConfigError(f"--temperature must be >= 0, got {temperature}")
        if samples > 1 and temperature is None:
            temperature = SAMPLED_TEMPERATURE
        if against is not None and against.partition("@")[0] != agent.partition("@")[0]:
            raise ConfigError(f"--against {against}: compare two versions of {agent}",
                              hint=f"e.g. --against {agent.partition('@')[0]}@1")
        options: dict[str, Any] = dict(
            suite=suite, split=split, samples=samples, temperature=temperature,
            concurrency=concurrency, seed=seed, mode="night" if night else "day",
            engine=engine, model=model, base_url=base_url, replay=replay,
            artifacts=artifacts, config=config, show_progress=not as_json)
        result = asyncio.run(evaluate(agent, **options))
        if against is not None:
            from pantheon_engine.evals.promote import compare_versions

            other = asyncio.run(evaluate(against, **options))
            record, path = compare_versions(artifacts, result, other)
    except PantheonError as exc:
        _fail(exc)
        return
    if against is not None:
        if as_json:
            print(record.model_dump_json(indent=2))
            return
        for each in (result, other):
            _out.print(each.render_text(), highlight=False, soft_wrap=True, markup=False)
        _out.print(record.render_text(), highlight=False, soft_wrap=True, markup=False)
        _out.print(f"comparison: {path}", highlight=False, soft_wrap=True, markup=False)
        return
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _out.print(result.render_text(), highlight=False, soft_wrap=True, markup=False)
    _out.print(f"eval.json: {Path(result.dir or '.') / 'eval.json'}", highlight=False,
               soft_wrap=True, markup=False)


async def evaluate(agent: str, *, suite: Path, split: str, samples: int,
                   temperature: float | None, concurrency: int, seed: int, mode: Any,
                   engine: str | None, model: str | None, base_url: str | None,
                   replay: str | None, artifacts: Path, config: Path | None,
                   show_progress: bool, limit: int | None = None) -> Any:
    """Evaluate ``agent`` (``name`` or ``name@N``) as ``pantheon eval`` does; returns the
    :class:`~pantheon_engine.evals.results.EvalResult`. ``limit``: only the split's first
    ``limit`` tasks (in suite order), for a quicker, smaller measurement."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.config import load_settings, merge_engine
    from pantheon_engine.evals.runner import agent_spec, plan, run_eval
    from pantheon_engine.evals.suite import load_suite
    from pantheon_engine.loop.traces import TraceStore
    from pantheon_engine.policy import Policy
    from pantheon_engine.run.serving import model_agents, plan_serving
    from pantheon_engine.run.versions import VersionStore, record_eval

    policy = Policy(mode=mode)
    policy.preflight()  # before anything else: a credential at night stops us here
    registry = default_registry([suite.resolve()])
    loaded = load_suite(suite, registry)
    name, _, version = agent.partition("@")
    number = int(version) if version.isdigit() else None  # a registered version: its weights
    spec = registry.get(name)
    chosen = plan(loaded, spec, split, registry)  # bad input fails before a model loads
    if limit is not None:
        chosen = chosen[:limit]
    if not chosen:
        raise ConfigError(f"the {split} split of {suite} has no task for {spec.name}",
                          hint="check --split and each task's `agent` or `flow` in "
                          "tasks.jsonl")
    settings = merge_engine(load_settings(config), name=engine, model=model,
                            base_url=base_url, replay=replay, concurrency=concurrency)
    # the version asked for (else the current one) with its own weights, verified by hash
    serving = plan_serving(registry, settings, VersionStore(artifacts),
                           agents=model_agents((flow for _, flow, _ in chosen), registry),
                           pinned={name: number} if number is not None else None)
    registry, settings = serving.registry, serving.settings
    spec = agent_spec(registry, agent if version else name)
    needs_model = any(registry.get(n.agent).uses_model for _, flow, _ in chosen
                      for n in flow.nodes)
    engine_obj = serving.make_engine(policy) if needs_model else None
    total = len(chosen) * samples
    progress = Progress(TextColumn(f"[bold]eval {spec.ref}[/]"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=_err, transient=True) \
        if show_progress and _err.is_terminal else None
    bar = progress.add_task("samples", total=total, info="") if progress else None
    passed = 0

    def on_progress(done: int, _total: int, _task: str, record: Any) -> None:
        nonlocal passed
        passed += record.passed
        if progress is not None and bar is not None:
            progress.update(bar, completed=done, info=f"{passed} passed")

    if show_progress:
        _err.print(f"eval {spec.ref}: {len(chosen)} tasks × {samples} sample(s) "
                   f"({split}), concurrency {concurrency}, engine "
                   f"{engine_obj.name if engine_obj else 'none'}", highlight=False,
                   soft_wrap=True)
        for note in serving.notes:
            _err.print(f"note: {note}", highlight=False, soft_wrap=True)
    if engine_obj is not None:
        await engine_obj.start()
    if progress is not None:
        progress.start()
    try:
        # every request and reply goes to the trace store, so green samples can be mined
        traces = TraceStore.for_artifacts(artifacts)
        try:
            result = await run_eval(
                loaded, agent=spec.ref, split=split, engine=engine_obj, registry=registry,
                artifacts=artifacts, samples=samples, temperature=temperature,
                concurrency=concurrency, seed=seed, on_progress=on_progress, policy=policy,
                traces=traces, limit=limit)
        finally:
            traces.close()
        record_eval(VersionStore(artifacts), result)
        return result
    finally:
        if progress is not None:
            progress.stop()
        if engine_obj is not None:
            await engine_obj.close()
