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
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.results import EvalResult, SampleResult
from pantheon_engine.evals.runner import agent_spec, plan, run_eval
from pantheon_engine.evals.suite import Suite, SuiteTask, load_suite
from pantheon_engine.loop.traces import TraceStore
from pantheon_engine.policy import Mode
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
                   show_progress: bool, limit: int | None = None) -> EvalResult:
    """Evaluate ``agent`` (``name`` or ``name@N``) as ``pantheon eval`` does.

    ``engine``: the engine options (its ``concurrency`` is this eval's). With
    ``show_progress`` a header, the serving notes and (on a terminal) a live bar go to
    ``console``.
    ``limit``: only the split's first ``limit`` tasks (in suite order), for a quicker,
    smaller measurement. Bad input (an unknown agent or version, a split with no task for
    it) fails before a model loads.
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
                    limit=limit)
            finally:
                traces.close()
            record_eval(VersionStore(artifacts), result)
            return result
        finally:
            if progress is not None:
                progress.stop()
