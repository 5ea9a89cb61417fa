"""``pantheon harvest`` and ``pantheon traces mine``: training data for one agent.

Exit status: 0 when the command ran (whatever it found), 2 for bad input (an unknown agent,
a bad suite, a holdout split, a malformed demonstrations file), 3 when the night policy
refuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

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
    err_console,
    fail,
    say,
)
from pantheon_engine.errors import ConfigError, PantheonError
from pantheon_engine.specialize import (
    BEST_OF_K_CONCURRENCY,
    DEFAULT_FEEDBACK_ROUNDS,
    DEFAULT_MAX_NO_WORK_SHARE,
    HARVEST_MODES,
    SEARCH_CONCURRENCY,
)

traces_app = typer.Typer(no_args_is_help=True,
                         help="The trace store: mine training data from green runs; export "
                         "spans (OTLP).")


@traces_app.command("mine")
def mine_cmd(
    agent: Annotated[str, typer.Argument(help="agent to mine: name or name@version")],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write")],
    artifacts: ArtifactsOption = Path("artifacts"),
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
    from pantheon_engine.specialize.harvest_service import mine_examples

    try:
        result = asyncio.run(mine_examples(agent, out=out, artifacts=artifacts, suite=suite,
                                           split=split, include=include or [],
                                           traces=traces, console=err_console, quiet=as_json))
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    say(result.render())
    say(f"wrote {result.counts.examples} example(s) to {out}")


def harvest_cmd(
    agent: Annotated[str, typer.Argument(help="agent to harvest for: name or name@version")],
    suite: Annotated[Path, typer.Option("--suite", help="suite folder: workspace/ and "
                                        "tasks.jsonl")],
    split: Annotated[str, typer.Option("--split", help="train (the only split harvested)")]
    = "train",
    mode: Annotated[str, typer.Option(
        "--mode", help="best-of-k | search | feedback | demos | import")] = "best-of-k",
    samples: Annotated[int, typer.Option(
        "--samples", "-k", help="samples per task (best-of-k, feedback) or candidates per "
        "step (search)")] = 8,
    temperature: Annotated[float, typer.Option("--temperature", "-t",
                                               help="sampling temperature (> 0)")] = 0.8,
    demos: Annotated[Path | None, typer.Option(
        "--demos", help="JSONL of green conversations to import (any mode)")] = None,
    rounds: Annotated[int, typer.Option(
        "--rounds", help="search: sampling rounds per step before giving up")] = 2,
    feedback_rounds: Annotated[int, typer.Option(
        "--feedback-rounds", help="feedback: times a failed check is fed back to the agent "
        "per sample")] = DEFAULT_FEEDBACK_ROUNDS,
    teacher: Annotated[str | None, typer.Option(
        "--teacher", help="a catalogue model answers instead of the agent's (source "
        "teacher; best-of-k, search, feedback)")] = None,
    teacher_base_url: Annotated[str | None, typer.Option(
        "--teacher-base-url", help="an OpenAI-compatible endpoint answers instead (by day "
        "only; --teacher names its model)")] = None,
    max_no_work_share: Annotated[float, typer.Option(
        "--max-no-work-share", help="largest share of the examples from tasks that needed "
        "no work (1: no cap)")] = DEFAULT_MAX_NO_WORK_SHARE,
    keep_unfinished: Annotated[bool, typer.Option(
        "--keep-unfinished", help="search: keep the tool steps of a file that passes even "
        "when no final answer was sampled")] = False,
    queue: Annotated[bool, typer.Option(
        "--queue", help="best-of-k: queue the samples as night jobs (run them with "
        "`pantheon night`, collect them with `pantheon traces mine`)")] = False,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", help=f"runs at once (best-of-k, default "
        f"{BEST_OF_K_CONCURRENCY}) or tasks at once (search, default {SEARCH_CONCURRENCY})")]
    = None,
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
    """Green examples for an agent from a suite's train split: best-of-k, search, feedback,
    a teacher, demos."""
    from pantheon_engine.run.serving import EngineOptions
    from pantheon_engine.specialize.harvest_service import harvest

    try:
        if mode not in HARVEST_MODES:
            raise ConfigError(f"--mode {mode!r}: expected one of {', '.join(HARVEST_MODES)}")
        if samples < 1:
            raise ConfigError(f"--samples must be at least 1, got {samples}")
        if temperature <= 0 and mode in ("best-of-k", "search", "feedback"):
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
        if not 0 <= feedback_rounds <= 5:
            raise ConfigError(f"--feedback-rounds must be 0 to 5, got {feedback_rounds}")
        result = asyncio.run(harvest(
            agent, suite=suite, split=split, mode=mode, samples=samples,
            temperature=temperature, demos=demos, rounds=rounds,
            keep_unfinished=keep_unfinished, queue=queue, concurrency=concurrency, seed=seed,
            policy_mode="night" if night else "day",
            engine=EngineOptions(name=engine, model=model, base_url=base_url, replay=replay,
                                 config=config),
            artifacts=artifacts, console=err_console, show_progress=not as_json,
            feedback_rounds=feedback_rounds, teacher=teacher,
            teacher_base_url=teacher_base_url, max_no_work_share=max_no_work_share))
    except PantheonError as exc:
        fail(exc)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    name = AgentRef.name_of(result.agent)
    if queue:
        say(f"harvest {result.harvest_id}: queued {result.outcomes.get('queued', 0)} job(s) "
            f"({result.tasks} train task(s) × {samples} samples at T={temperature})")
        say(f"run them:    pantheon night --artifacts {artifacts}")
        say(f"then mine:   pantheon traces mine {name} --suite {suite} --artifacts "
            f"{artifacts} --out data/{name}.jsonl")
        return
    say(result.render())
    say(f"examples: {result.out}")
    say(f"merge with: pantheon traces mine {name} --out data/{name}.jsonl --include "
        f"{result.out}")
