"""The services behind ``pantheon harvest`` and ``pantheon traces mine``.

:func:`harvest` serves the agent's version (see :mod:`pantheon_engine.run.serving`) and
runs one of the ways of :mod:`pantheon_engine.specialize.harvest`; :func:`mine_examples`
mines the trace store and harvest files into one dataset
(:mod:`pantheon_engine.specialize.mine`). ``pantheon specialize`` calls both in-process.
Notes, a header and (on a terminal) a live bar go to the console the caller passes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.runner import agent_spec, plan
from pantheon_engine.evals.suite import Suite, SuiteTask, load_suite
from pantheon_engine.policy import Mode
from pantheon_engine.run.serving import (
    EngineOptions,
    Served,
    Serving,
    ServingScope,
    model_agents,
    open_serving,
)
from pantheon_engine.specialize import BEST_OF_K_CONCURRENCY, SEARCH_CONCURRENCY
from pantheon_engine.specialize.balance import DEFAULT_MAX_NO_WORK_SHARE, check_share
from pantheon_engine.specialize.benchmark_text import humaneval_text
from pantheon_engine.specialize.feedback import DEFAULT_ROUNDS, FeedbackConfig
from pantheon_engine.specialize.harvest import (
    HarvestResult,
    harvest_best_of_k,
    harvest_feedback,
    harvest_trajectories,
    import_only,
    queue_best_of_k,
    train_tasks,
)
from pantheon_engine.specialize.mine import HoldoutGuard, MineResult, mine, write_examples
from pantheon_engine.specialize.search import SearchConfig
from pantheon_engine.specialize.teacher import check_teacher, serve_teacher

Found = tuple[Suite, AgentRef, list[SuiteTask]]


async def harvest(agent: str, *, suite: Path, split: str, mode: str, samples: int,
                  temperature: float, demos: Path | None, rounds: int,
                  keep_unfinished: bool, queue: bool, concurrency: int | None, seed: int,
                  policy_mode: Mode, engine: EngineOptions, artifacts: Path,
                  console: Console, show_progress: bool,
                  limit: int | None = None, feedback_rounds: int = DEFAULT_ROUNDS,
                  teacher: str | None = None, teacher_base_url: str | None = None,
                  max_no_work_share: float = DEFAULT_MAX_NO_WORK_SHARE) -> HarvestResult:
    """Harvest as ``pantheon harvest`` does (``mode``: one of
    :data:`~pantheon_engine.specialize.HARVEST_MODES`).

    ``console`` gets the serving notes, and with ``show_progress`` a header and (on a
    terminal) a live bar. ``limit``: only the split's first ``limit`` tasks. Bad input fails
    before a model loads; a harvest that calls no model (demos, an import, queued jobs) loads
    none and only records the version. ``feedback_rounds``: feedback mode's rounds per
    sample. ``teacher`` / ``teacher_base_url``: a catalogue model, or (by day only) an
    OpenAI-compatible endpoint, answers instead of the agent's own model
    (:mod:`~pantheon_engine.specialize.teacher`); the agent's version is then only recorded.
    ``max_no_work_share``: the most of the harvest's examples tasks needing no work may
    give (:mod:`~pantheon_engine.specialize.balance`).
    """
    check_share(max_no_work_share)
    check_teacher(policy_mode=policy_mode, mode=mode, queue=queue, teacher=teacher,
                  base_url=teacher_base_url)
    feedback = FeedbackConfig(rounds=feedback_rounds, samples=samples,
                              temperature=temperature, seed=seed) \
        if mode == "feedback" else None
    taught = teacher is not None or teacher_base_url is not None
    needs_engine = mode in ("best-of-k", "search", "feedback") and not queue
    workers = concurrency or (SEARCH_CONCURRENCY if mode == "search"
                              else BEST_OF_K_CONCURRENCY)

    def scope() -> ServingScope[Found]:
        registry = default_registry([suite.resolve()])
        loaded = load_suite(suite, registry)
        ref = AgentRef.parse(agent)
        spec = registry.get(ref.name)
        tasks = train_tasks(loaded, spec, split, registry)[:limit]  # before a model loads
        flows = [flow for _, flow, _ in plan(loaded, spec, split, registry)]
        # the version asked for (else the current one), with its own weights; without an
        # engine no weights are loaded: the version is only recorded
        # a teacher answers instead: the agent's version is recorded, its model not loaded
        return ServingScope(registry, agents=model_agents(flows, registry),
                            prepared=(loaded, ref, tasks),
                            pinned={ref.name: ref.version} if ref.version is not None
                            else None, engine=needs_engine and not taught,
                            record_only=not needs_engine or taught)

    def notes(plan: Serving) -> None:
        for note in plan.notes:
            console.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)

    def announce(served: Served[Found]) -> None:
        if not show_progress or mode == "import" or queue:
            return
        _, ref, tasks = served.prepared
        unit = "candidate(s) per step" if mode == "search" else "sample(s)"
        what = f" × {samples} {unit}" if needs_engine else ""
        if feedback is not None:
            what += f", up to {feedback.rounds} feedback round(s) each"
        by = f"teacher {teacher or teacher_base_url}" if taught else \
            f"engine {served.engine.name if served.engine else 'none'}"
        console.print(f"harvest {agent_spec(served.registry, ref.name).ref} ({mode}): "
                      f"{len(tasks)} train task(s){what}, {by}", highlight=False,
                      soft_wrap=True)

    options = dataclasses.replace(
        engine, concurrency=workers * (samples if mode == "search" else 1))
    async with contextlib.AsyncExitStack() as stack:
        served = await stack.enter_async_context(open_serving(
            policy_mode, options, artifacts=artifacts, scope=scope, planned=notes,
            ready=announce))
        loaded, ref, tasks = served.prepared
        spec = agent_spec(served.registry, ref.name)
        registry, engine_obj = served.registry, served.engine
        taught_by: str | None = None
        if taught:
            engine_obj, taught_by = await stack.enter_async_context(serve_teacher(
                options, served.policy, teacher=teacher, base_url=teacher_base_url))
        if mode == "import":
            assert demos is not None
            return await import_only(loaded, agent=spec.ref, registry=registry,
                                     artifacts=artifacts, demos=demos, split=split,
                                     max_no_work_share=max_no_work_share)
        if queue:
            return queue_best_of_k(loaded, agent=spec.ref, registry=registry,
                                   artifacts=artifacts, split=split, samples=samples,
                                   temperature=temperature, seed=seed)
        total = len(tasks) * (samples if mode in ("best-of-k", "feedback") else 1)
        progress = Progress(TextColumn(f"[bold]harvest {spec.ref} ({mode})[/]"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                            TimeElapsedColumn(), console=console, transient=True) \
            if show_progress and console.is_terminal else None
        bar = progress.add_task("harvest", total=total, info="") if progress else None
        green = 0

        def on_progress(done: int, _total: int, _task: str, passed: bool) -> None:
            nonlocal green
            green += passed
            if progress is not None and bar is not None:
                progress.update(bar, completed=done, info=f"{green} green")

        if progress is not None:
            progress.start()
        try:
            if mode == "best-of-k":
                assert engine_obj is not None
                return await harvest_best_of_k(
                    loaded, agent=spec.ref, registry=registry, engine=engine_obj,
                    artifacts=artifacts, split=split, samples=samples,
                    temperature=temperature, seed=seed,
                    concurrency=concurrency or BEST_OF_K_CONCURRENCY, policy=served.policy,
                    demos=demos, on_progress=on_progress, limit=limit, teacher=taught_by,
                    max_no_work_share=max_no_work_share)
            if feedback is not None:
                assert engine_obj is not None
                return await harvest_feedback(
                    loaded, agent=spec.ref, registry=registry, engine=engine_obj,
                    artifacts=artifacts, split=split, config=feedback,
                    concurrency=concurrency or BEST_OF_K_CONCURRENCY, policy=served.policy,
                    demos=demos, tasks=tasks, on_progress=on_progress, teacher=taught_by,
                    max_no_work_share=max_no_work_share)
            search = SearchConfig(k=samples, temperature=temperature, rounds=rounds,
                                  seed=seed) if mode == "search" else None
            return await harvest_trajectories(
                loaded, agent=spec.ref, registry=registry, artifacts=artifacts,
                mode="search" if mode == "search" else "demos", engine=engine_obj,
                split=split, config=search, concurrency=concurrency or SEARCH_CONCURRENCY,
                policy=served.policy, demos=demos, keep_unfinished=keep_unfinished,
                tasks=tasks, on_progress=on_progress, teacher=taught_by,
                max_no_work_share=max_no_work_share)
        finally:
            if progress is not None:
                progress.stop()


async def mine_examples(agent: str, *, out: Path, artifacts: Path, suite: Path | None,
                        split: str, include: list[Path], traces: Path | None,
                        console: Console, quiet: bool) -> MineResult:
    """Mine as ``pantheon traces mine`` does and write the examples to ``out``.

    ``agent``: ``name`` (any version: the traces say which ran) or ``name@N`` (that version
    only). Without ``suite`` a note on ``console`` (unless ``quiet``) says that holdout
    tasks are then kept out only by the splits evals recorded.
    """
    if split != "train":
        raise ConfigError(f"--split {split!r}: only the train split may be mined",
                          hint="the holdout split measures the trained agent; it must "
                          "stay out of its data")
    registry = default_registry([suite.resolve()] if suite else [])
    spec = registry.get(AgentRef.parse(agent).name)
    guard = None
    if suite is not None:
        loaded = load_suite(suite, registry)
        loaded.refuse_training("mining")
        guard = HoldoutGuard.from_suite(loaded, split)
    elif not quiet:
        console.print("note: no --suite: holdout tasks are kept out only by the splits evals "
                      "recorded; pass --suite to refuse their documents too", highlight=False,
                      soft_wrap=True)
    for path in include:
        if not path.is_file():
            raise ConfigError(f"--include {path}: no such file")
    benchmark = humaneval_text()
    if not benchmark.available and not quiet:
        console.print(f"note: {benchmark.name}'s data file is not here: mined text is not "
                      f"checked against its prompts (pip install 'pantheon[humaneval]')",
                      highlight=False, soft_wrap=True)
    result, examples = await mine(artifacts, spec, agent=agent, guard=guard,
                                  include=include, traces=traces)
    write_examples(out, examples)
    result.out = str(out)
    return result
