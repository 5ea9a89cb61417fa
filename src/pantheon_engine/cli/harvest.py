"""``pantheon harvest`` and ``pantheon traces mine``: training data for one agent.

Exit status: 0 when the command ran (whatever it found), 2 for bad input (an unknown agent,
a bad suite, a holdout split, a malformed demonstrations file), 3 when the night policy
refuses.
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

traces_app = typer.Typer(no_args_is_help=True,
                         help="The trace store: mine training data from green runs.")
HARVEST_MODES = ("best-of-k", "search", "demos", "import")
SEARCH_CONCURRENCY = 4
"""Tasks searched at once when --concurrency is not given (each has k samples in flight)."""

_out = Console()
_err = Console(stderr=True)


def _fail(exc: PantheonError) -> None:
    _err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _say(text: str) -> None:
    _out.print(text, highlight=False, soft_wrap=True, markup=False)


@traces_app.command("mine")
def mine_cmd(
    agent: Annotated[str, typer.Argument(help="agent to mine: name or name@version")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write")],
    artifacts: Annotated[Path, typer.Option("--artifacts", help="artifacts folder")]
    = Path("artifacts"),
    suite: Annotated[Path | None, typer.Option(
        "--suite", help="suite whose holdout tasks (ids and documents) must not leak")] = None,
    split: Annotated[str, typer.Option("--split", help="the suite split to mine: train")]
    = "train",
    include: Annotated[list[Path] | None, typer.Option(
        "--include", help="harvest JSONL file to merge (repeatable)")] = None,
    traces: Annotated[Path | None, typer.Option(
        "--traces", help="trace store (default: <artifacts>/traces.sqlite)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Green runs' model calls as TRL tool-calling examples (plus harvest files)."""
    try:
        result = asyncio.run(mine_examples(agent, out=out, artifacts=artifacts, suite=suite,
                                           split=split, include=include or [],
                                           traces=traces, quiet=as_json))
    except PantheonError as exc:
        _fail(exc)
        return
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _say(result.render())
    _say(f"wrote {result.counts.examples} example(s) to {out}")


async def mine_examples(agent: str, *, out: Path, artifacts: Path, suite: Path | None,
                        split: str, include: list[Path], traces: Path | None,
                        quiet: bool) -> Any:
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.evals.suite import load_suite
    from pantheon_engine.specialize.mine import HoldoutGuard, mine, write_examples

    if split != "train":
        raise ConfigError(f"--split {split!r}: only the train split may be mined",
                          hint="the holdout split measures the trained agent; it must "
                          "stay out of its data")
    registry = default_registry([suite.resolve()] if suite else [])
    spec = registry.get(agent.partition("@")[0])  # any version: the traces say which ran
    guard = None
    if suite is not None:
        guard = HoldoutGuard.from_suite(load_suite(suite, registry), split)
    elif not quiet:
        _err.print("note: no --suite: holdout tasks are kept out only by the splits evals "
                   "recorded; pass --suite to refuse their documents too", highlight=False,
                   soft_wrap=True)
    for path in include:
        if not path.is_file():
            raise ConfigError(f"--include {path}: no such file")
    result, examples = await mine(artifacts, spec, agent=agent, guard=guard,
                                  include=include, traces=traces)
    write_examples(out, examples)
    result.out = str(out)
    return result


