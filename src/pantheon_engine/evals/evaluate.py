"""The ``pantheon eval`` service: one agent (or one of its versions) on a suite split.

Serves the version asked for (else the current one) with its own weights, verified by hash,
runs the split through :func:`~pantheon_engine.evals.runner.run_eval` with every request
and reply recorded in the trace store (so green samples can be mined), and keeps a holdout
result as the version's latest eval. ``pantheon eval`` and ``pantheon specialize`` call it;
what it shows (a header, notes, a live bar on a terminal) goes to the console they pass.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.artifacts import new_run_id
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.baselines import BaselineReport, run_baselines
from pantheon_engine.evals.results import BaselineScore, EvalResult, SampleResult
from pantheon_engine.evals.runner import agent_spec, plan, run_eval
from pantheon_engine.evals.suite import Suite, SuiteTask, load_suite
from pantheon_engine.loop.traces import TraceStore
from pantheon_engine.policy import Mode, Policy
from pantheon_engine.run.flows import Flow
from pantheon_engine.run.serving import (
    EngineOptions,
    Served,
    ServingScope,
    model_agents,
    open_serving,
)
from pantheon_engine.run.versions import VersionStore, record_eval

Chosen = list[tuple[SuiteTask, Flow, dict[str, Any]]]


async def evaluate(agent: str, *, suite: Path, split: str, samples: int,
                   temperature: float | None, concurrency: int, seed: int, mode: Mode,
                   engine: EngineOptions, artifacts: Path, console: Console,
                   show_progress: bool, limit: int | None = None,
                   baselines: bool = False, search: int = 1) -> EvalResult:
    """Evaluate ``agent`` (``name`` or ``name@N``) as ``pantheon eval`` does.

    ``engine``: the engine options (its ``concurrency`` is this eval's). With
    ``show_progress`` a header, the serving notes and (on a terminal) a live bar go to
    ``console``.
    ``limit``: only the split's first ``limit`` tasks (in suite order), for a quicker,
    smaller measurement. Bad input (an unknown agent or version, a split with no task for
    it) fails before a model loads. ``baselines``: also run the baselines on the same tasks
    (``result.baselines``; their runs under ``<eval dir>/baselines/``).
    """

    def scope() -> ServingScope[tuple[Suite, AgentRef, Chosen]]:
        registry = default_registry([suite.resolve()])
        loaded = load_suite(suite, registry)
        ref = AgentRef.parse(agent)  # a registered version: its own weights
        spec = registry.get(ref.name)
        chosen = plan(loaded, spec, split, registry)  # bad input fails before a model loads
        if limit is not None:
            chosen = chosen[:limit]
        if not chosen:
            raise ConfigError(f"the {split} split of {suite} has no task for {spec.name}",
                              hint="check --split and each task's `agent` or `flow` in "
                              "tasks.jsonl")
        # the version asked for (else the current one) with its own weights
        return ServingScope(
            registry, agents=model_agents((flow for _, flow, _ in chosen), registry),
            prepared=(loaded, ref, chosen),
            pinned={ref.name: ref.version} if ref.version is not None else None,
            engine=any(registry.get(n.agent).uses_model for _, flow, _ in chosen
                       for n in flow.nodes))

    def announce(served: Served[tuple[Suite, AgentRef, Chosen]]) -> None:
        if not show_progress:
            return
        _, ref, chosen = served.prepared
        spec = agent_spec(served.registry, str(ref))
        console.print(f"eval {spec.ref}: {len(chosen)} tasks × {samples} sample(s) "
                      f"({split}), concurrency {concurrency}, engine "
                      f"{served.engine.name if served.engine else 'none'}", highlight=False,
                      soft_wrap=True)
        for note in served.plan.notes:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)

    options = dataclasses.replace(engine, concurrency=concurrency)
    async with open_serving(mode, options, artifacts=artifacts, scope=scope,
                            ready=announce) as served:
        loaded, ref, chosen = served.prepared
        spec = agent_spec(served.registry, str(ref))
        progress = Progress(TextColumn(f"[bold]eval {spec.ref}[/]"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                            TimeElapsedColumn(), console=console, transient=True) \
            if show_progress and console.is_terminal else None
        bar = progress.add_task("samples", total=len(chosen) * samples, info="") \
            if progress else None
        passed = 0

        def on_progress(done: int, _total: int, _task: str, record: SampleResult) -> None:
            nonlocal passed
            passed += record.passed
            if progress is not None and bar is not None:
                progress.update(bar, completed=done, info=f"{passed} passed")

        if progress is not None:
            progress.start()
        try:
            # every request and reply goes to the trace store, so green samples can be mined
            traces = TraceStore.for_artifacts(artifacts)
            try:
                result = await run_eval(
                    loaded, agent=spec.ref, split=split, engine=served.engine,
                    registry=served.registry, artifacts=artifacts, samples=samples,
                    temperature=temperature, concurrency=concurrency, seed=seed,
                    on_progress=on_progress, policy=served.policy, traces=traces,
                    limit=limit, search=search)
            finally:
                traces.close()
        finally:
            if progress is not None:
                progress.stop()
        if baselines:
            result.baselines = await _baselines(
                loaded, spec.ref, split=split, registry=served.registry, result=result,
                policy=served.policy, concurrency=concurrency, seed=seed, limit=limit,
                console=console if show_progress else None)
            result.write(Path(result.dir or ".") / "eval.json")
        record_eval(VersionStore(artifacts), result)
        return result


async def _baselines(suite: Suite, agent: str, *, split: str, registry: AgentRegistry,
                     result: EvalResult, policy: Policy, concurrency: int, seed: int,
                     limit: int | None, console: Console | None) -> dict[str, BaselineScore]:
    def done(name: str, score: BaselineScore) -> None:
        if console is not None:
            console.print(f"baseline {name}: {score.line}", highlight=False, soft_wrap=True)

    return await run_baselines(
        suite, agent=agent, split=split, registry=registry,
        artifacts=Path(result.dir or ".") / "baselines", policy=policy,
        concurrency=concurrency, seed=seed, limit=limit, against=result, on_done=done)


async def evaluate_baselines(agent: str, *, suite: Path, split: str, concurrency: int,
                             mode: Mode, artifacts: Path, console: Console,
                             show_progress: bool, limit: int | None = None) -> BaselineReport:
    """``pantheon eval --baselines-only``: the baselines alone, no model loaded.

    Runs go under ``<artifacts>/baselines/<id>/evals/<baseline name>/``.
    """
    registry = default_registry([suite.resolve()])
    loaded = load_suite(suite, registry)
    spec = agent_spec(registry, str(AgentRef.parse(agent)))
    chosen = plan(loaded, spec, split, registry)[:limit]
    if not chosen:
        raise ConfigError(f"the {split} split of {suite} has no task for {spec.name}",
                          hint="check --split and each task's `agent` or `flow` in "
                          "tasks.jsonl")
    root = Path(artifacts) / "baselines" / new_run_id(f"baselines-{spec.name}")
    policy = Policy(mode=mode)

    def done(name: str, score: BaselineScore) -> None:
        if show_progress:
            console.print(f"baseline {name}: {score.line}", highlight=False, soft_wrap=True)

    with policy.enforce():
        scores = await run_baselines(loaded, agent=spec.ref, split=split, registry=registry,
                                     artifacts=root, policy=policy, concurrency=concurrency,
                                     limit=limit, on_done=done)
    return BaselineReport(agent=spec.ref, suite=str(loaded.folder), split=split,
                          tasks_n=len(chosen), dir=str(root), baselines=scores)