def harvest_cmd(
    agent: Annotated[str, typer.Argument(help="agent to harvest for: name or name@version")],
    suite: Annotated[Path, typer.Option("--suite", help="suite folder: workspace/ and "
                                        "tasks.jsonl")],
    split: Annotated[str, typer.Option("--split", help="train (the only split harvested)")]
    = "train",
    mode: Annotated[str, typer.Option(
        "--mode", help="best-of-k | search | demos | import")] = "best-of-k",
    samples: Annotated[int, typer.Option(
        "--samples", "-k", help="samples per task (best-of-k) or candidates per step "
        "(search)")] = 8,
    temperature: Annotated[float, typer.Option("--temperature", "-t",
                                               help="sampling temperature (> 0)")] = 0.8,
    demos: Annotated[Path | None, typer.Option(
        "--demos", help="JSONL of green conversations to import (any mode)")] = None,
    rounds: Annotated[int, typer.Option(
        "--rounds", help="search: sampling rounds per step before giving up")] = 2,
    keep_unfinished: Annotated[bool, typer.Option(
        "--keep-unfinished", help="search: keep the tool steps of a file that passes even "
        "when no final answer was sampled")] = False,
    queue: Annotated[bool, typer.Option(
        "--queue", help="best-of-k: queue the samples as night jobs (run them with "
        "`pantheon night`, collect them with `pantheon traces mine`)")] = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", help=f"runs at once (best-of-k, default 32) or tasks at once "
        f"(search, default {SEARCH_CONCURRENCY})")] = None,
    seed: Annotated[int, typer.Option("--seed", help="base seed")] = 0,
    night: NightOption = True,
    engine: EngineOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    replay: ReplayOption = None,
    artifacts: ArtifactsOption = Path("artifacts"),
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Green examples for an agent from a suite's train split: best-of-k, search, demos."""
    try:
        if mode not in HARVEST_MODES:
            raise ConfigError(f"--mode {mode!r}: expected one of {', '.join(HARVEST_MODES)}")
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        if temperature <= 0 and mode in ("best-of-k", "search"):
            raise ConfigError(f"--temperature must be above 0 for {mode}, got {temperature}",
                              hint="samples at temperature 0 are copies of one answer")
        if concurrency is not None and concurrency < 1:
            raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
        if mode == "import" and demos is None:
            raise ConfigError("--mode import needs --demos FILE")
        if queue and mode != "best-of-k":
            raise ConfigError("--queue queues best-of-k samples as night jobs; "
                              f"--mode {mode} runs now")
        if demos is not None and not demos.is_file():
            raise ConfigError(f"--demos {demos}: no such file")
        result = asyncio.run(harvest(
            agent, suite=suite, split=split, mode=mode, samples=samples,
            temperature=temperature, demos=demos, rounds=rounds,
            keep_unfinished=keep_unfinished, queue=queue, concurrency=concurrency, seed=seed,
            policy_mode="night" if night else "day", engine=engine, model=model,
            base_url=base_url, replay=replay, artifacts=artifacts, config=config,
            show_progress=not as_json))
    except PantheonError as exc:
        _fail(exc)
        return
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    name = result.agent.partition('@')[0]
    if queue:
        _say(f"harvest {result.harvest_id}: queued {result.outcomes.get('queued', 0)} job(s) "
             f"({result.tasks} train task(s) × {samples} samples at T={temperature})")
        _say(f"run them:    pantheon night --artifacts {artifacts}")
        _say(f"then mine:   pantheon traces mine {name} --suite {suite} --artifacts "
             f"{artifacts} --out data/{name}.jsonl")
        return
    _say(result.render())
    _say(f"examples: {result.out}")
    _say(f"merge with: pantheon traces mine {name} --out data/{name}.jsonl --include "
         f"{result.out}")


async def harvest(agent: str, *, suite: Path, split: str, mode: str, samples: int,
                   temperature: float, demos: Path | None, rounds: int,
                   keep_unfinished: bool, queue: bool, concurrency: int | None, seed: int,
                   policy_mode: Any, engine: str | None, model: str | None,
                   base_url: str | None, replay: str | None, artifacts: Path,
                   config: Path | None, show_progress: bool,
                   limit: int | None = None) -> Any:
    """Harvest as ``pantheon harvest`` does; returns the HarvestResult. ``limit``: only the
    split's first ``limit`` tasks."""
    from pantheon_engine.agents.registry import default_registry
    from pantheon_engine.config import load_settings, merge_engine
    from pantheon_engine.evals.runner import agent_spec, plan
    from pantheon_engine.evals.suite import load_suite
    from pantheon_engine.policy import Policy
    from pantheon_engine.run.serving import model_agents, plan_serving
    from pantheon_engine.run.versions import VersionStore, parse_ref
    from pantheon_engine.specialize.harvest import (
        harvest_best_of_k,
        harvest_trajectories,
        import_only,
        queue_best_of_k,
        train_tasks,
    )
    from pantheon_engine.specialize.search import SearchConfig

    policy = Policy(mode=policy_mode)
    policy.preflight()
    registry = default_registry([suite.resolve()])
    loaded = load_suite(suite, registry)
    name, number = parse_ref(agent)
    # before a model loads
    tasks = train_tasks(loaded, registry.get(name), split, registry)[:limit]
    needs_engine = mode in ("best-of-k", "search") and not queue
    workers = concurrency or (32 if mode == "best-of-k" else SEARCH_CONCURRENCY)
    settings = merge_engine(load_settings(config), name=engine, model=model,
                            base_url=base_url, replay=replay,
                            concurrency=workers * (samples if mode == "search" else 1))
    if not needs_engine:  # no weights are loaded: the version is only recorded
        settings = settings.model_copy(update={"name": "replay"})
    # the version asked for (else the current one), with its own weights
    flows = [flow for _, flow, _ in plan(loaded, registry.get(name), split, registry)]
    serving = plan_serving(registry, settings, VersionStore(artifacts),
                           agents=model_agents(flows, registry),
                           pinned={name: number} if number is not None else None)
    registry, settings = serving.registry, serving.settings
    spec = agent_spec(registry, name)
    agent = spec.ref
    for note in serving.notes:
        _err.print(f"note: {note}", highlight=False, soft_wrap=True)
    if mode == "import":
        assert demos is not None
        return await import_only(loaded, agent=agent, registry=registry,
                                 artifacts=artifacts, demos=demos, split=split)
    if queue:
        return queue_best_of_k(loaded, agent=agent, registry=registry, artifacts=artifacts,
                               split=split, samples=samples, temperature=temperature,
                               seed=seed)
    engine_obj = None
    if needs_engine:
        engine_obj = serving.make_engine(policy)
    total = len(tasks) * (samples if mode == "best-of-k" else 1)
    progress = Progress(TextColumn(f"[bold]harvest {spec.ref} ({mode})[/]"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=_err, transient=True) \
        if show_progress and _err.is_terminal else None
    bar = progress.add_task("harvest", total=total, info="") if progress else None
    green = 0

    def on_progress(done: int, _total: int, _task: str, passed: bool) -> None:
        nonlocal green
        green += passed
        if progress is not None and bar is not None:
            progress.update(bar, completed=done, info=f"{green} green")

    if show_progress:
        unit = "sample(s)" if mode == "best-of-k" else "candidate(s) per step"
        what = f" × {samples} {unit}" if needs_engine else ""
        _err.print(f"harvest {spec.ref} ({mode}): {len(tasks)} train task(s){what}, engine "
                   f"{engine_obj.name if engine_obj else 'none'}", highlight=False,
                   soft_wrap=True)
    if engine_obj is not None:
        await engine_obj.start()
    if progress is not None:
        progress.start()
    try:
        if mode == "best-of-k":
            assert engine_obj is not None
            return await harvest_best_of_k(
                loaded, agent=agent, registry=registry, engine=engine_obj,
                artifacts=artifacts, split=split, samples=samples, temperature=temperature,
                seed=seed, concurrency=concurrency or 32, policy=policy, demos=demos,
                on_progress=on_progress, limit=limit)
        search = SearchConfig(k=samples, temperature=temperature, rounds=rounds, seed=seed) \
            if mode == "search" else None
        return await harvest_trajectories(
            loaded, agent=agent, registry=registry, artifacts=artifacts,
            mode="search" if mode == "search" else "demos", engine=engine_obj, split=split,
            config=search, concurrency=concurrency or SEARCH_CONCURRENCY, policy=policy,
            demos=demos, keep_unfinished=keep_unfinished, tasks=tasks,
            on_progress=on_progress)
    finally:
        if progress is not None:
            progress.stop()
        if engine_obj is not None:
            await engine_obj.close()
